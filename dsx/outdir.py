"""Output folders that dsx owns: written aside, marked, swapped in whole, never anyone else's.

``dsx run SWEEP -o DIR`` and ``store=`` write through here, so that

* a folder is replaced (``--force``) only when dsx wrote it — it holds :data:`MANIFEST`, which
  lists every file of the result — and never when it holds anything else (the refusal names
  what would be lost) or the sweep file being run;
* the work happens in ``DIR.partial``, marked with :data:`PARTIAL_MARK` from its first moment,
  so the only state an interrupted (or killed) run can leave is that marked folder, which
  the next run reports and replaces — an unmarked ``DIR.partial`` is somebody else's and is
  refused, never deleted;
* the finished folder replaces the previous one in one step (``renameat2(RENAME_EXCHANGE)``
  on Linux), so ``DIR`` always holds a complete result: the old one or the new one. (Elsewhere
  it is two renames with SIGINT/SIGTERM held; only SIGKILL between them could leave the old
  result in ``DIR.partial.old``.)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Iterator

from .errors import DsxInputError

__all__ = ["MANIFEST", "PARTIAL_MARK", "check_replace", "claim_partial", "staged", "remove_ours",
           "terminate_as_exit"]

#: File in every folder dsx writes: the files of the result, the writer.
MANIFEST = ".dsx-manifest.json"
#: File in a folder dsx is still writing (``DIR.partial``): the writer's process id.
PARTIAL_MARK = ".dsx-partial"
_MARKS = (MANIFEST, PARTIAL_MARK)


def partial_path(out: Path) -> Path:
    """Where ``out`` is written before it is complete: ``out.partial`` beside it."""
    return out.with_name(out.name + ".partial")


def _is_ours(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and any((path / m).is_file() for m in _MARKS)


def _listed(path: Path) -> set[str]:
    try:
        data = json.loads((path / MANIFEST).read_text())
        return {str(f) for f in data.get("files", [])} | {MANIFEST}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def check_replace(out: Path, force: bool, key: str, keep: tuple[Path, ...] = ()) -> None:
    """Refuse, before any work, to write ``out`` where that would lose a file dsx did not write.

    Parameters
    ----------
    out : Path
        The folder to (re)place.
    force : bool
        Replace an existing non-empty folder (only one dsx wrote, holding nothing else).
    key : str
        How the user named ``out`` (``-o``, ``store=``), for the message.
    keep : tuple of Path
        Files that must survive (the sweep file being run).
    """
    _check_target_path(out, key, keep)
    _check_parent_writable(out, key)
    if not out.exists() or not any(out.iterdir()):
        return
    _check_replaceable(out, force, key)


def _check_target_path(out: Path, key: str, keep: tuple[Path, ...]) -> None:
    """``out`` is a directory (or absent), holds no file being run, is not the current directory or
    above it, and its ``.partial`` sibling, if any, is dsx's own."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        what = "a symbolic link" if out.is_symlink() else "not a directory"
        raise DsxInputError(f"{key} {str(out)!r} exists and is {what}; name a new directory")
    resolved = out.resolve()
    for f in keep:
        if resolved == f.resolve() or resolved in f.resolve().parents:
            raise DsxInputError(f"{key} {str(out)!r} contains {str(f)!r}, the file being run; "
                                "write the results to another directory")
    cwd = Path.cwd().resolve()
    if (resolved in cwd.parents or resolved == cwd) and out.exists():
        raise DsxInputError(f"{key} {str(out)!r} is the current directory or one above it; "
                            "name a new directory for the results")
    partial = partial_path(out)
    if (partial.exists() or partial.is_symlink()) and not _is_ours(partial):
        raise DsxInputError(f"{key}: {str(partial)!r} exists and was not written by dsx; remove or rename it "
                            "(dsx writes its work there before renaming)")


def _check_parent_writable(out: Path, key: str) -> None:
    """The nearest existing folder at or above ``out`` is a directory dsx may write in."""
    base = next((p for p in [out, *out.absolute().parents] if p.exists()), None)
    if base is None or base == out:
        return
    if not base.is_dir():
        raise DsxInputError(f"{key} {str(out)!r}: cannot write there ({str(base)!r} is a file, not a directory)")
    if not os.access(base, os.W_OK | os.X_OK):
        raise DsxInputError(f"{key} {str(out)!r}: cannot write there ({str(base)!r} is not writable)")


def _check_replaceable(out: Path, force: bool, key: str) -> None:
    """A non-empty ``out`` may be replaced only with ``force``, when dsx wrote it and it holds nothing
    beyond the files its manifest lists."""
    if not _is_ours(out) or (out / PARTIAL_MARK).exists():
        entries = sorted(p.name for p in out.iterdir())
        raise DsxInputError(
            f"{key} {str(out)!r} exists and was not written by dsx (no {MANIFEST}); it holds "
            f"{_few(entries)}; name a new directory (dsx never deletes what it did not write)")
    if not force:
        raise DsxInputError(f"{key} {str(out)!r} exists (an earlier dsx result); pass --force to "
                            "replace it, or name another directory")
    extra = sorted(p.name for p in out.iterdir() if p.name not in _listed(out))
    if extra:
        raise DsxInputError(f"{key} {str(out)!r}: --force would delete {_few(extra)}, which dsx did not "
                            "write; move them out of the folder first")


def _few(names: list[str]) -> str:
    shown = ", ".join(map(repr, names[:5]))
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def remove_ours(path: Path) -> None:
    """Delete a folder dsx wrote, its marks last (a kill midway still leaves it marked)."""
    if not _is_ours(path):
        return
    for child in path.iterdir():
        if child.name in _MARKS:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    for m in _MARKS:
        (path / m).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.rmdir()


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_partial(out: Path, key: str) -> Path:
    """Create the marked ``out.partial``; replace a stale one of dsx's, refuse anyone else's."""
    partial = partial_path(out)
    if partial.exists() or partial.is_symlink():
        if not _is_ours(partial):
            raise DsxInputError(f"{key}: {str(partial)!r} exists and was not written by dsx; "
                                "remove or rename it (dsx writes its work there before renaming)")
        try:
            pid = int((partial / PARTIAL_MARK).read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if _pid_alive(pid):
            raise DsxInputError(f"{key}: another dsx run (process {pid}) is writing {str(out)!r}; wait for it "
                                f"or name another directory (if no dsx run is writing it, delete {str(partial)!r})")
        print(f"dsx: note: replacing {str(partial)!r}, left by an interrupted dsx run", file=sys.stderr)
        remove_ours(partial)
    partial.mkdir()
    (partial / PARTIAL_MARK).write_text(str(os.getpid()))
    return partial


def _missing_parents(out: Path) -> list[Path]:
    missing = []
    for p in out.absolute().parents:
        if p.exists():
            break
        missing.append(p)
    return missing


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the few system calls that put the result in place."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs) if hasattr(signal, "pthread_sigmask") else None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _publish(partial: Path, out: Path) -> None:
    files = sorted(p.name for p in partial.iterdir() if p.name not in _MARKS)
    (partial / MANIFEST).write_text(json.dumps({"writer": "dsx", "files": files}, indent=1))
    with _signals_blocked():
        (partial / PARTIAL_MARK).unlink()
        if not out.exists():
            partial.rename(out)
            return
        if not _exchange(partial, out):  # no atomic swap here: a two-step rename
            old = out.with_name(out.name + ".partial.old")
            out.rename(old)
            partial.rename(out)
            partial = old
        (partial / PARTIAL_MARK).write_text("0")  # the previous result, set aside: ours to delete
    remove_ours(partial)


@contextlib.contextmanager
def staged(out: str | os.PathLike, force: bool = False, key: str = "output",
           keep: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a marked ``out.partial`` to write into; on success it becomes ``out`` whole.

    On any error (or ``KeyboardInterrupt``/``SystemExit``) the partial folder and any parent
    folders created for it are removed and ``out`` is left as it was; the error is re-raised,
    an ``OSError`` as a :class:`DsxInputError` naming ``key``.
    """
    out = Path(out)
    check_replace(out, force, key, keep)
    created = _missing_parents(out)
    partial = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = claim_partial(out, key)
        yield partial
        _publish(partial, out)
    except BaseException as exc:
        if partial is not None:
            remove_ours(partial)
        for p in created:  # innermost first
            with contextlib.suppress(OSError):
                p.rmdir()
        if isinstance(exc, OSError) and not isinstance(exc, DsxInputError):
            raise DsxInputError(f"{key} {str(out)!r}: cannot write there ({exc.strerror or exc}); "
                                "name a writable directory") from None
        raise


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into ``SystemExit`` so that clean-up handlers run."""
    sigs = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    old = {}
    try:
        for s in sigs:
            old[s] = signal.signal(s, _exit_on_signal)
    except ValueError:  # not the main thread: leave the handlers alone
        old = {}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
