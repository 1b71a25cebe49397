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


import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    """One small dask LocalCluster (2 single-threaded worker processes) for the whole session."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster
