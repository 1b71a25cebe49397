"""Exceptions raised for bad input (infeasible configurations are data, never exceptions)."""


class DsxInputError(ValueError):
    """Bad user input: names the input, what was expected and what to do."""


class MissingVariableError(DsxInputError, KeyError):
    """A solver needs a variable that nothing upstream produced (usually a missing ``model`` or
    ``hardware`` in the space): a user error, so a :class:`DsxInputError` too."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
