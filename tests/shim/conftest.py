"""Each test item keeps its call-phase report as ``rep_call`` (for fixtures that
clean up after a failed test only)."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
