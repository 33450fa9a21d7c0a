"""Fixtures shared by the unit tests."""

import matplotlib
import pytest


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
