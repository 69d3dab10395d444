"""The data behind ``servin-runc spec``: default_spec(), the default
seccomp profile and the config/state JSON Schemas.

No root needed.  Schema tests skip without jsonschema; the runc
comparison skips without runc; the live seccomp test skips without
libseccomp.  Modules are loaded from their file paths, so the package
need not be installed.
"""
import ctypes
import ctypes.util
import errno
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_PY = REPO / "runtime" / "_spec.py"
GEN_PY = REPO / "runtime" / "data" / "gen-seccomp.py"
PROFILE = REPO / "runtime" / "data" / "seccomp-default.json"
CONFIG_SCHEMA = REPO / "specs" / "schema" / "config-schema.json"
STATE_SCHEMA = REPO / "specs" / "schema" / "state-schema.json"


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


S = _load(SPEC_PY, "_servin_spec_under_test")
GEN = _load(GEN_PY, "_servin_gen_seccomp_under_test")


def _jsonschema():
    try:
        import jsonschema
    except ImportError:
        pytest.skip("jsonschema is not importable (pip install jsonschema)")
    return jsonschema


def _validator(path):
    js = _jsonschema()
    schema = json.loads(path.read_text())
    js.Draft202012Validator.check_schema(schema)
    return js.Draft202012Validator(schema)


def _errors(validator, doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


# ---------------------------------------------------------------- import cost

def _new_modules(code):
    """Top-level module names that ``code`` adds to a fresh interpreter."""
    prog = (
        "import sys, importlib.util\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", prog], check=True,
                         capture_output=True, text=True).stdout
    return set(out.split())


def test_import_pulls_in_only_json():
    load = (
        f"spec = importlib.util.spec_from_file_location('servin_spec_probe', {str(SPEC_PY)!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "assert mod._seccomp_text is None, 'profile read at import time'\n"
    )
    got = _new_modules(load)
    baseline = _new_modules("import json, os")
    extra = got - baseline
    assert not extra, f"importing _spec pulls in more than json: {sorted(extra)}"
    for heavy in ("jsonschema", "referencing", "rpds", "ctypes", "subprocess", "copy"):
        assert heavy not in got


# ---------------------------------------------------------------- default_spec

def test_default_spec_shape():
    s = S.default_spec()
    assert s["ociVersion"] == "1.2.0"
    p = s["process"]
    assert p["terminal"] is True
    assert p["user"] == {"uid": 0, "gid": 0}
    assert p["args"] == ["sh"]
    assert p["cwd"] == "/"
    assert [e.split("=")[0] for e in p["env"]] == ["PATH", "TERM"]
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert p["noNewPrivileges"] is True
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert p["capabilities"] == {k: caps for k in ("bounding", "effective", "permitted", "ambient")}
    assert s["root"] == {"path": "rootfs", "readonly": True}
    assert [m["destination"] for m in s["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    ns = [n["type"] for n in s["linux"]["namespaces"]]
    assert sorted(ns) == ["ipc", "mount", "network", "pid", "uts"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "seccomp" not in s["linux"]


def test_default_spec_is_fresh_each_call():
    a = S.default_spec()
    a["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    a["mounts"][2]["options"].append("x")
    a["linux"]["maskedPaths"].clear()
    b = S.default_spec()
    assert "CAP_SYS_ADMIN" not in b["process"]["capabilities"]["bounding"]
    assert "x" not in b["mounts"][2]["options"]
    assert b["linux"]["maskedPaths"]
    # the four capability sets are distinct lists
    caps = b["process"]["capabilities"]
    assert len({id(v) for v in caps.values()}) == 4


def test_rootless_spec():
    s = S.default_spec(rootless=True)
    linux = s["linux"]
    ns = [n["type"] for n in linux["namespaces"]]
    assert "user" in ns and "network" not in ns
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux
    sys_mount = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert sys_mount["source"] == "/sys"
    assert set(sys_mount["options"]) == {"rbind", "nosuid", "noexec", "nodev", "ro"}
    devpts = next(m for m in s["mounts"] if m["destination"] == "/dev/pts")
    assert "gid=5" not in devpts["options"]


def test_with_seccomp_embeds_the_profile():
    s = S.default_spec(with_seccomp=True)
    assert s["linux"]["seccomp"] == json.loads(PROFILE.read_text())
    # fresh each time, and the default stays off
    s["linux"]["seccomp"]["syscalls"].clear()
    assert S.default_spec(with_seccomp=True)["linux"]["seccomp"]["syscalls"]
    assert "seccomp" not in S.default_spec()["linux"]


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
@pytest.mark.parametrize("rootless", [False, True])
def test_matches_runc_spec(tmp_path, rootless):
    cmd = ["runc", "spec"] + (["--rootless"] if rootless else [])
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    runc = json.loads((tmp_path / "config.json").read_text())
    ours = S.default_spec(rootless=rootless)
    # The data that decides how a container runs is the same...
    assert ours["mounts"] == runc["mounts"]
    assert ours["process"]["capabilities"] == runc["process"]["capabilities"]
    assert ours["linux"]["maskedPaths"] == runc["linux"]["maskedPaths"]
    assert ours["linux"]["readonlyPaths"] == runc["linux"]["readonlyPaths"]
    assert ours["linux"]["namespaces"] == runc["linux"]["namespaces"]
    assert ours["process"] == runc["process"]
    assert ours["root"] == runc["root"]
    assert ours["linux"] == runc["linux"]
    # ...and only the two documented fields differ.
    differ = {k for k in set(ours) | set(runc) if ours.get(k) != runc.get(k)}
    assert differ == {"ociVersion", "hostname"}


# ---------------------------------------------------------------- schemas

def test_default_specs_are_valid():
    v = _validator(CONFIG_SCHEMA)
    for rootless in (False, True):
        for with_seccomp in (False, True):
            doc = S.default_spec(rootless, with_seccomp=with_seccomp)
            assert _errors(v, doc) == [], (rootless, with_seccomp)


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_runc_spec_is_valid(tmp_path):
    v = _validator(CONFIG_SCHEMA)
    subprocess.run(["runc", "spec"], cwd=tmp_path, check=True, capture_output=True)
    assert _errors(v, json.loads((tmp_path / "config.json").read_text())) == []


def _full_config():
    """A config using most runtime-spec 1.2 Linux fields."""
    s = S.default_spec(with_seccomp=True)
    s["domainname"] = "example.org"
    s["annotations"] = {"org.example.key": "value"}
    s["hooks"] = {
        "createRuntime": [{"path": "/usr/bin/hook", "args": ["hook", "a"], "env": ["A=1"], "timeout": 5}],
        "poststop": [{"path": "/bin/true"}],
    }
    s["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv/data",
                        "options": ["rbind", "idmap"],
                        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    s["mounts"].append({"destination": "/tmp", "type": "tmpfs"})
    p = s["process"]
    p["consoleSize"] = {"height": 24, "width": 80}
    p["user"].update({"umask": 0o22, "additionalGids": [5, 6]})
    p["apparmorProfile"] = "servin-default"
    p["selinuxLabel"] = "system_u:system_r:container_t:s0"
    p["oomScoreAdj"] = 100
    p["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    p["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    p["execCPUAffinity"] = {"initial": "0", "final": "0-3,7"}
    linux = s["linux"]
    linux["namespaces"] += [{"type": "cgroup"}, {"type": "time"}, {"type": "user", "path": "/proc/1/ns/user"}]
    linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["timeOffsets"] = {"monotonic": {"secs": 172800, "nanosecs": 0}, "boottime": {"secs": -5}}
    linux["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                         "fileMode": 0o666, "uid": 0, "gid": 0},
                        {"path": "/dev/myfifo", "type": "p"}]
    linux["netDevices"] = {"eth1": {"name": "ctr1"}, "ens4": {}}
    linux["cgroupsPath"] = "/servin/abc"
    linux["resources"].update({
        "memory": {"limit": 536870912, "reservation": -1, "swap": -1, "swappiness": 0,
                   "disableOOMKiller": False, "checkBeforeUpdate": True},
        "cpu": {"shares": 1024, "quota": 100000, "burst": 1000, "period": 100000,
                "realtimeRuntime": 950000, "realtimePeriod": 1000000,
                "cpus": "0-3", "mems": "0", "idle": 0},
        "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
        "pids": {"limit": 32771},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        "unified": {"memory.high": "1G", "io.max": "259:0 rbps=2097152"},
    })
    linux["intelRdt"] = {"closID": "guaranteed_group", "memBwSchema": "MB:0=20;1=70",
                         "schemata": "L3:0=7f0;1=1f", "enableCMT": True, "enableMBM": True}
    linux["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}
    linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
    linux["seccomp"]["flags"] = ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    linux["seccomp"]["listenerPath"] = "/run/seccomp-agent.sock"
    linux["seccomp"]["listenerMetadata"] = "opaque"
    linux["rootfsPropagation"] = "rslave"
    linux["mountLabel"] = "system_u:object_r:container_file_t:s0"
    linux["personality"] = {"domain": "LINUX32"}
    return s


def test_full_config_is_valid():
    v = _validator(CONFIG_SCHEMA)
    assert _errors(v, _full_config()) == []


def _set(path, value):
    def mutate(doc):
        *parents, last = path
        for key in parents:
            doc = doc[key]
        if value is _DELETE:
            del doc[last]
        else:
            doc[last] = value
    return mutate


_DELETE = object()

BAD_CONFIGS = {
    "no ociVersion": _set(["ociVersion"], _DELETE),
    "ociVersion not semver": _set(["ociVersion"], "1.2"),
    "root without path": _set(["root", "path"], _DELETE),
    "relative cwd": _set(["process", "cwd"], "tmp"),
    "no cwd": _set(["process", "cwd"], _DELETE),
    "empty args": _set(["process", "args"], []),
    "env without =": _set(["process", "env"], ["PATH"]),
    "uid negative": _set(["process", "user", "uid"], -1),
    "uid missing": _set(["process", "user", "uid"], _DELETE),
    "capability name": _set(["process", "capabilities", "bounding"], ["SYS_ADMIN"]),
    "rlimit type": _set(["process", "rlimits"], [{"type": "NOFILE", "soft": 1, "hard": 1}]),
    "rlimit without hard": _set(["process", "rlimits"], [{"type": "RLIMIT_NOFILE", "soft": 1}]),
    "oomScoreAdj range": _set(["process", "oomScoreAdj"], 1001),
    "ioPriority class": _set(["process", "ioPriority"], {"class": "IOPRIO_CLASS_NONE"}),
    "scheduler policy": _set(["process", "scheduler"], {"policy": "SCHED_FAST"}),
    "mount without destination": _set(["mounts"], [{"type": "tmpfs", "source": "tmpfs"}]),
    "hook relative path": _set(["hooks"], {"poststop": [{"path": "true"}]}),
    "hook timeout zero": _set(["hooks"], {"poststop": [{"path": "/bin/true", "timeout": 0}]}),
    "unknown hook list type": _set(["hooks"], {"poststop": {"path": "/bin/true"}}),
    "annotation value not string": _set(["annotations"], {"k": 1}),
    "namespace type": _set(["linux", "namespaces"], [{"type": "net"}]),
    "namespace relative path": _set(["linux", "namespaces"], [{"type": "network", "path": "ns/net"}]),
    "id mapping without size": _set(["linux", "uidMappings"], [{"containerID": 0, "hostID": 1}]),
    "device c without major": _set(["linux", "devices"], [{"path": "/dev/x", "type": "c", "minor": 1}]),
    "device type": _set(["linux", "devices"], [{"path": "/dev/x", "type": "x"}]),
    "device rule without allow": _set(["linux", "resources", "devices"], [{"access": "rwm"}]),
    "device rule access": _set(["linux", "resources", "devices"], [{"allow": True, "access": "rwx"}]),
    "pids without limit": _set(["linux", "resources", "pids"], {}),
    "swappiness range": _set(["linux", "resources", "memory"], {"swappiness": 101}),
    "hugepage size": _set(["linux", "resources", "hugepageLimits"], [{"pageSize": "2M", "limit": 1}]),
    "rdma as list": _set(["linux", "resources", "rdma"], [{"device": "mlx5_1", "hcaHandles": 1}]),
    "rdma empty entry": _set(["linux", "resources", "rdma"], {"mlx5_1": {}}),
    "weightDevice without weight": _set(["linux", "resources", "blockIO"],
                                        {"weightDevice": [{"major": 8, "minor": 0}]}),
    "memBwSchema prefix": _set(["linux", "intelRdt"], {"memBwSchema": "L3:0=1"}),
    "timeOffsets clock": _set(["linux", "timeOffsets"], {"realtime": {"secs": 1}}),
    "netDevices name too long": _set(["linux", "netDevices"], {"eth0": {"name": "x" * 16}}),
    "memoryPolicy without mode": _set(["linux", "memoryPolicy"], {"nodes": "0"}),
    "memoryPolicy mode": _set(["linux", "memoryPolicy"], {"mode": "MPOL_ANY"}),
    "personality domain": _set(["linux", "personality"], {"domain": "SVR4"}),
    "rootfsPropagation": _set(["linux", "rootfsPropagation"], "public"),
    "maskedPaths relative": _set(["linux", "maskedPaths"], ["proc/kcore"]),
    "seccomp without defaultAction": _set(["linux", "seccomp"], {"syscalls": []}),
    "seccomp action": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_DENY"}),
    "seccomp arch": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                "architectures": ["x86_64"]}),
    "seccomp flag": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
    "seccomp metadata without listener": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                                     "listenerMetadata": "x"}),
    "seccomp rule without names": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                              "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
    "seccomp arg op": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "AND"}]}]}),
    "seccomp arg index": _set(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_schema_rejects(case):
    v = _validator(CONFIG_SCHEMA)
    doc = _full_config()
    BAD_CONFIGS[case](doc)
    assert _errors(v, doc), f"schema accepted a config with: {case}"


def test_schema_allows_unknown_properties():
    # runtime-spec: runtimes MUST ignore unknown properties.
    v = _validator(CONFIG_SCHEMA)
    doc = S.default_spec()
    doc["org.example.extension"] = {"x": 1}
    doc["linux"]["futureField"] = True
    assert _errors(v, doc) == []


GOOD_STATES = [
    {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "bundle": "/b"},
    {"ociVersion": "1.2.0", "id": "c1", "status": "created", "pid": 42, "bundle": "/b"},
    {"ociVersion": "1.2.0", "id": "c1", "status": "running", "pid": 42, "bundle": "/b",
     "annotations": {"k": "v"}},
    {"ociVersion": "1.2.0", "id": "c1", "status": "stopped", "bundle": "/b"},
    {"ociVersion": "1.2.0", "id": "c1", "status": "paused", "pid": 42, "bundle": "/b"},
]

BAD_STATES = {
    "created without pid": {"ociVersion": "1.2.0", "id": "c1", "status": "created", "bundle": "/b"},
    "running with pid 0": {"ociVersion": "1.2.0", "id": "c1", "status": "running", "pid": 0, "bundle": "/b"},
    "no bundle": {"ociVersion": "1.2.0", "id": "c1", "status": "stopped"},
    "relative bundle": {"ociVersion": "1.2.0", "id": "c1", "status": "stopped", "bundle": "b"},
    "empty id": {"ociVersion": "1.2.0", "id": "", "status": "stopped", "bundle": "/b"},
    "no status": {"ociVersion": "1.2.0", "id": "c1", "bundle": "/b"},
    "pid as string": {"ociVersion": "1.2.0", "id": "c1", "status": "running", "pid": "42", "bundle": "/b"},
}


def test_state_schema():
    v = _validator(STATE_SCHEMA)
    for doc in GOOD_STATES:
        assert _errors(v, doc) == [], doc
    for case, doc in BAD_STATES.items():
        assert _errors(v, doc), case


# ---------------------------------------------------------------- seccomp profile (data)

BASICS = ["read", "write", "openat", "close", "execve", "exit", "exit_group", "mmap",
          "munmap", "brk", "rt_sigaction", "rt_sigreturn", "futex", "getpid", "wait4",
          "fstat", "newfstatat", "pipe2", "dup3", "fcntl", "ioctl", "clock_gettime",
          "nanosleep", "set_tid_address", "prlimit64", "rseq", "arch_prctl", "fork",
          "vfork", "execveat", "getrandom", "connect", "accept4", "sendmsg", "recvmsg"]

BLOCKED = ["keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "bpf",
           "userfaultfd", "mount", "umount", "umount2", "unshare", "setns", "pivot_root",
           "open_by_handle_at", "init_module", "finit_module", "delete_module",
           "perf_event_open", "swapon", "swapoff", "reboot", "acct", "quotactl",
           "quotactl_fd", "lookup_dcookie", "iopl", "ioperm", "vm86", "vm86old", "syslog",
           "settimeofday", "clock_settime", "stime", "sethostname", "setdomainname",
           "chroot", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree",
           "mount_setattr", "fanotify_init", "kcmp", "pidfd_getfd", "process_madvise",
           "mbind", "set_mempolicy", "get_mempolicy", "vhangup", "uselib", "ustat",
           "sysfs", "_sysctl", "nfsservctl", "create_module", "query_module"]


def _profile():
    return json.loads(PROFILE.read_text())


def _rules_for(profile, name):
    return [r for r in profile["syscalls"] if name in r["names"]]


def _unconditionally_allowed(profile):
    return {n for r in profile["syscalls"]
            if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}


def test_profile_is_generated():
    assert GEN.render(GEN.build_profile(S.default_spec()["process"]["capabilities"]["bounding"])) \
        == PROFILE.read_text(), "seccomp-default.json is stale: run runtime/data/gen-seccomp.py"
    assert GEN.main(["--check"]) == 0


def test_profile_defaults():
    p = _profile()
    assert p["defaultAction"] == "SCMP_ACT_ERRNO"
    assert p["defaultErrnoRet"] == errno.EPERM
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"} <= set(p["architectures"])
    assert {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"} <= set(p["architectures"])
    for r in p["syscalls"]:
        assert r["names"] == sorted(set(r["names"]))


def test_profile_allows_the_basics():
    allowed = _unconditionally_allowed(_profile())
    missing = [n for n in BASICS if n not in allowed]
    assert not missing


def test_profile_blocks():
    p = _profile()
    leaked = [n for n in BLOCKED + GEN.words(GEN.REFUSED)
              if any(r["action"] == "SCMP_ACT_ALLOW" for r in _rules_for(p, n))]
    assert not leaked, f"allowed but should be refused: {leaked}"


def test_profile_ptrace_as_docker():
    # Docker allows these on kernels >= 4.8 without CAP_SYS_PTRACE.
    allowed = _unconditionally_allowed(_profile())
    assert {"ptrace", "process_vm_readv", "process_vm_writev"} <= allowed


def test_profile_clone_filter():
    p = _profile()
    rules = _rules_for(p, "clone")
    assert len(rules) == 1
    (rule,) = rules
    assert rule["action"] == "SCMP_ACT_ALLOW" and rule["names"] == ["clone"]
    mask = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000
    assert rule["args"] == [{"index": 0, "value": mask, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    assert mask == 2114060288  # the value in Docker's profile


def test_profile_clone3_enosys():
    rules = _rules_for(_profile(), "clone3")
    assert rules == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}]


def test_profile_personality_values():
    rules = _rules_for(_profile(), "personality")
    values = set()
    for r in rules:
        assert r["action"] == "SCMP_ACT_ALLOW" and r["names"] == ["personality"]
        (arg,) = r["args"]
        assert arg["index"] == 0 and arg["op"] == "SCMP_CMP_EQ"
        values.add(arg["value"])
    assert values == {0x0, 0x8, 0x20000, 0x20008, 0xffffffff}


def test_profile_socket_refuses_vsock():
    rules = _rules_for(_profile(), "socket")
    assert rules == [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]}]


def test_privileged_profile_lifts_gates():
    # build_profile() for more capabilities behaves like Docker's includes.caps.
    p = GEN.build_profile(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_CHROOT"])
    allowed = _unconditionally_allowed(p)
    assert {"mount", "unshare", "setns", "clone", "clone3", "chroot", "kcmp"} <= allowed
    assert not _rules_for(p, "clone3")[0].get("errnoRet")
    assert "keyctl" not in allowed and "kexec_load" not in allowed


# ---------------------------------------------------------------- seccomp profile (live)
#
# Load the profile with libseccomp the way runc does (resolve each name on
# the native arch, skip unknown names, add one rule per name with its
# argument comparisons) in a forked child, then make harmless syscalls
# and report their errnos.  Arguments are chosen so that a syscall the
# filter wrongly let through fails harmlessly with a *different* errno.

_ARCH_OK = platform.machine() in ("x86_64", "aarch64")


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}


def _libseccomp():
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        pytest.skip("libseccomp is not installed")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def _action(name, errno_ret):
    if name == "SCMP_ACT_ALLOW":
        return 0x7fff0000
    if name == "SCMP_ACT_ERRNO":
        return 0x00050000 | (errno_ret & 0xffff)
    raise ValueError(name)


def _apply(lib, profile):
    """Install ``profile`` on the calling process; return unresolved names."""
    ctx = lib.seccomp_init(_action(profile["defaultAction"], profile.get("defaultErrnoRet", errno.EPERM)))
    assert ctx
    for arch in profile["architectures"]:
        token = lib.seccomp_arch_resolve_name(arch[len("SCMP_ARCH_"):].lower().encode())
        assert token, arch
        rc = lib.seccomp_arch_add(ctx, token)
        assert rc in (0, -errno.EEXIST), (arch, rc)
    unknown = []
    for rule in profile["syscalls"]:
        action = _action(rule["action"], rule.get("errnoRet", errno.EPERM))
        args = rule.get("args", [])
        arr = (_ArgCmp * max(1, len(args)))(*[
            _ArgCmp(a["index"], _OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in args])
        for name in rule["names"]:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == -1:
                unknown.append(name)
                continue
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(args), arr)
            assert rc == 0, (name, rc)
    assert lib.seccomp_load(ctx) == 0
    return unknown


def _probe(lib, probes):
    """Fork; in the child, apply the profile and run ``probes``
    ({label: (syscall name, args)}); return {label: errno or 0} and the
    names libseccomp could not resolve."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    numbers = {name: lib.seccomp_syscall_resolve_name(name.encode()) for name, _ in probes.values()}
    profile = _profile()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on
        try:
            os.close(r)
            unknown = _apply(lib, profile)
            out = {}
            for label, (name, args) in probes.items():
                ctypes.set_errno(0)
                rc = libc.syscall(ctypes.c_long(numbers[name]), *[ctypes.c_long(a) for a in args])
                out[label] = ctypes.get_errno() if rc == -1 else 0
            os.write(w, json.dumps({"results": out, "unknown": unknown}).encode())
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            os.write(w, json.dumps({"error": repr(e)}).encode())
            os._exit(1)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    report = json.loads(data)
    assert "error" not in report, report.get("error")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return report["results"], report["unknown"]


CLONE_NEWUSER = 0x10000000
CLONE_FS = 0x00000200


@pytest.mark.skipif(not _ARCH_OK, reason=f"live seccomp probe written for x86_64/aarch64, not {platform.machine()}")
def test_profile_live():
    lib = _libseccomp()
    bogus = ctypes.c_char_p(b"/nonexistent/servin-seccomp-probe")
    path = ctypes.cast(bogus, ctypes.c_void_p).value
    probes = {
        "getpid": ("getpid", []),
        "personality query": ("personality", [0xffffffff]),
        "personality ADDR_NO_RANDOMIZE": ("personality", [0x0040000]),
        "socket AF_UNIX": ("socket", [1, 1, 0]),
        "socket AF_VSOCK": ("socket", [40, 1, 0]),
        # CLONE_NEWUSER|CLONE_FS is EINVAL in the kernel: nothing is created
        # even if the filter were to let it through.
        "clone CLONE_NEWUSER": ("clone", [CLONE_NEWUSER | CLONE_FS, 0, 0, 0, 0]),
        "clone3": ("clone3", [0, 0]),
        "keyctl": ("keyctl", [0, -1, 0]),
        "add_key": ("add_key", [0, 0, 0, 0, 0]),
        "unshare": ("unshare", [0]),
        "setns": ("setns", [-1, 0]),
        "mount": ("mount", [path, path, 0, 0, 0]),
        "umount2": ("umount2", [path, 0]),
        "pivot_root": ("pivot_root", [path, path]),
        "bpf": ("bpf", [-1, 0, 0]),
        "userfaultfd": ("userfaultfd", [-1]),
        "perf_event_open": ("perf_event_open", [0, 0, -1, -1, 0]),
        "open_by_handle_at": ("open_by_handle_at", [-1, 0, 0]),
        "swapoff": ("swapoff", [path]),
        "chroot": ("chroot", [path]),
    }
    if platform.machine() == "x86_64":
        probes["arch_prctl bad code"] = ("arch_prctl", [0, 0])
    results, unknown = _probe(lib, probes)
    print("names this libseccomp cannot resolve (skipped, as runc does):", unknown)

    assert results["getpid"] == 0
    assert results["personality query"] == 0
    assert results["socket AF_UNIX"] == 0
    for label in probes:
        if label in ("getpid", "personality query", "socket AF_UNIX", "clone3", "arch_prctl bad code"):
            continue
        assert results[label] == errno.EPERM, f"{label}: errno {results[label]}, expected EPERM"
    assert results["clone3"] == errno.ENOSYS
    if "arch_prctl bad code" in results:
        assert results["arch_prctl bad code"] == errno.EINVAL  # allowed; the kernel rejects code 0
    for name in BASICS:
        if name == "arch_prctl" and platform.machine() != "x86_64":
            continue
        assert name not in unknown
