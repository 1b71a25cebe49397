"""Tokenizer and parser of the :mod:`dsx.expr` language: source text to a syntax tree of
:class:`Node`, with the length, nesting and chaining limits, and :func:`names`.

Split from :mod:`dsx.expr` (which evaluates the tree); nothing here touches a Dataset.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*   # chains like 0.3 < mfu < 0.6
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | power
    power      := atom ("**" unary)?
    atom       := NUMBER [UNIT] | NAME | STRING | "true" | "false" | "(" expr ")"
    UNIT       := unit-name (("*" | "/") unit-name)* ["**" INTEGER]   e.g. 30 day, 400 Gbit/s, 40 %

A number directly followed by a unit name is a quantity (``30 day``, ``1e6 USD``); after
``/`` or ``*`` a name continues the unit only if it is a unit and not a variable, so
``1e6 USD / tokens_total`` divides by the variable. A bare number next to a quantity in
``+ - < ==`` ... is taken in that quantity's unit (the dsx convention for bare numbers).
Strings compare with ``==``/``!=`` only; catalog labels accept aliases
(``hardware == "H100"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pint

from .errors import DsxInputError, suggestion_suffix
from .units import normalize, suggest, ureg

_KEYWORDS = {"and", "or", "not", "true", "false"}
_FORBIDDEN = {"lambda", "import", "def", "class", "for", "while", "if", "else", "in", "is",
              "exec", "eval", "yield", "return", "del", "global", "with", "from", "as"}
_COMPARE = ("<=", ">=", "==", "!=", "<", ">")
#: Longest expression accepted (characters): constraints and derived quantities are one line.
MAX_LENGTH = 2000
#: Deepest nesting accepted (parentheses, unary signs, ``not``, ``**``), far below Python's stack limit.
MAX_DEPTH = 50
#: Most operations one expression may chain (``a + b + ...``): each is a level of the evaluation.
MAX_OPERATIONS = 200
_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/<>()%])"
)
_BLOCKED = {"[": "subscripts are not supported", "]": "subscripts are not supported",
            ".": "attribute access is not supported", ",": "argument lists are not supported",
            "=": "assignment is not supported (use '==' to compare)", "{": "'{' is not supported",
            "}": "'}' is not supported", "&": "use 'and'", "|": "use 'or'", "!": "use 'not'",
            "@": "'@' is not supported", ":": "':' is not supported", ";": "';' is not supported",
            "^": "use '**' for powers", "~": "use 'not'", "`": "'`' is not supported"}


@dataclass(frozen=True)
class Token:
    kind: str  # num | name | str | op | end
    text: str
    pos: int


@dataclass(frozen=True)
class Node:
    op: str  # num, qty, name, str, bool, neg, not, and, or, cmp, +, -, *, /, **
    args: tuple
    pos: int
    text: str  # source text of this node (for messages)


def _fail(source: str, pos: int, msg: str) -> DsxInputError:
    where = "end of input" if pos >= len(source) else f"position {pos}"
    return DsxInputError(f"expression {source!r}: {msg} at {where}")


def _tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            ch = source[pos]
            if ch in ("'", '"'):
                raise _fail(source, pos, "unterminated string")
            hint = _BLOCKED.get(ch, f"unexpected character {ch!r}")
            raise _fail(source, pos, hint)
        kind = m.lastgroup
        if kind == "num" and m.end() < len(source) and source[m.end()] == "." :
            raise _fail(source, m.end(), "attribute access is not supported")
        if kind == "name" and m.group() in _FORBIDDEN:
            raise _fail(source, pos, f"{m.group()!r} is not supported")
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


def _is_unit(name: str) -> bool:
    if name in _KEYWORDS or name.startswith("_"):
        return False
    try:
        ureg.parse_units(name)
    except pint.errors.PintError:
        return False
    return True


def _known_variables() -> set[str]:
    """Names that are variables (never units), from the solver registry."""
    from .solvers import base
    from .space import KEYS

    return set(base.INPUTS) | set(base.OUTPUTS) | set(KEYS)


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.toks = _tokenize(source)
        self.i = 0
        self.depth = 0

    def _nested(self, parse: Any) -> Node:
        """Parse one level deeper, refusing nesting beyond :data:`MAX_DEPTH`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(self.src, self.tok.pos, f"nested more than {MAX_DEPTH} levels deep; simplify it")
        try:
            return parse()
        finally:
            self.depth -= 1

    # -- helpers --------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def _peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def _take(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def _node(self, op: str, args: tuple, start: int) -> Node:
        end = self.toks[self.i - 1]
        return Node(op, args, start, self.src[start:end.pos + len(end.text)].strip())

    def _expect_end(self) -> None:
        t = self.tok
        if t.kind != "end":
            if t.text == "(":
                raise _fail(self.src, t.pos, "function calls are not supported")
            raise _fail(self.src, t.pos, f"unexpected {t.text!r}; expected an operator or the end")

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise _fail(self.src, 0, "empty expression; expected a number, name, string or '('")
        node = self._or()
        self._expect_end()
        return node

    def _binary(self, ops: tuple, operand: Any, kind: str = "op") -> Node:
        """Left-associative level: ``operand (op operand)*``."""
        start = self.tok.pos
        node = operand()
        while self.tok.kind == kind and self.tok.text in ops:
            op = self._take().text
            node = self._node(op, (node, operand()), start)
        return node

    def _or(self) -> Node:
        return self._binary(("or",), self._and, "name")

    def _and(self) -> Node:
        return self._binary(("and",), self._not, "name")

    def _not(self) -> Node:
        start = self.tok.pos
        if self.tok.kind == "name" and self.tok.text == "not":
            self._take()
            return self._node("not", (self._nested(self._not),), start)
        return self._comparison()

    def _comparison(self) -> Node:
        """``a < b <= c`` means ``a < b and b <= c`` (as in Python)."""
        start = self.tok.pos
        node, left = None, self._sum()
        while self.tok.kind == "op" and self.tok.text in _COMPARE:
            op = self._take().text
            right = self._sum()
            cmp = self._node("cmp", (op, left, right), start)
            node, left = (cmp if node is None else self._node("and", (node, cmp), start)), right
        return left if node is None else node

    def _sum(self) -> Node:
        return self._binary(("+", "-"), self._product)

    def _product(self) -> Node:
        return self._binary(("*", "/"), self._unary)

    def _unary(self) -> Node:
        start = self.tok.pos
        if self.tok.kind == "op" and self.tok.text in ("-", "+"):
            op = self._take().text
            inner = self._nested(self._unary)
            return inner if op == "+" else self._node("neg", (inner,), start)
        return self._power()

    def _power(self) -> Node:
        start = self.tok.pos
        base = self._atom()
        if self.tok.kind == "op" and self.tok.text == "**":
            self._take()
            return self._node("**", (base, self._nested(self._unary)), start)
        return base

    def _atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            return self._number()
        if t.kind == "str":
            self._take()
            return self._node("str", (t.text[1:-1],), t.pos)
        if t.kind == "name":
            return self._name()
        if self._at_op("("):
            return self._group()
        if t.kind == "end":
            raise _fail(self.src, t.pos, "expected a number, name, string or '('")
        raise _fail(self.src, t.pos, f"unexpected {t.text!r}; expected a number, name, string or '('")

    def _at_op(self, *texts: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def _number(self) -> Node:
        """A number, with its unit when one follows (``30 day``)."""
        t = self._take()
        value = float(t.text)
        if not np.isfinite(value):
            raise _fail(self.src, t.pos, f"number {t.text} is too large (beyond 1.8e308)")
        unit = self._unit()
        if unit is not None:
            return self._node("qty", (value, unit), t.pos)
        return self._node("num", (value,), t.pos)

    def _name(self) -> Node:
        """``true``/``false`` or a variable name (never a keyword, a Python word, ``_private`` or a call)."""
        t = self.tok
        if t.text in ("true", "false"):
            self._take()
            return self._node("bool", (t.text == "true",), t.pos)
        if t.text in _KEYWORDS:
            raise _fail(self.src, t.pos, f"unexpected keyword {t.text!r}; expected a number, name, string or '('")
        if t.text in _FORBIDDEN:
            raise _fail(self.src, t.pos, f"{t.text!r} is not supported")
        if t.text.startswith("_"):
            raise _fail(self.src, t.pos, f"names starting with '_' are not allowed ({t.text!r})")
        self._take()
        if self._at_op("("):
            raise _fail(self.src, self.tok.pos, f"function calls are not supported ({t.text}(...))")
        return self._node("name", (t.text,), t.pos)

    def _group(self) -> Node:
        """``( expression )``."""
        start = self._take().pos
        if self.tok.kind == "end":
            raise _fail(self.src, self.tok.pos, "expected an expression after '('")
        inner = self._nested(self._or)
        if not self._at_op(")"):
            raise _fail(self.src, self.tok.pos, f"expected ')' to close '(' at position {start}")
        self._take()
        return inner

    def _unit(self) -> str | None:
        """Unit after a number: ``day``, ``Gbit/s``, ``m**2``, ``%``."""
        t = self.tok
        if self._at_op("%"):
            self._take()
            return "percent"
        if t.kind != "name" or not _is_unit(t.text):
            if t.kind == "name" and t.text not in _KEYWORDS:
                raise _fail(self.src, t.pos, f"{t.text!r} after a number is not a known unit"
                                             f"{suggestion_suffix(suggest(t.text))}")
            return None
        parts = [self._take().text, *self._unit_factors(), *self._unit_power()]
        return "".join(parts)

    def _unit_factors(self) -> list[str]:
        """``*unit`` / ``/unit`` continuing a unit, while the name is a unit and no variable."""
        parts: list[str] = []
        variables = _known_variables()
        while (self._at_op("*", "/") and self._peek().kind == "name"
               and _is_unit(self._peek().text) and self._peek().text not in variables):
            parts.append(self._take().text)
            parts.append(self._take().text)
        return parts

    def _unit_power(self) -> list[str]:
        """``**2`` ending a unit (a whole-number power)."""
        if self._at_op("**") and self._peek().kind == "num" and re.fullmatch(r"\d+", self._peek().text):
            return [self._take().text, self._take().text]
        return []

def parse(source: str) -> Node:
    """Parse ``source`` into a syntax tree, or raise :class:`DsxInputError` saying where and why."""
    if not isinstance(source, str):
        raise DsxInputError(f"expression must be a string, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise DsxInputError(f"expression {source[:40]!r}...: {len(source):,} characters, more than the "
                            f"{MAX_LENGTH:,} allowed; split it into [derived] variables")
    tree = _Parser(normalize(source)).parse()  # "t CO2e", "GPU-hours", "$" (dsx.units)
    depth = _tree_depth(tree)
    if depth > MAX_OPERATIONS:
        raise DsxInputError(f"expression {source[:40]!r}...: {depth} chained operations, more than the "
                            f"{MAX_OPERATIONS} allowed; split it into [derived] variables")
    return tree


def _tree_depth(node: Node) -> int:
    """Levels of the syntax tree, counted without recursion (the tree may be deep)."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        n, d = todo.pop()
        deepest = max(deepest, d)
        todo += [(a, d + 1) for a in n.args if isinstance(a, Node)]
    return deepest


def names(source: str | Node) -> set[str]:
    """The variable names an expression reads.

    >>> sorted(names("tco / tokens_total < 2 USD and feasible"))
    ['feasible', 'tco', 'tokens_total']
    """
    node = parse(source) if isinstance(source, str) else source
    if node.op == "name":
        return {node.args[0]}
    out: set[str] = set()
    for a in node.args:
        if isinstance(a, Node):
            out |= names(a)
    return out
