"""dsx: vectorized design-space exploration for machine-learning systems."""

from . import catalog, units
from .errors import DsxInputError
from .space import Space

__version__ = "0.1.0"
__all__ = ["Space", "catalog", "units", "DsxInputError"]
