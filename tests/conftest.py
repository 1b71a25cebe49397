import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

try:  # keep hypothesis quick and deterministic on a 2-core CI machine
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "dsx", max_examples=25, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("dsx")
except ImportError:  # pragma: no cover
    pass
