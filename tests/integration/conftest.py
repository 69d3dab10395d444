"""Fixtures of the OCI runtime integration suite.

The runtime under test is ``$OCI_RUNTIME`` (a name on PATH or a path),
default ``servin-runc``; run the same suite against runc as the control:

    OCI_RUNTIME=runc pytest tests/integration -q

If the binary is not found, or we are not root, every test here skips
with the reason.  Tests marked ``runc_deviates`` follow the runtime-spec
where runc does not, and xfail (strictly) only when the runtime is runc;
``stricter_than_runc`` does the same for a project rule (DESIGN.md) that
goes beyond the spec.
"""

import json
import os

import pytest

from . import oci

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "runc_deviates(reason): the test follows the runtime-spec "
        "where runc does not; xfails only when the runtime under test is runc")
    config.addinivalue_line(
        "markers", "stricter_than_runc(reason): a project rule (DESIGN.md) "
        "beyond the runtime-spec that runc does not meet; xfails only on runc")


def _skip_reason():
    if oci.find_runtime() is None:
        return "OCI runtime %r not found (set OCI_RUNTIME)" % oci.runtime_name()
    if os.geteuid() != 0:
        return "integration tests need root"
    if not os.access(oci.BUSYBOX, os.X_OK):
        return "%s missing (apt install busybox-static)" % oci.BUSYBOX
    return None


def pytest_collection_modifyitems(config, items):
    mine = [i for i in items if str(i.path).startswith(HERE + os.sep)]
    if not mine:
        return
    reason = _skip_reason()
    runc = reason is None and oci.is_runc(oci.find_runtime())
    for item in mine:
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
            continue
        for name, prefix in (("runc_deviates", "runc deviates from the spec: "),
                             ("stricter_than_runc", "not runc's behaviour: ")):
            mark = item.get_closest_marker(name)
            if mark and runc:
                why = mark.kwargs.get("reason") or (
                    mark.args[0] if mark.args else "")
                item.add_marker(pytest.mark.xfail(reason=prefix + why,
                                                  strict=True))


@pytest.fixture(scope="session")
def runtime_binary():
    return oci.find_runtime()


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory):
    """The busybox rootfs, built once; tests get hard-linked copies."""
    return oci.build_rootfs(str(tmp_path_factory.mktemp("template") / "rootfs"))


@pytest.fixture(scope="session")
def features(runtime_binary, tmp_path_factory):
    """The runtime's ``features`` JSON, or None if it has none."""
    root = str(tmp_path_factory.mktemp("features-root"))
    res = oci.Runtime(runtime_binary, root)("features")
    if res.rc != 0:
        return None
    try:
        return json.loads(res.out)
    except ValueError:
        return None


@pytest.fixture
def require_namespace(features):
    """``require_namespace("time")`` skips the test when the runtime's
    ``features`` says it lacks that namespace (STYLE.md 13: features are
    reported, not guessed)."""
    def check(ns_type):
        listed = ((features or {}).get("linux") or {}).get("namespaces")
        if listed is not None and ns_type not in listed:
            pytest.skip("runtime features: no %r namespace" % ns_type)
    return check


@pytest.fixture
def ctx(runtime_binary, rootfs_template, tmp_path):
    """A private --root, bundles and ids for one test.  Teardown
    force-deletes every container and fails the test if anything is left:
    a state entry, a process, a mount under the test's directory (the
    bundles), or a cgroup of one of its containers."""
    c = oci.Context(runtime_binary, tmp_path, rootfs_template)
    yield c
    leaks = c.cleanup()
    if leaks:
        pytest.fail("left behind after teardown:\n  " + "\n  ".join(leaks),
                    pytrace=False)


@pytest.fixture
def rt(ctx):
    return ctx.rt
