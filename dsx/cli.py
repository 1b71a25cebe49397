"""The ``dsx`` command: ``audit`` one configuration (or compare a few), ``run`` a sweep file,
print a ``catalog`` or the ``inputs`` table.

    dsx audit                                 # the seed's job: Llama-3.1-70B, 512 H100, Quebec, 30 days
    dsx audit --region quebec,poland          # comparison, one column per configuration
    dsx audit --workload serving --json       # serving audit as JSON
    dsx run sweeps/cluster_sizing.toml -o out/
    dsx catalog hardware
    dsx catalog hardware H100                 # each figure as published, with its own source
    dsx calibrate measurements.csv            # fit calibration factors, write measurements.toml
    dsx inputs bandwidth                      # the inputs whose name or meaning mentions bandwidth

Every Space input is an option (``--global-batch 1024``; ``--global_batch`` works too); any
option takes comma-separated values. Bad input prints one line naming the option and exits
with status 2. Imports are lazy so that ``dsx audit`` answers quickly.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .diagnosis import SERVING_DEFAULTS, TRAINING_DEFAULTS
from .cli_inputs import DOMAINS, Flag, GroupedHelp, domains, inputs_rows
from .cli_inputs import known_inputs as _known

__all__ = ["main", "TRAINING_DEFAULTS", "SERVING_DEFAULTS"]

class _Fail(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (raised, printed by :func:`main`), not usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Fail(f"{message} (`{self.prog} --help` lists the options)")  # prog: "dsx" or "dsx run"


def _count(text: str) -> int:
    """``--limit``/``--chunk-size``: a whole number >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parser(inputs: dict | None) -> argparse.ArgumentParser:
    p = _Parser(prog="dsx", description="Vectorized design-space exploration for ML systems.")
    sub = p.add_subparsers(dest="command", metavar="{audit,run,inputs,catalog,calibrate}", parser_class=_Parser)
    a = sub.add_parser("audit", help="six-domain audit of one configuration (or a comparison of a few)",
                       usage="dsx audit [-h] [--workload {training,serving}] [--json | --html] "
                             "[--INPUT VALUE[,VALUE...] ...]",
                       description="Audit one configuration; comma-separated values make a comparison "
                                   "(one column per configuration). Defaults: the seed's job. "
                                   "`dsx inputs PATTERN` prints the inputs with their full meaning.",
                       formatter_class=GroupedHelp)
    a.add_argument("--workload", choices=("training", "serving"), default="training")
    a.add_argument("--calibration", metavar="FILE", help="calibrated factors from `dsx calibrate` (TOML)")
    a.add_argument("--draws", type=int, default=None, metavar="N",
                   help="draw the uncertain inputs N times; key figures as median and 80%% interval")
    fmt = a.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the result variables as JSON")
    fmt.add_argument("--html", action="store_true", help="print the report as an HTML table")
    domains_of = domains() if inputs else {}
    groups = {d: a.add_argument_group(f"{d} inputs") for d in (*DOMAINS, "other")} if inputs else {}
    a.epilog = ("Inputs take VALUE or V1,V2,... (a comparison); numbers are in the unit shown, or carry "
                "their own: '400 Gbit/s'. Boolean inputs are flags: --x, --no-x, or --x true,false.")
    for name, (doc, spec) in (inputs or {}).items():
        group = groups[domains_of.get(name, "other")]
        if spec is not None and isinstance(spec.default, bool):
            group.add_argument(_option(name), dest="in_" + name, action=Flag, default=None, help=doc)
        else:
            group.add_argument(_option(name), dest="in_" + name, metavar="VALUE", help=doc)
    r = sub.add_parser("run", help="run a sweep file (TOML) and write its results to a directory")
    r.add_argument("sweep", help="the sweep file (see docs/sweeps.md)")
    r.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory (written atomically)")
    r.add_argument("--force", action="store_true", help="replace DIR if it exists")
    r.add_argument("--limit", type=_count, metavar="N", help="keep at most N values per axis (quick runs, tests)")
    r.add_argument("--chunk-size", type=_count, default=None, metavar="N",
                   help="configurations per evaluation chunk (default 2,000,000)")
    r.add_argument("--workers", type=_count, default=None, metavar="N",
                   help="evaluate on a local dask cluster of N worker processes (lazy; writes result.zarr)")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="evaluate on a running dask scheduler, e.g. tcp://10.0.0.5:8786 (shared file system)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    i = sub.add_parser("inputs", help="print the inputs table (name, domain, unit, default, meaning, reference)",
                       description="Every input a Space, a sweep file or `dsx audit` accepts. PATTERN keeps "
                                   "the inputs whose name or meaning contains it (or matches it as a glob: "
                                   "'*_bandwidth').")
    i.add_argument("pattern", nargs="?", metavar="PATTERN", help="substring or glob, case-insensitive")
    i.add_argument("--full", action="store_true", help="the whole meaning and its references, not the first sentence")
    c = sub.add_parser("catalog", help="print a catalog as a table")
    c.add_argument("kind", nargs="?", help="hardware, models, regions, fabrics, precisions or cloud-prices (default: list kinds)")
    c.add_argument("id", nargs="?", metavar="ID", help="one entry: each figure as published, with its own source")
    c.add_argument("--json", action="store_true", help="every column, canonical units, as JSON")
    _calibrate_parser(sub)
    return p


def _calibrate_parser(sub: Any) -> None:
    k = sub.add_parser("calibrate", help="fit calibration factors to your measurements (CSV) and write them as TOML")
    k.add_argument("measurements", help="CSV: dsx inputs and measured outputs by name ('step_time [ms]', ...)")
    k.add_argument("--workload", choices=("training", "serving"), default="training")
    k.add_argument("--factors", metavar="F1,F2", help="calibration factors to fit (default: the stack's set)")
    k.add_argument("-o", "--output", metavar="FILE", help="TOML to write (default: MEASUREMENTS with .toml)")


def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .calibration import calibrate, to_toml

    factors = [f.strip() for f in args.factors.split(",")] if args.factors else None
    fit = calibrate(args.measurements, args.workload, factors)
    out = Path(args.output) if args.output else Path(args.measurements).with_suffix(".toml")
    text = to_toml(fit, Path(args.measurements).name)
    print(text, end="")
    print(fit[["measured", "predicted", "error", "error_default"]].to_pandas().to_string())
    out.write_text(text)
    print(f"wrote {out} (use it with `dsx audit --calibration {out}` or `calibration = \"{out}\"` in a sweep file)")
    return 0


def _normalize(argv: list[str]) -> list[str]:
    """``--global_batch=8`` -> ``--global-batch=8``."""
    out = []
    for a in argv:
        if a.startswith("--"):
            head, sep, tail = a.partition("=")
            a = head.replace("_", "-") + sep + tail
        out.append(a)
    return out


def _value(text: str, spec: Any) -> Any:
    text = text.strip()
    if spec is not None and isinstance(spec.default, bool):
        low = text.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise _Fail(f"expected true or false, got {text!r}")
    if spec is not None and spec.unit is None:
        return text
    try:
        number = float(text)
    except ValueError:
        return text  # a catalog id, or a quantity with units: Space reads it
    return int(number) if number.is_integer() and (spec is None or spec.integer) else number


def _audit_values(args: argparse.Namespace, inputs: dict) -> dict[str, Any]:
    """The audited inputs: the workload's defaults, the calibration file, then the options given."""
    from .diagnosis import DEFAULTS

    from .space import without_overridden

    given: dict[str, Any] = {}
    if args.calibration:
        from .calibration import read_toml

        given.update(read_toml(args.calibration))
    for name, (_, spec) in inputs.items():
        raw = getattr(args, "in_" + name)
        if raw is not None:
            given[name] = _option_value(name, raw, spec)
    # a default fabric whose columns are all given makes way for them (it would change nothing)
    defaults = {k: v for k, v in DEFAULTS[args.workload].items() if k in inputs}
    return {**without_overridden(defaults, given), **given}


def _option_value(name: str, raw: str, spec: Any) -> Any:
    """One option's value (a list for V1,V2,...), checked alone so that an error can name the option."""
    from .errors import DsxInputError
    from .space import Space

    parts = raw.split(",")
    if any(not s.strip() for s in parts):
        raise _Fail(f"{_option(name)} {raw!r}: empty value in the list")
    try:
        vals = [_value(s, spec) for s in parts]
        value = vals if len(vals) > 1 else vals[0]
        Space(**{name: value})
    except (_Fail, DsxInputError) as exc:
        raise _Fail(f"{_option(name)} {raw!r}: {exc}") from None
    return value


def _check_read(args: argparse.Namespace, inputs: dict) -> None:
    """An option the workload's stack never reads would change nothing: refuse it."""
    from .sweep import unread

    given = [n for n in inputs if getattr(args, "in_" + n) is not None]
    for name in unread(args.workload, given)[:1]:
        other = "serving" if args.workload == "training" else "training"
        hint = f" (or pass --workload {other})" if not unread(other, [name]) else ""
        raise _Fail(f"{_option(name)}: the {args.workload} audit does not read it, so it would change nothing; "
                    f"leave it out{hint}")


def _audit(args: argparse.Namespace, inputs: dict) -> int:
    from . import report
    from .diagnosis import audit
    from .errors import DsxInputError
    from .space import Space

    values = _audit_values(args, inputs)
    _check_read(args, inputs)
    space = Space(**values)
    if space.size > report.MAX_CONFIGS:
        raise _Fail(f"{space.size} configurations is too many for an audit (at most {report.MAX_CONFIGS}); "
                    "write a sweep file and use `dsx run`")
    try:
        ds = audit(space, args.workload, draws=args.draws)
    except DsxInputError as exc:
        if args.draws is None:
            raise
        raise _Fail(f"--draws {args.draws}: {exc}") from None
    if args.json:
        print(report.json_text(ds))
    elif args.html:
        print(report.html(ds))
    else:
        print(report.text(ds), end="")
    return 0


def _inputs(args: argparse.Namespace) -> int:
    from .formatting import _grid

    rows = inputs_rows(args.pattern, args.full)
    if not rows:
        raise _Fail(f"nothing matches {args.pattern!r}; run `dsx inputs` for the whole table")
    print(_grid(["name", "domain", "unit", "default", "meaning", "reference"], rows, wrap=90))
    return 0


def _run(args: argparse.Namespace) -> int:
    from . import outdir, sweep

    with outdir.terminate_as_exit():  # SIGTERM/SIGHUP unwind like Ctrl-C: the partial folder is removed
        sweep.run(args.sweep, args.output, limit=args.limit, force=args.force,
                  chunk_size=args.chunk_size, progress=not args.quiet, workers=args.workers,
                  scheduler=args.scheduler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dsx`` console script; returns the exit status."""
    import warnings

    argv = _normalize(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in argv if not a.startswith("-")), None)
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        return _main(argv, command)


def _warning_line(message: Warning | str, category: type, *args: Any, **kwargs: Any) -> None:
    """A warning (e.g. a user catalog row taking over a built-in alias) as one line on stderr."""
    print(f"dsx: warning: {message}", file=sys.stderr)


def _dispatch(argv: list[str], command: str | None) -> int:
    """Parse ``argv`` and run its subcommand (help when there is none); exceptions reach :func:`_main`."""
    inputs = _known() if command == "audit" else None
    parser = _parser(inputs)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "audit":
        return _audit(args, inputs or {})
    if args.command == "catalog":
        from .cli_catalog import catalog_command

        return catalog_command(args.kind, args.json, args.id)
    if args.command == "calibrate":
        return _calibrate(args)
    if args.command == "inputs":
        return _inputs(args)
    return _run(args)


def _main(argv: list[str], command: str | None) -> int:
    """Run one command; bad input, interruption, a closed pipe or a refused write end it with one line
    on stderr and its exit status."""
    from .errors import DsxInputError, MissingVariableError

    try:
        return _dispatch(argv, command)
    except (_Fail, DsxInputError, MissingVariableError) as exc:  # bad input: one line, status 2
        print(f"dsx {command or ''}: error: {exc}".replace("  ", " "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dsx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dsx ... | head`: the reader left; stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # the system refused a read or write (disk full, permissions): say which
        print(f"dsx {command or ''}: error: {exc.strerror or exc}"
              f"{f': {exc.filename!r}' if exc.filename else ''}".replace("  ", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
