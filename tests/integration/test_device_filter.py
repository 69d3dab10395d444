"""linux.resources.devices seen from inside real containers, on this
host's layout (hybrid here: the v1 devices controller) and on cgroup v2
alone (an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE on the
container's cgroup2 directory).  The same rules must give the same
answers on both: the host's v1 runs check the expectations against the
kernel's own device list.

"cgroup2-only": every runtime command runs in a private mount namespace
where the v1 hierarchies are unmounted and /sys/fs/cgroup is a cgroup2
mount, so the runtime sees a v2-only host.  It is the host's one cgroup2
hierarchy (here also at /sys/fs/cgroup/unified), so the test sees the
container's cgroup and the teardown's leak check finds what is left.
runc 1.1.5 runs there too (it loads its own device program) and is the
control for every test.

Nodes with major 240 (local/experimental, no driver here): open() of an
allowed node fails with ENXIO, of a denied one with EPERM.  mknod is
always allowed by the default list ("c *:* m", "b *:* m" after the
config's rules, as runc), so no rule can deny it;
test_mknod_is_allowed_opening_is_not shows that m and r/w are told apart.
"""

import ctypes
import json
import os
import platform
import stat
import struct
import subprocess

import pytest

from . import oci
from .oci import cgroup_dirs, runc_deviates, stricter_than_runc, wait_until

UNIFIED = "/sys/fs/cgroup/unified"
V2_SHELL = 'umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec "$@"'
FEATURE = "io.github.servin.cgroup-v2-device-filter"


class Cgroup2OnlyRuntime(oci.Runtime):
    """The runtime under test on a cgroup v2-only view of this host."""

    def argv(self, args, global_args=()):
        return (["unshare", "--mount", "--propagation", "private", "sh", "-c", V2_SHELL, "sh"]
                + super().argv(args, global_args))


def _cgroup2_only_works():
    try:
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", V2_SHELL,
                            "sh", "cat", "/proc/self/mountinfo"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return "unshare: %s" % e
    types = [line.split(" - ")[1].split()[0] for line in p.stdout.splitlines() if " - " in line]
    if p.returncode != 0 or "cgroup2" not in types or "cgroup" in types:
        return "no cgroup2-only mount namespace: %s" % (p.stderr.strip() or "cgroup v1 still mounted")
    if not os.path.isdir(UNIFIED):
        return "the host's cgroup2 is not at %s" % UNIFIED
    return None


def _cgroup2_only(ctx, runtime_binary, features):
    """Switch ``ctx`` to the cgroup2-only view, or skip with the reason."""
    why = _cgroup2_only_works()
    if why:
        pytest.skip(why)
    if not oci.is_runc(runtime_binary):
        value = ((features or {}).get("annotations") or {}).get(FEATURE)
        if value != "supported":
            pytest.skip("runtime features: %s is %r" % (FEATURE, value))
    ctx.rt = Cgroup2OnlyRuntime(ctx.rt.binary, ctx.rt.root)
    return ctx


@pytest.fixture(params=["host", "cgroup2-only"])
def dctx(request, ctx, runtime_binary, features):
    """Both views: the host's (its v1 devices controller) and cgroup2-only."""
    if request.param == "cgroup2-only":
        return _cgroup2_only(ctx, runtime_binary, features)
    if not os.path.isdir("/sys/fs/cgroup/devices"):
        pytest.skip("this host has no v1 devices controller")
    return ctx


@pytest.fixture
def v2ctx(ctx, runtime_binary, features):
    """Only the cgroup2-only view (the tests that look at BPF programs)."""
    return _cgroup2_only(ctx, runtime_binary, features)


# ---------------------------------------------------------------- probing

# each argument MODE:PATH; one line per argument: MODE PATH STATUS MESSAGE
PROBE = r'''
for spec in "$@"; do
  mode=${spec%%:*}; path=${spec#*:}
  case $mode in
    r) msg=$(head -c1 "$path" 2>&1 >/dev/null) ;;
    w) msg=$( (: >"$path") 2>&1) ;;
    rw) msg=$( (: <>"$path") 2>&1) ;;
    mknod-c) msg=$(mknod "$path" c 240 7 2>&1) ;;
    mknod-b) msg=$(mknod "$path" b 240 7 2>&1) ;;
  esac
  echo "$mode $path $? $msg"
done
'''

NODES = [("/dev/c240_0", "c", 240, 0), ("/dev/c240_1", "c", 240, 1),
         ("/dev/b240_0", "b", 240, 0), ("/dev/b240_1", "b", 240, 1)]


def verdicts(out):
    """{"MODE:PATH": "ok" | "EPERM" | "ENXIO" | message}."""
    got = {}
    for line in out.splitlines():
        mode, path, rc, msg = (line.split(" ", 3) + [""])[:4]
        if rc == "0":
            v = "ok"
        elif "not permitted" in msg:
            v = "EPERM"
        elif "No such device or address" in msg:
            v = "ENXIO"
        else:
            v = msg
        got["%s:%s" % (mode, path)] = v
    return got


def bundle(ctx, rules=None):
    """A bundle whose linux.devices makes NODES, with ``rules`` as
    linux.resources.devices (None: no linux.resources at all)."""
    b = ctx.bundle(["true"])
    b.linux["devices"] = [{"path": p, "type": t, "major": ma, "minor": mi, "fileMode": 0o666}
                          for p, t, ma, mi in NODES]
    if rules is None:
        del b.linux["resources"]
    else:
        b.linux["resources"]["devices"] = rules
    return b


def probe_run(ctx, b, specs):
    b.process["args"] = ["sh", "-c", PROBE, "sh"] + list(specs)
    _, res = ctx.run(b)
    assert res.rc == 0, res
    got = verdicts(res.out)
    assert set(got) == set(specs), res
    return got


def probe_exec(ctx, cid, specs):
    res = ctx.rt("exec", cid, "sh", "-c", PROBE, "sh", *specs)
    assert res.rc == 0, res
    return verdicts(res.out)


def rule(allow, typ="a", major=None, minor=None, access="rwm"):
    r = {"allow": allow, "type": typ, "access": access}
    if major is not None:
        r["major"] = major
    if minor is not None:
        r["minor"] = minor
    return r


DENY_ALL = rule(False)


# ---------------------------------------------------------------- the rules

def test_default_list_only(dctx):
    """runc spec's rules (deny everything): the default list's nodes work,
    nodes made by linux.devices and one the image brought (made on the
    rootfs by the host) are refused."""
    b = bundle(dctx, [DENY_ALL])
    os.mknod(os.path.join(b.rootfs, "n42"), stat.S_IFCHR | 0o666, os.makedev(42, 0))
    got = probe_run(dctx, b, ["r:/dev/null", "w:/dev/null", "rw:/dev/null", "r:/dev/zero",
                              "r:/dev/full", "rw:/dev/ptmx", "r:/dev/c240_0", "w:/dev/c240_0",
                              "r:/dev/b240_0", "r:/n42"])
    assert got == {"r:/dev/null": "ok", "w:/dev/null": "ok", "rw:/dev/null": "ok",
                   "r:/dev/zero": "ok", "r:/dev/full": "ok", "rw:/dev/ptmx": "ok",
                   "r:/dev/c240_0": "EPERM", "w:/dev/c240_0": "EPERM",
                   "r:/dev/b240_0": "EPERM", "r:/n42": "EPERM"}


def test_no_resources_still_denies(dctx):
    """No linux.resources at all: everything but the default list is
    still denied (runc does the same)."""
    got = probe_run(dctx, bundle(dctx, None), ["r:/dev/null", "r:/dev/c240_0", "r:/dev/b240_0"])
    assert got == {"r:/dev/null": "ok", "r:/dev/c240_0": "EPERM", "r:/dev/b240_0": "EPERM"}


SPECS = ["r:/dev/c240_0", "w:/dev/c240_0", "r:/dev/c240_1", "w:/dev/c240_1", "rw:/dev/c240_1",
         "r:/dev/b240_0", "r:/dev/b240_1"]

# (name, rules, the verdicts of SPECS that are not EPERM); /dev/null is
# always writable (the default list)
CASES = [
    pytest.param([DENY_ALL, rule(True, "c", 240, 1, "rw")],
                 {"r:/dev/c240_1": "ENXIO", "w:/dev/c240_1": "ENXIO", "rw:/dev/c240_1": "ENXIO"},
                 id="allow-one"),
    pytest.param([DENY_ALL, rule(True, "c", 240, 1, "r")], {"r:/dev/c240_1": "ENXIO"}, id="read-only"),
    pytest.param([DENY_ALL, rule(True, "c", 240, None, "r")],
                 {"r:/dev/c240_0": "ENXIO", "r:/dev/c240_1": "ENXIO"}, id="any-minor"),
    pytest.param([DENY_ALL, rule(True, "c", 240, 1), rule(False, "c", 240, 1, "w")],
                 {"r:/dev/c240_1": "ENXIO"}, id="later-deny-overrides"),
    pytest.param([DENY_ALL, rule(False, "c", 240, 1), rule(True, "c", 240, 1, "w")],
                 {"w:/dev/c240_1": "ENXIO"}, id="later-allow-overrides"),
    pytest.param([DENY_ALL, rule(True, "a", 240, 1)],
                 {"r:/dev/c240_1": "ENXIO", "w:/dev/c240_1": "ENXIO", "rw:/dev/c240_1": "ENXIO",
                  "r:/dev/b240_1": "ENXIO"},
                 id="type-a-with-numbers",
                 marks=runc_deviates("config-linux.md: type a is any type, and major/minor still "
                                     "apply; runc 1.1.5 allows every device for an a 240:1 rule")),
    pytest.param([rule(True)], {s: "ENXIO" for s in SPECS}, id="allow-all"),
    pytest.param([rule(True), rule(False, "c", 240, 0, "w"), rule(False, "b")],
                 {s: "ENXIO" for s in SPECS if s not in ("w:/dev/c240_0", "r:/dev/b240_0", "r:/dev/b240_1")},
                 id="allow-all-then-deny"),
    # as the v1 list: a deny takes access away from the exception with the
    # same type and numbers only, not from a narrower one
    pytest.param([DENY_ALL, rule(True, "c", 240, 1), rule(False, "c", None, None)],
                 {"r:/dev/c240_1": "ENXIO", "w:/dev/c240_1": "ENXIO", "rw:/dev/c240_1": "ENXIO"},
                 id="wildcard-deny-keeps-exact-allow"),
    # the default list comes after the config's rules
    pytest.param([DENY_ALL, rule(False, "c", 1, 3)], {}, id="default-list-wins"),
]


@pytest.mark.parametrize("rules,allowed", CASES)
def test_rules_apply_in_order(dctx, rules, allowed):
    got = probe_run(dctx, bundle(dctx, rules), SPECS + ["w:/dev/null"])
    want = {s: allowed.get(s, "EPERM") for s in SPECS}
    want["w:/dev/null"] = "ok"
    assert got == want


def test_mknod_is_allowed_opening_is_not(dctx):
    """With CAP_MKNOD: mknod of any char or block node is allowed (the
    default list's "c *:* m", "b *:* m"), opening the node is not."""
    b = bundle(dctx, [DENY_ALL])
    for caps in b.process["capabilities"].values():
        caps.append("CAP_MKNOD")
    got = probe_run(dctx, b, ["mknod-c:/dev/new_c", "mknod-b:/dev/new_b", "r:/dev/new_c", "r:/dev/new_b"])
    assert got == {"mknod-c:/dev/new_c": "ok", "mknod-b:/dev/new_b": "ok",
                   "r:/dev/new_c": "EPERM", "r:/dev/new_b": "EPERM"}


@pytest.mark.parametrize("bad", [
    pytest.param({"allow": True, "type": "x"}, id="type-x"),
    pytest.param({"allow": True, "access": "rwx"}, id="access-rwx", marks=stricter_than_runc(
        "DESIGN.md: a bad value gets one clear line; runc 1.1.5 runs with access 'rwx'"))])
def test_bad_rules_are_refused(dctx, bad):
    b = bundle(dctx, [DENY_ALL, bad])
    _, res = dctx.run(b)
    assert res.rc != 0, res
    assert len(res.error_lines) == 1, res
    if not oci.is_runc(dctx.rt.binary):
        assert res.error_lines[0].startswith("servin-runc: linux.resources.devices[1]"), res


# ---------------------------------------------------------------- update

def _started(ctx):
    b = bundle(ctx, [DENY_ALL])
    b.process["args"] = ["sleep", "1000"]
    cid, _ = ctx.run_detached(b)
    return cid


def _update(ctx, cid, rules):
    path = os.path.join(ctx.tmp, "resources.json")
    with open(path, "w") as f:
        json.dump({"devices": rules}, f)
    res = ctx.rt("update", "-r", path, cid)
    assert res.rc == 0, res


RUNC_UPDATE = pytest.mark.xfail(
    condition=oci.find_runtime() is not None and oci.is_runc(oci.find_runtime()), strict=True,
    reason="runc 1.1.5's update ignores linux.resources.devices (the exec still sees the old rules)")


@RUNC_UPDATE
def test_update_changes_the_rules(dctx):
    """update -r continues from the container's current list, as writes
    to v1's devices.allow/deny do; the default list stays."""
    cid = _started(dctx)
    specs = ["r:/dev/c240_0", "r:/dev/c240_1", "w:/dev/c240_1", "r:/dev/null"]
    assert probe_exec(dctx, cid, specs) == {
        "r:/dev/c240_0": "EPERM", "r:/dev/c240_1": "EPERM", "w:/dev/c240_1": "EPERM", "r:/dev/null": "ok"}
    _update(dctx, cid, [rule(True, "c", 240, 1, "r")])
    assert probe_exec(dctx, cid, specs) == {
        "r:/dev/c240_0": "EPERM", "r:/dev/c240_1": "ENXIO", "w:/dev/c240_1": "EPERM", "r:/dev/null": "ok"}
    _update(dctx, cid, [rule(True, "c", 240, 0, "r"), rule(False, "c", 240, 1, "r")])
    assert probe_exec(dctx, cid, specs) == {
        "r:/dev/c240_0": "ENXIO", "r:/dev/c240_1": "EPERM", "w:/dev/c240_1": "EPERM", "r:/dev/null": "ok"}
    _update(dctx, cid, [rule(False, "c", 1, 3)])
    assert probe_exec(dctx, cid, specs)["r:/dev/null"] == "ok"


# ---------------------------------------------------------------- BPF programs

SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE = 15, 6
BPF_F_ALLOW_MULTI = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd, fmt, *values):
    if platform.machine() not in SYS_BPF:
        pytest.skip("bpf(2) syscall number unknown for %s" % platform.machine())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(fmt, attr, 0, *values)
    r = _libc.syscall(SYS_BPF[platform.machine()], cmd, attr, ctypes.c_uint(128))
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return r, attr


def attached(cgdir):
    """Ids of the device programs attached to ``cgdir`` itself."""
    ids = (ctypes.c_uint32 * 64)()
    fd = os.open(cgdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _, attr = _bpf(BPF_PROG_QUERY, "IIIIQI", fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 64)
    finally:
        os.close(fd)
    return sorted(ids[:struct.unpack_from("IIIIQI", attr)[5]])


def exists(prog_id):
    try:
        fd, _ = _bpf(BPF_PROG_GET_FD_BY_ID, "III", prog_id, 0, 0)
    except FileNotFoundError:
        return False
    os.close(fd)
    return True


def attach_allow_all(cgdir, flags):
    """The test's own program (not servin's): allows everything."""
    insns = struct.pack("<BBhi", 0xb7, 0, 0, 1) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    buf = ctypes.create_string_buffer(insns)
    lic = ctypes.create_string_buffer(b"GPL")
    prog, _ = _bpf(BPF_PROG_LOAD, "IIQQ", BPF_PROG_TYPE_CGROUP_DEVICE, 2,
                   ctypes.addressof(buf), ctypes.addressof(lic))
    before = set(attached(cgdir))
    fd = os.open(cgdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _bpf(BPF_PROG_ATTACH, "IIII", fd, prog, BPF_CGROUP_DEVICE, flags)
    finally:
        os.close(fd)
        os.close(prog)
    (new,) = set(attached(cgdir)) - before
    return new


def unified_dir(pid):
    dirs = [d for d in cgroup_dirs(pid) if d.startswith(UNIFIED + "/")]
    assert len(dirs) == 1, dirs
    return dirs[0]


class ParentCgroup:
    """A cgroup2 directory made by the test, under which a container's
    cgroupsPath is placed; removed after the test's containers."""

    def __init__(self, ctx, name):
        self.ctx, self.path, self.name = ctx, os.path.join(UNIFIED, name), name

    def __enter__(self):
        os.mkdir(self.path)
        return self

    def __exit__(self, *exc):
        for cid in self.ctx.ids:
            self.ctx.rt("delete", "--force", cid)
        wait_until(lambda: self._rmdir(), timeout=10, what="rmdir %s" % self.path)

    def _rmdir(self):
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True


def test_v2_filter_goes_with_the_container(v2ctx):
    """One program on the container's own cgroup2 directory; after delete
    the directory is gone and so is the program."""
    cid = _started(v2ctx)
    cg = unified_dir(v2ctx.rt.state(cid)["pid"])
    progs = attached(cg)
    assert len(progs) == 1 and exists(progs[0]), progs
    assert v2ctx.rt("delete", "--force", cid).rc == 0
    assert not os.path.exists(cg)
    wait_until(lambda: not exists(progs[0]), timeout=10, what="program %d freed" % progs[0])


@RUNC_UPDATE
def test_v2_update_replaces_only_its_own_program(v2ctx):
    """update attaches a new program and detaches the one it replaces,
    never a program someone else attached: one on the parent cgroup, one
    on the container's cgroup itself."""
    cid = v2ctx.new_id()
    with ParentCgroup(v2ctx, cid + "-parent") as parent:
        on_parent = attach_allow_all(parent.path, BPF_F_ALLOW_MULTI)
        b = bundle(v2ctx, [DENY_ALL])
        b.process["args"] = ["sleep", "1000"]
        b.linux["cgroupsPath"] = "/%s/%s" % (parent.name, cid)
        v2ctx.run_detached(b, cid)
        cg = unified_dir(v2ctx.rt.state(cid)["pid"])
        assert os.path.dirname(cg) == parent.path
        (first,) = attached(cg)
        foreign = attach_allow_all(cg, BPF_F_ALLOW_MULTI)
        _update(v2ctx, cid, [rule(True, "c", 240, 1, "r")])
        now = attached(cg)
        assert len(now) == 2 and foreign in now and first not in now, (first, foreign, now)
        wait_until(lambda: not exists(first), timeout=10, what="program %d freed" % first)
        assert probe_exec(v2ctx, cid, ["r:/dev/c240_1", "r:/dev/c240_0"]) == {
            "r:/dev/c240_1": "ENXIO", "r:/dev/c240_0": "EPERM"}
        assert attached(parent.path) == [on_parent]
        assert v2ctx.rt("delete", "--force", cid).rc == 0
        assert not os.path.exists(cg)
        assert attached(parent.path) == [on_parent]


def test_v2_kernel_refusal_leaves_nothing(v2ctx):
    """A parent cgroup with an exclusive device program (attached without
    BPF_F_ALLOW_MULTI) makes the kernel refuse the container's: create
    fails with one line and leaves no state, cgroup or process."""
    cid = v2ctx.new_id()
    with ParentCgroup(v2ctx, cid + "-parent") as parent:
        on_parent = attach_allow_all(parent.path, 0)
        b = bundle(v2ctx, [DENY_ALL])
        b.linux["cgroupsPath"] = "/%s/%s" % (parent.name, cid)
        _, res = v2ctx.create(b, cid, check=False)
        assert res.rc != 0, res
        assert len(res.error_lines) == 1, res
        if not oci.is_runc(v2ctx.rt.binary):
            assert "linux.resources.devices" in res.error_lines[0], res
            assert "BPF_PROG_ATTACH: Operation not permitted" in res.error_lines[0], res
        assert cid not in v2ctx.rt.ids()
        assert [n for n in os.listdir(parent.path) if os.path.isdir(os.path.join(parent.path, n))] == []
        assert attached(parent.path) == [on_parent]


def test_v2_container_sees_its_cgroup2_at_sys_fs_cgroup(v2ctx):
    """Not a device test, but it needs the cgroup2-only view: there, the
    container's cgroup mount (with a cgroup namespace) is its own cgroup2
    directory at /sys/fs/cgroup (as on a v2 host), not a tmpfs with a
    `unified` dir."""
    b = v2ctx.bundle(["sh", "-c", "cat /sys/fs/cgroup/cgroup.procs; ls /sys/fs/cgroup/unified 2>&1; "
                      "grep ' /sys/fs/cgroup ' /proc/self/mountinfo"])
    if not any(ns["type"] == "cgroup" for ns in b.linux["namespaces"]):
        b.linux["namespaces"].append({"type": "cgroup"})
    _, res = v2ctx.run(b)
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert lines[0] == "1", res            # the container's init, in its own cgroup
    assert "No such file" in res.out, res
    mnt = [line for line in lines if " /sys/fs/cgroup " in line]
    assert len(mnt) == 1 and " - cgroup2 " in mnt[0], res
    assert "ro," in mnt[0].split()[5] + ",", res   # the default spec mounts it read-only
