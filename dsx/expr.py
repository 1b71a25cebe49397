"""A small, safe expression language for constraints and derived quantities.

Expressions are tokenized and parsed here (a recursive-descent parser); nothing is ever
handed to Python's ``eval``/``exec``. They are evaluated against a result Dataset, whose
variables are magnitudes in ``attrs["units"]``:

>>> import xarray as xr
>>> ds = xr.Dataset({"time_to_train": ("gpus", [20 * 86400.0, 40 * 86400.0], {"units": "s"}),
...                  "tco": ((), 2.5e6, {"units": "USD"})}, coords={"gpus": [1024, 512]})
>>> evaluate("time_to_train < 30 day", ds).values.tolist()
[True, False]
>>> float(evaluate("tco / 1e6", ds)), evaluate("tco / 1e6", ds).attrs["units"]
(2.5, 'USD')

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

import difflib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pint
import xarray as xr

from .errors import DsxInputError
from .units import canonical_unit, normalize, suggest, ureg

__all__ = ["Expression", "parse", "evaluate", "mask", "names", "where"]

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
        start = t.pos
        if t.kind == "num":
            self._take()
            value = float(t.text)
            if not np.isfinite(value):
                raise _fail(self.src, t.pos, f"number {t.text} is too large (beyond 1.8e308)")
            unit = self._unit()
            if unit is not None:
                return self._node("qty", (value, unit), start)
            return self._node("num", (value,), start)
        if t.kind == "str":
            self._take()
            return self._node("str", (t.text[1:-1],), start)
        if t.kind == "name":
            if t.text in ("true", "false"):
                self._take()
                return self._node("bool", (t.text == "true",), start)
            if t.text in _KEYWORDS:
                raise _fail(self.src, t.pos, f"unexpected keyword {t.text!r}; expected a number, name, string or '('")
            if t.text in _FORBIDDEN:
                raise _fail(self.src, t.pos, f"{t.text!r} is not supported")
            if t.text.startswith("_"):
                raise _fail(self.src, t.pos, f"names starting with '_' are not allowed ({t.text!r})")
            self._take()
            if self.tok.kind == "op" and self.tok.text == "(":
                raise _fail(self.src, self.tok.pos, f"function calls are not supported ({t.text}(...))")
            return self._node("name", (t.text,), start)
        if t.kind == "op" and t.text == "(":
            self._take()
            if self.tok.kind == "end":
                raise _fail(self.src, self.tok.pos, "expected an expression after '('")
            inner = self._nested(self._or)
            if not (self.tok.kind == "op" and self.tok.text == ")"):
                raise _fail(self.src, self.tok.pos, f"expected ')' to close '(' at position {start}")
            self._take()
            return inner
        if t.kind == "end":
            raise _fail(self.src, t.pos, "expected a number, name, string or '('")
        raise _fail(self.src, t.pos, f"unexpected {t.text!r}; expected a number, name, string or '('")

    def _unit(self) -> str | None:
        """Unit after a number: ``day``, ``Gbit/s``, ``m**2``, ``%``."""
        t = self.tok
        if t.kind == "op" and t.text == "%":
            self._take()
            return "percent"
        if t.kind != "name" or not _is_unit(t.text):
            if t.kind == "name" and t.text not in _KEYWORDS:
                close = suggest(t.text)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise _fail(self.src, t.pos, f"{t.text!r} after a number is not a known unit{hint}")
            return None
        parts = [self._take().text]
        variables = _known_variables()
        while (self.tok.kind == "op" and self.tok.text in ("*", "/") and self._peek().kind == "name"
               and _is_unit(self._peek().text) and self._peek().text not in variables):
            parts.append(self._take().text)
            parts.append(self._take().text)
        if (self.tok.kind == "op" and self.tok.text == "**" and self._peek().kind == "num"
                and re.fullmatch(r"\d+", self._peek().text)):
            parts.append(self._take().text)
            parts.append(self._take().text)
        return "".join(parts)


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


# -- evaluation ----------------------------------------------------------------------------
@dataclass
class _Val:
    data: Any          # float, bool, str, ndarray or DataArray (magnitudes)
    unit: Any          # pint Unit for numbers, "bool" or "str"
    literal: bool      # a bare number literal (adopts the other operand's unit)
    text: str
    label: str | None = None  # catalog kind when the value is a catalog label


def _unit_of(da: xr.DataArray) -> Any:
    if da.dtype == bool:
        return "bool"
    if da.dtype.kind in "OUS":
        return "str"
    units = da.attrs.get("units", "")
    try:
        return ureg.Unit(units or "dimensionless")
    except (pint.errors.PintError, AssertionError, ValueError):
        raise DsxInputError(f"variable {da.name!r} has units {units!r} that dsx.units cannot read") from None


_SHORT = {"byte": "B", "second": "s", "gram_CO2e": "gCO2e", "joule": "J", "watt": "W", "liter": "L",
          "kilowatt_hour": "kWh", "hour": "h", "flop": "flop", "token": "token", "parameter": "param"}


def unit_string(unit: Any) -> str:
    """A short, pint-readable spelling of a unit (``""`` for dimensionless)."""
    if unit is None or str(unit) in ("dimensionless", ""):
        return ""
    text = format(unit, "C")
    return re.sub(r"[A-Za-z_]+", lambda m: _SHORT.get(m.group(), m.group()), text)


def _simplify(unit: Any) -> tuple[float, Any]:
    """(factor, unit): a product/quotient of units reduced to dimensionless or a canonical unit."""
    q = ureg.Quantity(1.0, unit)
    if q.dimensionless:
        return float(q.to("dimensionless").magnitude), ureg.dimensionless
    try:
        canon = canonical_unit(unit)
    except DsxInputError:  # no canonical unit of this dimension (e.g. USD/token): keep it
        return 1.0, unit
    return float(q.to(canon).magnitude), ureg.Unit(canon)


class _Evaluator:
    def __init__(self, source: str, ds: xr.Dataset) -> None:
        self.src = source
        self.ds = ds

    def run(self, node: Node) -> _Val:
        return getattr(self, "_" + {"+": "add", "-": "add", "*": "mul", "/": "mul", "**": "pow"}.get(
            node.op, node.op))(node)

    def _err(self, node: Node, msg: str) -> DsxInputError:
        return DsxInputError(f"expression {self.src!r}: {msg} (at position {node.pos})")

    # atoms
    def _num(self, node: Node) -> _Val:
        return _Val(node.args[0], ureg.dimensionless, True, node.text)

    def _qty(self, node: Node) -> _Val:
        value, unit = node.args
        try:
            u = ureg.Unit(unit)
        except (pint.errors.PintError, AssertionError, ValueError):
            raise self._err(node, f"unknown unit {unit!r}") from None
        return _Val(value, u, False, node.text)

    def _str(self, node: Node) -> _Val:
        return _Val(node.args[0], "str", False, node.text)

    def _bool(self, node: Node) -> _Val:
        return _Val(node.args[0], "bool", False, node.text)

    def _name(self, node: Node) -> _Val:
        name = node.args[0]
        if name not in self.ds.variables:
            known = sorted(map(str, self.ds.variables))
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise self._err(node, f"unknown name {name!r}{hint}")
        da = self.ds[name]
        from .space import KEYS
        return _Val(da, _unit_of(da), False, node.text, KEYS[name][0] if name in KEYS else None)

    # operators
    def _neg(self, node: Node) -> _Val:
        v = self.run(node.args[0])
        self._numeric(v, node, "-")
        return _Val(-v.data, v.unit, v.literal, node.text)

    def _numeric(self, v: _Val, node: Node, op: str) -> None:
        if isinstance(v.unit, str):
            raise self._err(node, f"{op!r} needs numbers, but {v.text!r} is a {'boolean' if v.unit == 'bool' else 'string'}")

    def _boolean(self, v: _Val, node: Node, op: str) -> None:
        if v.unit != "bool":
            raise self._err(node, f"{op!r} needs true/false values, but {v.text!r} is not a comparison or boolean")

    def _not(self, node: Node) -> _Val:
        v = self.run(node.args[0])
        self._boolean(v, node, "not")
        return _Val(np.logical_not(v.data), "bool", False, node.text)

    def _and(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args)
        self._boolean(a, node, node.op)
        self._boolean(b, node, node.op)
        out = (np.logical_and if node.op == "and" else np.logical_or)(a.data, b.data)
        return _Val(out, "bool", False, node.text)

    _or = _and

    def _align(self, a: _Val, b: _Val, node: Node, op: str) -> tuple[Any, Any, Any]:
        """Magnitudes of a and b in one unit (a's, or b's when a is a bare number)."""
        self._numeric(a, node, op)
        self._numeric(b, node, op)
        if a.literal and not b.literal:
            return a.data, b.data, b.unit
        if b.literal:
            return a.data, b.data, a.unit
        if a.unit == b.unit:
            return a.data, b.data, a.unit
        try:
            factor = ureg.Quantity(1.0, b.unit).to(a.unit).magnitude
        except pint.DimensionalityError:
            raise self._err(node, f"cannot {('compare' if op in _COMPARE else 'add or subtract')} "
                                  f"{a.text!r} [{unit_string(a.unit) or 'dimensionless'}] with {b.text!r} "
                                  f"[{unit_string(b.unit) or 'dimensionless'}]: incompatible dimensions "
                                  f"({a.unit.dimensionality} vs {b.unit.dimensionality})") from None
        return a.data, b.data * factor, a.unit

    def _add(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args[:2])
        x, y, unit = self._align(a, b, node, node.op)
        out = x + y if node.op == "+" else x - y
        return _Val(out, unit, a.literal and b.literal, node.text)

    def _mul(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args)
        self._numeric(a, node, node.op)
        self._numeric(b, node, node.op)
        if node.op == "*":
            data, unit = a.data * b.data, a.unit * b.unit
        else:
            data, unit = a.data / b.data, a.unit / b.unit
        factor, unit = _simplify(unit)
        return _Val(data * factor if factor != 1.0 else data, unit, a.literal and b.literal, node.text)

    def _pow(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args)
        self._numeric(a, node, "**")
        self._numeric(b, node, "**")
        if not b.literal:
            if not b.unit.dimensionless:
                raise self._err(node, f"exponent {b.text!r} must be dimensionless")
            if not a.unit.dimensionless:
                raise self._err(node, f"exponent of {a.text!r} (which has units) must be a number")
            return _Val(a.data ** b.data, a.unit, False, node.text)
        return _Val(a.data ** b.data, a.unit ** b.data, a.literal, node.text)

    def _cmp(self, node: Node) -> _Val:
        op, left, right = node.args
        a, b = self.run(left), self.run(right)
        if "str" in (a.unit, b.unit) or "bool" in (a.unit, b.unit):
            if a.unit != b.unit:
                raise self._err(node, f"cannot compare {a.text!r} with {b.text!r}: "
                                      f"{self._kind(a)} vs {self._kind(b)}")
            if op not in ("==", "!="):
                raise self._err(node, f"{self._kind(a)}s compare only with '==' or '!='")
            x, y = self._labels(a, b)
            out = (x == y) if op == "==" else (x != y)
            return _Val(out, "bool", False, node.text)
        x, y, _ = self._align(a, b, node, op)
        out = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
               "==": np.equal, "!=": np.not_equal}[op](x, y)
        return _Val(out, "bool", False, node.text)

    @staticmethod
    def _kind(v: _Val) -> str:
        return {"str": "string", "bool": "boolean"}.get(v.unit, "number") if isinstance(v.unit, str) else "number"

    @staticmethod
    def _labels(a: _Val, b: _Val) -> tuple[Any, Any]:
        """Resolve catalog aliases in a string literal compared with a catalog label."""
        from . import catalog
        if a.label and isinstance(b.data, str):
            return a.data, catalog.resolve(a.label, b.data)
        if b.label and isinstance(a.data, str):
            return catalog.resolve(b.label, a.data), b.data
        return a.data, b.data


class Expression:
    """A parsed expression; call it with a Dataset to evaluate.

    >>> e = Expression("2 * x + 1")
    >>> float(e(xr.Dataset({"x": ((), 3.0)})))
    7.0
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.tree = parse(source)

    @property
    def names(self) -> set[str]:
        return names(self.tree)

    def __call__(self, ds: xr.Dataset) -> xr.DataArray:
        if not isinstance(ds, xr.Dataset):
            raise DsxInputError(f"expression {self.source!r}: evaluated against {type(ds).__name__}; "
                                "expected a result Dataset (dsx.training(...) or dsx.serving(...))")
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                v = _Evaluator(self.source, ds).run(self.tree)
        except (OverflowError, ZeroDivisionError) as exc:
            raise DsxInputError(f"expression {self.source!r}: {exc} in a constant part; "
                                "use numbers within range") from None
        da = v.data if isinstance(v.data, xr.DataArray) else xr.DataArray(v.data)
        da = da.copy(deep=False)
        units = "" if v.unit in ("bool", "str") else unit_string(v.unit)
        da.attrs = {"units": units, "long_name": self.source}
        return da.rename(None)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def evaluate(source: str | Expression, ds: xr.Dataset) -> xr.DataArray:
    """Evaluate an expression against ``ds``; the result carries ``attrs["units"]``."""
    expr = source if isinstance(source, Expression) else Expression(source)
    return expr(ds)


def mask(constraints: list[str] | str | None, ds: xr.Dataset) -> xr.DataArray | None:
    """All ``constraints`` combined with ``and`` (``None`` when there are none).

    >>> ds = xr.Dataset({"x": ("i", [1.0, 2.0, 3.0])})
    >>> mask(["x > 1", "x < 3"], ds).values.tolist()
    [False, True, False]
    """
    if constraints is None:
        return None
    if isinstance(constraints, str):
        constraints = [constraints]
    out = None
    for c in constraints:
        m = evaluate(c, ds)
        if m.dtype != bool:
            raise DsxInputError(f"constraint {c!r} is not a condition (it gives a number); "
                                "compare it, e.g. 'mfu > 0.4'")
        out = m if out is None else out & m
    return out


def where(ds: xr.Dataset, source: str) -> xr.DataArray:
    """``(ds, expression) -> bool DataArray``: the parser :mod:`dsx.analysis` accepts through
    ``register_where_parser`` (so ``dsx.pareto(ds, ..., where="ttft < 500 ms")`` works).

    >>> where(xr.Dataset({"x": ("i", [1.0, 3.0])}), "x > 2").values.tolist()
    [False, True]
    """
    out = mask([source], ds)
    assert out is not None
    return out
