"""Fixtures of the integration tests beyond tests/conftest.py's."""

import pytest

from taskq.schedules import Schedules


@pytest.fixture
def sched(r, prefix):
    """The schedule store on the test's own key prefix."""
    return Schedules(r, prefix=prefix)
