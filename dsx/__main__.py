"""``python -m dsx``: the same as the ``dsx`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
