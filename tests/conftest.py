"""Fixtures shared by the unit tests, and what bare `pytest` collects."""

import os

# One torch thread per worker and per notebook kernel (kernels inherit this
# environment): two workers on two cores, as `make test` runs them.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402
import pytest  # noqa: E402

# The checks on the built site and the browser tests need `make build` first:
# `make test-site` and `make test-browser` collect them (RNNVIZ_REQUIRE_SITE=1).
collect_ignore = [] if os.environ.get("RNNVIZ_REQUIRE_SITE") else ["site", "browser"]


@pytest.fixture
def no_global_changes():
    """Fail if the test registered a pyplot figure or changed rcParams."""
    import matplotlib.pyplot as plt

    rc = dict(matplotlib.rcParams)
    figs = plt.get_fignums()
    yield
    assert plt.get_fignums() == figs, "a plot function registered a pyplot figure"
    changed = [
        k
        for k, v in matplotlib.rcParams.items()
        if rc.get(k) is not v and rc.get(k) != v
    ]
    assert not changed, f"rcParams changed: {changed}"
