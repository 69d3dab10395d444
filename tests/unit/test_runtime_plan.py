"""config.json validation: each bad field is named, nothing is created."""
import copy
import json
import os

import pytest

from servin.runtime import _plan
from servin.runtime._errors import ConfigError

BASE = {
    "ociVersion": "1.2.0",
    "root": {"path": "rootfs"},
    "process": {"args": ["/bin/true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
    "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]},
    "hostname": "h",
}


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return str(tmp_path)


def build(bundle, **changes):
    cfg = copy.deepcopy(BASE)
    for path, value in changes.items():
        cur = cfg
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur.setdefault(k, {})
        if value is None:
            cur.pop(keys[-1], None)
        else:
            cur[keys[-1]] = value
    p = _plan.build(cfg, bundle, "c1")
    p.close_fds()
    return p


def test_good_config(bundle):
    p = build(bundle)
    assert p.native["args"] == [b"/bin/true"]
    assert p.native["clone_flags"] & _plan.CLONE_NEWPID


@pytest.mark.parametrize("change,needle", [
    ({"linux__namespaces": [{"type": "mount"}, {"type": "bogus"}]}, "bogus"),
    ({"linux__namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "pid"}]}, "duplicate"),
    ({"linux__namespaces": [{"type": "pid"}]}, "mount namespace"),
    ({"linux__namespaces": [{"type": "mount"}, {"type": "network", "path": "/nonexistent"}]}, "/nonexistent"),
    ({"linux__namespaces": [{"type": "mount"}, {"type": "network", "path": "/proc/self/ns/uts"}]}, "not a network"),
    ({"root__path": "missing"}, "rootfs"),
    ({"process__args": []}, "process.args"),
    ({"process__args": None}, "process.args"),
    ({"process__cwd": "relative"}, "process.cwd"),
    ({"process__env": ["NOEQUALS"]}, "process.env[0]"),
    ({"process__user__uid": "0"}, "process.user.uid"),
    ({"process__capabilities": {"bounding": ["CAP_TEST"]}}, "CAP_TEST"),
    ({"process__rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}, "RLIMIT_BOGUS"),
    ({"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]}, "soft limit"),
    ({"process__oomScoreAdj": 5000}, "oomScoreAdj"),
    ({"process__execCPUAffinity": {"initial": "3-1"}}, "process.execCPUAffinity.initial"),
    ({"process__execCPUAffinity": {"final": "0,x"}}, "process.execCPUAffinity.final"),
    ({"process__execCPUAffinity": "0-1"}, "process.execCPUAffinity"),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/nonexistent-src", "options": ["bind"]}]}, "/nonexistent-src"),
    ({"mounts": [{"destination": "/x"}]}, "mounts[0].type"),
    ({"linux__sysctl": {"vm.swappiness": "1"}}, "not namespaced"),
    ({"linux__sysctl": {"net.ipv4.ip_forward": "1"}}, "network namespace"),
    ({"linux__timeOffsets": {"monotonic": {"secs": 1}}}, "time namespace"),
    ({"linux__rootfsPropagation": "sideways"}, "sideways"),
    ({"hooks": {"prestart": [{"path": "relative"}]}}, "hooks.prestart[0].path"),
    ({"hooks": {"poststop": [{"path": "/bin/true", "timeout": 0}]}}, "timeout"),
    ({"linux__namespaces": [{"type": "mount"}]}, "uts"),
    ({"linux__cgroupsPath": None, "linux__devices": [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]}, "/etc/x"),
    # device cgroup rules and useHierarchy: refused in the plan, before any cgroup exists
    ({"linux__resources": {"devices": [{"allow": True, "access": "rwx"}]}}, "devices[0].access"),
    ({"linux__resources": {"devices": [{"allow": True, "type": "p"}]}}, "devices[0].type"),
    ({"linux__resources": {"devices": [{"allow": False, "major": 2**40}]}}, "devices[0].major"),
    ({"linux__resources": {"memory": {"useHierarchy": 1}}}, "memory.useHierarchy"),
])
def test_bad_fields_are_named(bundle, change, needle):
    with pytest.raises(ConfigError) as e:
        build(bundle, **change)
    assert needle in str(e.value)


@pytest.mark.parametrize("v,ok", [("1.0.0", True), ("1.2.0", True), ("1.9.1-rc.1", True), ("2.0.0", False),
                                  ("1.0", False), ("banana", False), (1, False)])
def test_oci_version(v, ok):
    if ok:
        _plan.check_version(v)
    else:
        with pytest.raises(ConfigError):
            _plan.check_version(v)


def test_malformed_json(tmp_path):
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError) as e:
        _plan.load_config(str(tmp_path))
    assert "malformed JSON" in str(e.value)


def test_namespace_fds_closed_on_error(bundle):
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(ConfigError):
        # the network fd is opened, then the uts path turns out wrong
        build(bundle, linux__namespaces=[{"type": "mount"}, {"type": "network", "path": "/proc/self/ns/net"},
                                         {"type": "uts", "path": "/proc/self/ns/net"}])
    assert len(os.listdir("/proc/self/fd")) == before


def test_tmpcopyup_plan(bundle):
    """tmpcopyup reaches the C mount list as SRV_COPYUP_* bits (an explicit
    mode=/uid=/gid= keeps the tmpfs root's own); elsewhere it is a warning."""
    from servin.runtime import _mountopts as mo
    p = build(bundle, mounts=[
        {"destination": "/a", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]},
        {"destination": "/b", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=700", "gid=5"]},
        {"destination": "/c", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/d", "type": "bind", "source": bundle, "options": ["rbind", "tmpcopyup"]}])
    _plan.finish_mounts(p, {})
    copyup = {m[2]: m[12] for m in p.native["mounts"] if m[2] in (b"/a", b"/b", b"/c", b"/d")}
    assert copyup == {b"/a": mo.COPYUP_CONTENTS | mo.COPYUP_MODE | mo.COPYUP_UID | mo.COPYUP_GID,
                      b"/b": mo.COPYUP_CONTENTS | mo.COPYUP_UID, b"/c": 0, b"/d": 0}
    assert [w for w in p.warnings if "tmpcopyup" in w] == [
        "mounts[3]: tmpcopyup applies to tmpfs mounts only; ignored for /d"]
