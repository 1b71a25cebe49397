"""One package-owned unit registry and the boundary conversion.

Information (bit, byte), compute (flop), currency (USD), tokens, parameters and carbon
(gCO2e) are *dimensions* here, so ``1 GB + 1 flop`` raises instead of silently adding.
Inside solvers every value is a float64 magnitude in the canonical unit of its dimension
(:data:`CANONICAL`); units live only at the boundary (:func:`magnitude`) and in
``attrs["units"]`` of result variables.

>>> magnitude("400 Gbit/s", "B/s", name="bandwidth")
50000000000.0
>>> magnitude(3, "s", name="delay")          # bare numbers are taken in the canonical unit
3.0
>>> (ureg("1 GB") + ureg("1 flop"))
Traceback (most recent call last):
...
pint.errors.DimensionalityError: ...
"""

from __future__ import annotations

import numbers
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pint

from .errors import DsxInputError, close_matches, suggestion_suffix

__all__ = ["ureg", "Quantity", "CANONICAL", "magnitude", "canonical_unit", "parse", "normalize", "suggest"]

# Spellings people write that pint's grammar cannot read, rewritten before parsing:
# "t CO2e" / "kg CO2eq" (a mass prefix, a space, CO2e), "GPU-hours", and "$" / "k$" / "M$".
_CARBON = re.compile(r"(?<![A-Za-z0-9_])(g|kg|t|kt|Mt|Gt)\s*CO2(?:e|eq|-eq|_eq)\b")
_GPU_HOURS = re.compile(r"(?<![A-Za-z0-9_])(?:GPU|gpu)[- ](?:hours?|hrs?|h)\b")
_DOLLAR = re.compile(r"(?<![A-Za-z0-9_])([kMGB]?)\$")


def normalize(text: str) -> str:
    """Rewrite the unit spellings people write into ones the dsx registry defines.

    >>> normalize("3 t CO2e"), normalize("2 GPU-hours"), normalize("5 M$"), normalize("$/h")
    ('3 tCO2e', '2 gpu_hour', '5 MUSD', 'USD/h')
    """
    text = _CARBON.sub(lambda m: f"{m.group(1)}CO2e", text)
    text = _GPU_HOURS.sub("gpu_hour", text)
    return _DOLLAR.sub(lambda m: f"{m.group(1).replace('B', 'G')}USD", text)


def _build_registry() -> pint.UnitRegistry:
    # pint's stock definitions make ``bit`` dimensionless; dsx needs information to be a real
    # dimension, so the stock file is loaded with that one line changed (prefixes kB, KiB, ...
    # and byte = 8 bit come along unchanged).
    stock = resources.files("pint")
    text = (stock / "default_en.txt").read_text()
    if "\nbit = []\n" not in text:  # pragma: no cover - guards a pint upgrade
        raise RuntimeError("dsx.units: pint's default_en.txt no longer defines 'bit = []'")
    text = text.replace("\nbit = []\n", "\nbit = [information]\n")
    with tempfile.TemporaryDirectory() as tmp:
        for fname in ("constants_en.txt",):
            (Path(tmp) / fname).write_text((stock / fname).read_text())
        (Path(tmp) / "default_en.txt").write_text(text)
        reg = pint.UnitRegistry(
            str(Path(tmp) / "default_en.txt"),
            autoconvert_offset_to_baseunit=True,
            on_redefinition="ignore",
        )
    reg.define("flop = [compute] = FLOP = flops_unit_")  # one add or one multiply
    reg.define("FLOPs = flop")
    reg.define("USD = [currency] = dollar_us = usd")
    reg.define("token = [tokens] = tok")
    reg.define("param = [parameters] = parameter")
    reg.define("gram_CO2e = [carbon] = gCO2e = g_CO2e")
    reg.define("kgCO2e = 1000 * gCO2e = kg_CO2e")
    reg.define("tCO2e = 1e6 * gCO2e = t_CO2e")
    reg.define("request = [requests] = req")
    reg.define("sequence = [sequences] = seq")
    reg.define("image = [images] = img")
    reg.define("gpu_hour = hour = GPU_hour = gpu_hours = GPUh")  # a time; the GPU count is a separate factor
    reg.define("ktCO2e = 1e9 * gCO2e")
    reg.define("MtCO2e = 1e12 * gCO2e")
    reg.define("GtCO2e = 1e15 * gCO2e")
    reg.define("Gbps = gigabit / second")
    reg.define("Tbps = terabit / second")
    reg.define("GBps = gigabyte / second")
    reg.formatter.default_format = "~P"
    reg.preprocessors.append(normalize)
    return reg


def _fmax_fmin() -> None:
    # pint implements np.maximum/np.minimum on quantities but not their NaN-ignoring twins, which
    # the kernels use; both take consistent units and return the inputs' unit, as maximum does
    from pint.facets.numpy.numpy_func import HANDLED_UFUNCS, implement_func

    for name in ("fmax", "fmin"):
        if name not in HANDLED_UFUNCS:
            implement_func("ufunc", name, input_units="all_consistent", output_unit="match_input")


_fmax_fmin()
ureg: pint.UnitRegistry = _build_registry()
Quantity = ureg.Quantity
pint.set_application_registry(ureg)

#: Canonical unit of each dimension used inside kernels (float64 magnitudes).
CANONICAL: dict[str, str] = {
    "time": "s",
    "information": "B",
    "bandwidth": "B/s",
    "compute": "flop",
    "compute_rate": "flop/s",
    "intensity": "flop/B",
    "energy": "J",
    "power": "W",
    "currency": "USD",
    "price_per_energy": "USD/kWh",
    "price_per_time": "USD/h",
    "carbon": "gCO2e",
    "carbon_intensity": "gCO2e/kWh",
    "volume": "L",
    "water_intensity": "L/kWh",
    "tokens": "token",
    "token_rate": "token/s",
    "parameters": "param",
    "rate": "1/s",
    "dimensionless": "",
}


def canonical_unit(unit: str) -> str:
    """Return the canonical unit string with the same dimensionality as ``unit``.

    >>> canonical_unit("TB/s")
    'B/s'
    """
    dim = ureg.Quantity(1, unit).dimensionality
    for canon in CANONICAL.values():
        if ureg.Quantity(1, canon or "dimensionless").dimensionality == dim:
            return canon
    raise DsxInputError(f"unit {unit!r} has no canonical counterpart in dsx.units.CANONICAL")


def parse(value: Any) -> pint.Quantity:
    """Parse a string such as ``"400 Gbit/s"`` into a quantity of the dsx registry."""
    if isinstance(value, pint.Quantity):
        return value if value._REGISTRY is ureg else ureg.Quantity(value.magnitude, str(value.units))
    return ureg.Quantity(value)


#: Spellings offered when a unit is unknown (besides every name the registry defines).
_COMMON = ("s ms us ns min hour day week year B kB MB GB TB PB KiB MiB GiB TiB bit Gbit Tbit B/s GB/s "
           "TB/s GiB/s Gbit/s flop GFLOP TFLOP PFLOP EFLOP flop/s TFLOP/s PFLOP/s W kW MW GW J kWh MWh GWh "
           "USD kUSD MUSD GUSD USD/h USD/kWh gCO2e kgCO2e tCO2e ktCO2e MtCO2e gCO2e/kWh L kL ML "
           "token ktok Mtok Gtok tok/s param gpu_hour").split()


def suggest(unit: str, n: int = 3) -> list[str]:
    """Known unit spellings closest to an unknown ``unit`` (for error messages).

    >>> suggest("tCO2")[0]
    'tCO2e'
    """
    return close_matches(unit, [*_COMMON, *ureg._units], n, fold_case=True)


def _unknown_unit_hint(exc: Exception) -> str:
    names = getattr(exc, "unit_names", None) or ()
    names = [names] if isinstance(names, str) else list(names)
    hints = [f"{u!r} is not a unit dsx knows{suggestion_suffix(suggest(u))}" for u in names]
    return ("; " + "; ".join(hints)) if hints else ""


def _dimension_words(unit: str) -> str:
    return str(ureg.Quantity(1, unit or "dimensionless").dimensionality) or "dimensionless"


#: A familiar unit of each dimension, suggested when a conversion asks for the wrong one.
_EXAMPLE = {"s": "day", "B": "GB", "B/s": "GB/s", "flop": "PFLOP", "flop/s": "TFLOP/s", "J": "MWh", "W": "kW",
            "USD": "kUSD", "gCO2e": "tCO2e", "L": "kL", "token": "Mtoken", "token/s": "ktoken/s",
            "param": "Gparam"}


def _kind(unit: str) -> str | None:
    """The name of ``unit``'s dimension in :data:`CANONICAL` (``"time"``, ``"information"``), or None."""
    dim = ureg.Quantity(1, unit or "dimensionless").dimensionality
    for kind, canonical in CANONICAL.items():
        if ureg.Quantity(1, canonical or "dimensionless").dimensionality == dim:
            return kind
    return None


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def wrong_dimension(name: str, src: str, unit: str) -> str:
    """One line saying that ``name`` (stored in ``src``) cannot be shown in ``unit`` and what to pick instead.

    >>> wrong_dimension("time_to_train", "s", "GB")
    "time_to_train is in seconds (a time); 'GB' is information; pick a time unit such as 'day'"
    """
    have, want = _kind(src), _kind(unit)

    def words(kind: str | None, u: str) -> str:
        if kind is None:
            return f"of dimension {_dimension_words(u)}"
        return {"information": "information", "dimensionless": "a pure number"}.get(kind, _a(kind.replace("_", " ")))

    if have == "dimensionless":
        return f"{name} is a pure number; {unit!r} is {words(want, unit)}; pick '' (or '%')"
    long = f"{ureg.Unit(src):D}"
    shown = f"{long}s" if long.isalpha() and long.islower() and long != src else repr(src)
    canonical = CANONICAL.get(have or "", src)
    example = _EXAMPLE.get(canonical, canonical)
    pick = f"pick {_a(have.replace('_', ' '))} unit such as {example!r}" if have else f"pick a unit like {src!r}"
    return f"{name} is in {shown} ({words(have, src)}); {unit!r} is {words(want, unit)}; {pick}"


def magnitude(value: Any, unit: str, *, name: str = "value") -> float | np.ndarray:
    """Convert a user value to a float magnitude (or array) in ``unit``.

    Accepts a pint quantity (any registry), a string with units (``"80 GiB"``), a bare
    number (taken to be in ``unit`` already), or a list/array of these.

    Parameters
    ----------
    value : Quantity | str | float | sequence
        The user's value.
    unit : str
        Target (canonical) unit, e.g. ``"B/s"``; ``""`` for dimensionless.
    name : str
        Input name, used in the error message.

    Raises
    ------
    DsxInputError
        If the value cannot be parsed or has the wrong dimension.
    """
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype == object):
        return np.array([magnitude(v, unit, name=name) for v in value], dtype=float)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.number):
        return value.astype(float)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    target = unit or "dimensionless"
    try:
        ureg.parse_units(target)
    except pint.errors.UndefinedUnitError as exc:
        raise DsxInputError(f"{name}: cannot convert to {unit!r}{_unknown_unit_hint(exc)}") from None
    try:
        q = parse(value)
    except Exception as exc:  # pint raises many types for garbage strings
        raise DsxInputError(
            f"{name}: cannot read {value!r} as a quantity; expected a number in {target!r} "
            f"or a string with units such as '1 {target}'{_unknown_unit_hint(exc)}"
        ) from exc
    if not isinstance(q, pint.Quantity):  # a plain number in a string, e.g. "3"
        return float(q)
    try:
        out = np.asarray(q.to(target).magnitude, dtype=float)
        return float(out) if out.ndim == 0 else out
    except pint.DimensionalityError:
        raise DsxInputError(
            f"{name}: {value!r} has dimension {q.dimensionality}, expected {_dimension_words(target)} "
            f"(e.g. a value in {target!r}); pass a quantity in compatible units or a bare number in {target!r}"
        ) from None
