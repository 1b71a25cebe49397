"""``python -m dsx.uncertainty RESIDUALS.csv``."""

from .spreads import main

raise SystemExit(main())
