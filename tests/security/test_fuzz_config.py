"""Fuzzing the config.json loader and the plan builder.

In-process: hypothesis mutates a valid config (wrong types, huge ints,
unicode, NUL bytes, missing and extra keys, deep nesting) and also feeds
arbitrary JSON and raw bytes; ``load_config`` + ``build`` +
``finish_mounts`` must raise ConfigError or succeed, nothing else, and
every example must finish within 2 s (a SIGALRM turns a hang into a
failure).  Bounded: 1500 + 400 + 400 + 200 examples with fixed seeds, ~10 s.

End to end: ~30 known-bad mutations through the real binary: exit status
1, one line on stderr, and nothing left (state dir, process, cgroup,
mount: the ctx teardown's leak check).
"""

import copy
import json
import os
import signal

import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from integration import oci
from servin.runtime import _plan, _resources
from servin.runtime._errors import ConfigError

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])

BIG = st.sampled_from([2**31, 2**32, 2**63, 2**64, 2**100, -1, -2**63, -2**64, 10**400])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "\0", "a\0b", "/", "..", "../../etc", "/proc/self/fd/3", "\udcff"[:0] + "é" * 300,
     "CAP_SYS_ADMIN", "RLIMIT_NOFILE", "tmpfs", "bind", "rbind", "x" * 5000])
SCALAR = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | BIG
          | st.floats(allow_nan=True, allow_infinity=True) | TEXT)
JSON = st.recursive(SCALAR, lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(TEXT, kids, max_size=4), max_leaves=12)


def _deep(n):
    v = 1
    for _ in range(n):
        v = [v] if n % 2 else {"a": v}
    return v


VALUES = JSON | st.integers(min_value=1, max_value=300).map(_deep)


def _paths(v, prefix=()):
    """Every path (tuple of keys/indexes) into v."""
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, prefix + (i,))


BASE = oci.base_config(["sh"])
BASE["process"]["oomScoreAdj"] = 0
BASE["hooks"] = {"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 1}]}
BASE["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
BASE["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
BASE["linux"]["namespaces"].append({"type": "user"})
BASE["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
BASE["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
BASE["process"]["scheduler"] = {"policy": "SCHED_OTHER", "nice": 0}
BASE["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
BASE["linux"]["personality"] = {"domain": "LINUX"}
BASE["linux"]["rootfsPropagation"] = "rslave"
BASE["annotations"] = {"k": "v"}
BASE["linux"]["resources"].update({
    "memory": {"limit": 1 << 30, "swap": 1 << 30}, "cpu": {"shares": 512, "quota": 10000, "cpus": "0"},
    "pids": {"limit": 100}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
    "blockIO": {"weight": 100, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
    "network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 1}]},
    "rdma": {"mlx5_0": {"hcaHandles": 1}}, "unified": {"memory.high": "max"}})
BASE["mounts"].append({"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind"]})
PATHS = [p for p in _paths(BASE) if p]


@st.composite
def mutated(draw):
    cfg = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = cfg
        try:
            for k in path[:-1]:
                parent = parent[k]
            op = draw(st.sampled_from(["replace", "replace", "delete", "extra"]))
            last = path[-1]
            if op == "replace":
                parent[last] = draw(VALUES)
            elif op == "delete":
                del parent[last]
            elif isinstance(parent, dict):
                parent[draw(TEXT)] = draw(VALUES)
            else:
                parent.append(draw(VALUES))
        except (KeyError, IndexError, TypeError):
            pass      # an earlier mutation removed or retyped the way there
    return cfg


class FakeCgroup:
    """What _resources.apply needs of a cgroup manager: every controller's
    directory is one tmp directory, so the writes are plain files there."""

    def __init__(self, d, layout):
        self.layout = layout
        self.devices = None     # v2: the device list of a previous update
        self.dirs = {c: d for c in ("devices", "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio",
                                    "hugetlb", "net_cls", "net_prio", "rdma", "unified")}


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("an example ran for more than 2 s")


@pytest.fixture
def bundle(tmp_path):
    os.makedirs(tmp_path / "rootfs" / "dev", exist_ok=True)
    old = signal.signal(signal.SIGALRM, _alarm)
    yield str(tmp_path)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def _feed(bundle, raw):
    """True when the config was accepted, False on ConfigError."""
    with open(os.path.join(bundle, "config.json"), "wb") as f:
        f.write(raw)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        try:
            cfg = _plan.load_config(bundle)
            plan = _plan.build(cfg, bundle, "fuzz", preserve_fds=0)
        except ConfigError:
            return False
        try:
            _plan.finish_mounts(plan, {"memory": "/sys/fs/cgroup/memory/servin/fuzz"})
            # the values of linux.resources are checked as they are written
            cgdir = os.path.join(bundle, "cgroup")
            os.makedirs(cgdir, exist_ok=True)
            for layout in ("v1", "v2"):
                try:
                    _resources.apply(FakeCgroup(cgdir, layout), plan.resources)
                except ConfigError:
                    pass
        finally:
            plan.close_fds()
        return True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _dump(cfg):
    try:
        return json.dumps(cfg).encode()
    except (ValueError, OverflowError):
        return json.dumps(cfg, allow_nan=True).encode()


def test_the_base_of_the_mutations_is_valid(bundle):
    assert _feed(bundle, _dump(BASE))


@seed(5736)
@settings(max_examples=1500, **SETTINGS)
@given(cfg=mutated())
def test_fuzz_mutated_config(bundle, cfg):
    event("accepted" if _feed(bundle, _dump(cfg)) else "ConfigError")


@seed(21626)
@settings(max_examples=400, **SETTINGS)
@given(cfg=st.dictionaries(st.sampled_from(sorted(BASE)) | TEXT, VALUES, max_size=6))
def test_fuzz_arbitrary_top_level(bundle, cfg):
    cfg.setdefault("ociVersion", "1.0.2")
    _feed(bundle, _dump(cfg))


@seed(30465)
@settings(max_examples=400, **SETTINGS)
@given(raw=st.binary(max_size=200) | JSON.map(_dump)
       | st.sampled_from([b"[" * 100000, b"{\"a\":" * 100000, b"\xff\xfe", b"{\"ociVersion\": 1e999}",
                          b"1" * 5000, b"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"\\u0000\"}}"]))
def test_fuzz_raw_bytes(bundle, raw):
    _feed(bundle, raw)


@seed(1)
@settings(max_examples=200, **SETTINGS)
@given(cid=st.text(max_size=1100) | st.sampled_from(["a/b", "..", "\0", "a\nb"]))
def test_fuzz_validate_id(cid):
    from servin.runtime import _state
    try:
        _state.validate_id(cid)
    except ConfigError:
        return
    assert "/" not in cid and "\0" not in cid and cid not in (".", "..") and len(cid) <= 1024


# -- end to end -------------------------------------------------------

def _set(cfg, path, value):
    parent = cfg
    for k in path[:-1]:
        parent = parent[k]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


_DELETE = object()
E2E = [
    (("ociVersion",), "2.0.0"), (("ociVersion",), 1), (("ociVersion",), _DELETE),
    (("root",), _DELETE), (("root", "path"), 7), (("root", "path"), "nonexistent"),
    (("root", "path"), "a\0b"), (("root", "readonly"), "yes"),
    (("process",), _DELETE), (("process", "args"), []), (("process", "args"), 5),
    (("process", "args"), ["sh", None]), (("process", "env"), ["NOEQUALS"]),
    (("process", "cwd"), "relative"), (("process", "user", "uid"), -1),
    (("process", "user", "uid"), 2**64), (("process", "capabilities", "bounding"), ["CAP_TEST"]),
    (("process", "rlimits", 0, "type"), "RLIMIT_BOGUS"), (("process", "rlimits", 0, "soft"), 2**65),
    (("process", "oomScoreAdj"), 5000), (("process", "noNewPrivileges"), "true"),
    (("mounts", 0, "destination"), ""), (("mounts", 0), "proc"), (("mounts",), {"a": 1}),
    (("linux", "namespaces", 0, "type"), "bogus"), (("linux", "namespaces"), [{"type": "pid"}]),
    (("linux", "maskedPaths"), ["relative"]), (("linux", "sysctl"), {"kernel.panic": "1"}),
    (("linux", "devices"), [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]),
    (("hooks",), {"prestart": [{"path": "relative"}]}), (("hostname",), ["x"]),
    # tracebacks found by fuzzing, fixed in _plan.py
    (("process", "scheduler"), {"policy": "SCHED_OTHER", "priority": 2**100}),
    (("process", "scheduler"), {"policy": "SCHED_OTHER", "runtime": 2**70}),
    (("linux", "devices"), [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "uid": 2**100}]),
    (("linux", "devices"), [{"path": "/dev/x", "type": "c", "major": 2**32 - 1, "minor": 3}]),
    (("linux", "resources", "memory"), [1]),
    (("linux", "resources", "blockIO"), {"weightDevice": [1]}),
    (("linux", "resources", "hugepageLimits"), [{"pageSize": "../../x", "limit": 1}]),
    (("linux", "resources", "network"), {"priorities": [{"name": "eth0"}]}),
]


@pytest.mark.container
@pytest.mark.parametrize("path,value", E2E, ids=["-".join(map(str, p)) + "=" + (
    "del" if v is _DELETE else type(v).__name__) for p, v in E2E])
def test_e2e_bad_config_exits_1_with_one_line_and_leaves_nothing(ctx, is_runc, path, value):
    if is_runc:
        pytest.skip("servin's error contract (exit 1, one line); runc's messages differ")
    b = ctx.bundle(args=["sh"])
    _set(b.config, path, value)
    cid, res = ctx.create(b, check=False)
    assert res.rc == 1, res
    assert len(res.err_lines) == 1 and "Traceback" not in res.err, res
    root = ctx.rt.root
    assert not os.path.isdir(root) or os.listdir(root) == [], os.listdir(root)
