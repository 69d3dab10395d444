"""Fixtures of the security suite (tests/security).

Attacks run from inside real containers, driven through the binary named
by ``OCI_RUNTIME`` (default ``servin-runc``; ``OCI_RUNTIME=runc`` is the
control: runc 1.1.5 is patched for every CVE tested here).  The bundles,
the private ``--root`` and the leak check are tests/integration/oci.py's.

``probe`` is a small static C program (probe.c, compiled once per session
with ``cc -static``) placed at ``/probe`` in every rootfs: it reports what
a process in the container can see and open, one line per fact.
"""

import os
import shutil
import subprocess

import pytest

from integration import oci

HERE = os.path.dirname(os.path.abspath(__file__))


def _skip_reason():
    if oci.find_runtime() is None:
        return "OCI runtime %r not found (set OCI_RUNTIME)" % oci.runtime_name()
    if os.geteuid() != 0:
        return "security tests need root"
    if not os.access(oci.BUSYBOX, os.X_OK):
        return "%s missing (apt install busybox-static)" % oci.BUSYBOX
    if shutil.which("cc") is None:
        return "no C compiler for the probe (apt install gcc)"
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "container: needs root, a runtime and a C compiler")


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    for item in items:
        if not str(item.path).startswith(HERE + os.sep):
            continue
        if reason and item.get_closest_marker("container"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def runtime_binary():
    return oci.find_runtime()


@pytest.fixture(scope="session")
def is_runc(runtime_binary):
    return oci.is_runc(runtime_binary)


def compile_static(src, dest):
    subprocess.run(["cc", "-static", "-O1", "-Wall", "-Wno-format-truncation", "-o", dest, src],
                   check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def probe_binary(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    return compile_static(os.path.join(HERE, "probe.c"), str(d / "probe"))


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory, probe_binary):
    """The busybox rootfs with /probe, built once; tests get hard-linked
    copies (oci.clone_rootfs)."""
    root = oci.build_rootfs(str(tmp_path_factory.mktemp("template") / "rootfs"))
    shutil.copy2(probe_binary, os.path.join(root, "probe"))
    return root


@pytest.fixture
def ctx(runtime_binary, rootfs_template, tmp_path):
    """oci.Context: a private --root; teardown force-deletes everything and
    fails the test if a state entry, process, mount or cgroup is left."""
    c = oci.Context(runtime_binary, tmp_path, rootfs_template)
    yield c
    leaks = c.cleanup()
    if leaks:
        pytest.fail("left behind after teardown:\n  " + "\n  ".join(leaks), pytrace=False)


def parse_probe(text):
    """probe's output as a list of word lists."""
    return [line.split() for line in text.splitlines() if line.strip()]
