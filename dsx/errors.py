"""Exceptions raised for bad input (infeasible configurations are data, never exceptions)."""


class DsxInputError(ValueError):
    """Bad user input: names the input, what was expected and what to do."""


class MissingVariableError(KeyError):
    """A solver needs a variable that nothing upstream produced."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
