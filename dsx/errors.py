"""Exceptions raised for bad input (infeasible configurations are data, never exceptions), and the one
"did you mean" every unknown-name error offers."""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping


class DsxInputError(ValueError):
    """Bad user input: names the input, what was expected and what to do."""


class MissingVariableError(DsxInputError, KeyError):
    """A solver needs a variable that nothing upstream produced (usually a missing ``model`` or
    ``hardware`` in the space): a user error, so a :class:`DsxInputError` too."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def no_direction(function: str, objective: Any, call: str | None = None) -> DsxInputError:
    """The error for an objective passed without saying which way is better (a bare name would
    otherwise be taken as the first keyword, ``minimize``, and a throughput silently minimised).

    >>> print(no_direction("best", "mfu"))
    best: objective 'mfu' given without a direction; say best(ds, maximize='mfu') or best(ds, minimize='mfu')
    """
    call = call or f"{function}(ds, "  # how the user calls it, up to the keyword
    if not isinstance(objective, str):
        return DsxInputError(f"{function}: objectives {objective!r} given without directions; say which way each "
                             f"goes: {call}minimize=[...], maximize=[...])")
    return DsxInputError(f"{function}: objective {objective!r} given without a direction; say "
                         f"{call}maximize={objective!r}) or {call}minimize={objective!r})")


def close_matches(name: str, known: Iterable[str], n: int = 3, cutoff: float = 0.6, *,
                  fold_case: bool = False, canonical: Mapping[str, str] | None = None) -> list[str]:
    """Up to ``n`` entries of ``known`` closest to ``name`` (difflib ratio >= ``cutoff``), best first.

    ``fold_case`` adds the matches found ignoring case after the exact-case ones; ``canonical`` maps
    each match to the name to offer (several aliases may name one id, so twice ``n`` are looked at).

    >>> close_matches("mfuu", ["mfu", "tco", "gpus"])
    ['mfu']
    """
    known = list(dict.fromkeys(map(str, known)))
    pool = 2 * n if canonical is not None else n
    found = difflib.get_close_matches(name, known, n=pool, cutoff=cutoff)
    if fold_case:
        folded = {k.lower(): k for k in known}
        found += [folded[c] for c in difflib.get_close_matches(name.lower(), list(folded), n=pool, cutoff=cutoff)]
    if canonical is not None:
        found = [canonical[c] for c in found]
    return list(dict.fromkeys(found))[:n]


def did_you_mean(name: str, known: Iterable[str], n: int = 3, **kw: Any) -> str:
    """The ``"; did you mean 'a', 'b'?"`` suffix of an error message ("" when nothing is close);
    keyword arguments as for :func:`close_matches`.

    >>> did_you_mean("worklaod", ["workload", "outputs"])
    "; did you mean 'workload'?"
    """
    return suggestion_suffix(close_matches(name, known, n, **kw))


def suggestion_suffix(suggestions: Iterable[str]) -> str:
    """``"; did you mean 'a', 'b'?"`` for ready-made suggestions ("" when there are none)."""
    suggestions = list(suggestions)
    return f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
