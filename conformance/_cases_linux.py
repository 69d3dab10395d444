"""config-linux.md: namespaces, id mappings, devices, cgroups, sysctl,
seccomp, rootfs propagation, masked/readonly paths, personality, time."""
import os
import signal
import stat
import subprocess
import time

from . import _host
from ._registry import case

NS_TYPES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user", "time": "time"}


def _host_ns(kind):
    return str(os.stat(f"/proc/self/ns/{kind}").st_ino)


class Holder:
    """A host process in fresh namespaces (made with util-linux unshare),
    to be joined by path; killed when the case ends."""

    def __init__(self, t, flags):
        self.proc = subprocess.Popen(["unshare", *flags, "--", "sleep", "120"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        t.on_cleanup(self.stop)
        time.sleep(0.1)
        self.pid = self.proc.pid
        if "--fork" in flags:  # the namespace's first process is unshare's child
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                        kids = f.read().split()
                except OSError:
                    kids = []
                if kids:
                    self.pid = int(kids[0])
                    break
                time.sleep(0.05)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # wait for the exec of sleep
            try:
                with open(f"/proc/{self.pid}/comm") as f:
                    if f.read().strip() == "sleep":
                        break
            except OSError:
                pass
            time.sleep(0.02)

    def ns(self, kind):
        return str(os.stat(f"/proc/{self.pid}/ns/{kind}").st_ino)

    def path(self, kind):
        return f"/proc/{self.pid}/ns/{kind}"

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def _make_ns_case(spec_type, kind):
    def created(t):
        if kind == "time":
            t.skip_if(_host.time_namespace())
        b = t.bundle("ns")
        b.set_namespace(spec_type)
        if spec_type == "user":
            b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        rep = t.run_ok(b)
        t.check(rep.get(f"ns.{kind}") not in (None, _host_ns(kind)),
                f"{kind} namespace {rep.get(f'ns.{kind}')} is the host's ({_host_ns(kind)})")
    return created


for _spec, _kind in NS_TYPES.items():
    case(f"linux.ns-{_spec}-created", "config-linux.md#namespaces", "MUST",
         f"A {_spec} namespace entry without path: the runtime MUST create a new container "
         f"namespace of that type.")(_make_ns_case(_spec, _kind))


@case("linux.ns-pid-init", "config-linux.md#namespaces", "MUST",
      "In a new pid namespace the container process is pid 1 (it only sees the container's processes).")
def _(t):
    rep = t.run_ok(t.bundle("pid"))
    t.check(rep.get("pid") == "1", f"pid {rep.get('pid')}")


@case("linux.ns-inherit", "config-linux.md#namespaces", "MUST",
      "If a namespace type is not specified in the namespaces array, the container MUST inherit "
      "the runtime namespace of that type (network, ipc).")
def _(t):
    b = t.bundle("ns")
    b.remove_namespace("network")
    b.remove_namespace("ipc")
    rep = t.run_ok(b)
    for kind in ("net", "ipc"):
        t.check(rep.get(f"ns.{kind}") == _host_ns(kind),
                f"{kind} namespace {rep.get(f'ns.{kind}')}, the runtime's is {_host_ns(kind)}")


def _make_join_case(spec_type, kind, flag):
    def joined(t):
        if kind == "time":
            t.skip_if(_host.time_namespace())
        flags = [flag] + (["--fork"] if kind in ("pid", "time") else [])
        h = Holder(t, flags)
        want = h.ns(kind)
        b = t.bundle("ns")
        b.set_namespace(spec_type, h.path(kind))
        rep = t.run_ok(b)
        t.check(rep.get(f"ns.{kind}") == want,
                f"{kind} namespace {rep.get(f'ns.{kind}')}, the one at the path is {want}")
    return joined


for _spec, _kind, _flag in (("network", "net", "--net"), ("ipc", "ipc", "--ipc"),
                            ("uts", "uts", "--uts"), ("pid", "pid", "--pid"),
                            ("cgroup", "cgroup", "--cgroup")):
    case(f"linux.ns-{_spec}-join", "config-linux.md#namespaces", "MUST",
         f"A {_spec} namespace entry with a path: the runtime MUST place the container process "
         f"in the namespace at that path.")(_make_join_case(_spec, _kind, _flag))


@case("linux.ns-join-wrong-type", "config-linux.md#namespaces", "MUST",
      "The runtime MUST generate an error if path is not associated with a namespace of type type.")
def _(t):
    h = Holder(t, ["--uts"])
    b = t.bundle("ns")
    b.set_namespace("network", h.path("uts"))
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "a uts namespace path was accepted for a network namespace")


@case("linux.ns-duplicate", "config-linux.md#namespaces", "MUST",
      "If namespaces contains duplicated namespaces with the same type, the runtime MUST generate "
      "an error.")
def _(t):
    b = t.bundle("exit", "0")
    b.linux["namespaces"].append({"type": "uts"})
    r = t.run(b)
    t.check(r.rc != 0, "two uts namespace entries were accepted")


@case("linux.ns-join-missing-path", "config-linux.md#namespaces", "MUST",
      "A namespace path that does not exist cannot be joined: the runtime MUST generate an error.")
def _(t):
    b = t.bundle("ns")
    b.set_namespace("network", "/proc/999999999/ns/net")
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "a missing namespace path was accepted")


def _userns_bundle(t, *args):
    t.skip_if(_host.user_namespaces())
    b = t.bundle(*args)
    b.set_namespace("user")
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    return b


@case("linux.user-mappings", "config-linux.md#user-namespace-mappings", "MUST",
      "uidMappings/gidMappings describe the user namespace mappings from the host to the container.")
def _(t):
    b = _userns_bundle(t, "sleep", "30")
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    with open(f"/proc/{pid}/uid_map") as f:
        uid_map = f.read().split()
    with open(f"/proc/{pid}/gid_map") as f:
        gid_map = f.read().split()
    t.check(uid_map == ["0", "100000", "65536"], f"uid_map {uid_map}")
    t.check(gid_map == ["0", "200000", "65536"], f"gid_map {gid_map}")


@case("linux.user-mapped-ids", "config-linux.md#user-namespace-mappings", "MUST",
      "In the user namespace the process runs as the configured uid/gid of the container "
      "namespace, which the host sees as the mapped id.")
def _(t):
    b = _userns_bundle(t, "sleep", "30")
    b.process["user"] = {"uid": 5, "gid": 6}
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "running")
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    uids = st["Uid"].split()
    gids = st["Gid"].split()
    t.check(uids[0] == "100005" and gids[0] == "200006", f"host view: Uid {uids} Gid {gids}")


def _stat(rep, path):
    v = rep.get(f"stat.{path}") or rep.get(f"lstat.{path}") or ""
    if v.startswith("!"):
        return None
    p = v.split(":")
    return {"type": p[0], "mode": p[1], "uid": p[2], "gid": p[3], "major": p[4], "minor": p[5]}


@case("linux.devices", "config-linux.md#devices", "MUST",
      "devices lists devices that MUST be available in the container (type, major, minor).")
def _(t):
    b = t.bundle("stat", "/dev/servin-null", "stat", "/dev/servin-fifo", "write", "/dev/servin-null")
    b.linux["devices"] = [{"path": "/dev/servin-null", "type": "c", "major": 1, "minor": 3},
                          {"path": "/dev/servin-fifo", "type": "p"}]
    b.linux["resources"]["devices"].append({"allow": True, "type": "c", "major": 1, "minor": 3,
                                            "access": "rw"})
    rep = t.run_ok(b)
    s = _stat(rep, "/dev/servin-null")
    t.check(s and (s["type"], s["major"], s["minor"]) == ("c", "1", "3"), f"/dev/servin-null: {s}")
    s = _stat(rep, "/dev/servin-fifo")
    t.check(s and s["type"] == "p", f"/dev/servin-fifo: {s}")
    t.check(rep.get("write./dev/servin-null") == "0",
            f"writing /dev/servin-null: errno {rep.get('write./dev/servin-null')}")


@case("linux.devices-mode-owner", "config-linux.md#devices", "MUST",
      "fileMode, uid and gid of a device entry set its mode and owner in the container.")
def _(t):
    b = t.bundle("stat", "/dev/servin-null")
    b.linux["devices"] = [{"path": "/dev/servin-null", "type": "c", "major": 1, "minor": 3,
                           "fileMode": 0o620, "uid": 12, "gid": 34}]
    rep = t.run_ok(b)
    s = _stat(rep, "/dev/servin-null")
    t.check(s and (s["mode"], s["uid"], s["gid"]) == ("620", "12", "34"), f"/dev/servin-null: {s}")


@case("linux.devices-conflict", "config-linux.md#devices", "MUST",
      "If a file already exists at path that does not match the requested device, the runtime "
      "MUST generate an error.")
def _(t):
    b = t.bundle("exit", "0")
    with open(os.path.join(b.rootfs, "servin-dev"), "w") as f:
        f.write("a regular file")
    b.linux["devices"] = [{"path": "/servin-dev", "type": "c", "major": 1, "minor": 3}]
    r = t.run(b)
    t.check(r.rc != 0, "a device was configured over an existing regular file without error")


@case("linux.default-devices", "config-linux.md#default-devices", "MUST",
      "The runtime MUST supply /dev/null, zero, full, random, urandom, tty and /dev/ptmx "
      "(a bind-mount or symlink of /dev/pts/ptmx).")
def _(t):
    want = {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7), "/dev/random": (1, 8),
            "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}
    args = []
    for p in want:
        args += ["stat", p]
    args += ["lstat", "/dev/ptmx", "readlink", "/dev/ptmx", "stat", "/dev/ptmx"]
    rep = t.run_ok(t.bundle(*args))
    for p, (ma, mi) in want.items():
        s = _stat(rep, p)
        t.check(s and (s["type"], s["major"], s["minor"]) == ("c", str(ma), str(mi)), f"{p}: {s}")
    lt = (rep.get("lstat./dev/ptmx") or "!").split(":")[0]
    link = rep.get("readlink./dev/ptmx", "")
    st = _stat(rep, "/dev/ptmx")
    t.check((lt == "l" and link in ("pts/ptmx", "/dev/pts/ptmx")) or
            (st and (st["type"], st["major"], st["minor"]) == ("c", "5", "2")),
            f"/dev/ptmx: lstat {rep.get('lstat./dev/ptmx')}, link {link!r}")


# -- cgroups ------------------------------------------------------------------

def _cgroup_of(pid):
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in (ctrls.split(",") if ctrls else [""]):
                out[c] = path
    return out


def _cg_file(t, pid, controller, name):
    """Read a cgroup v1 file of ``pid``'s cgroup for ``controller``."""
    mp = _host.v1_controllers().get(controller)
    path = _cgroup_of(pid).get(controller)
    t.check(mp and path is not None, f"no {controller} cgroup for pid {pid}")
    full = os.path.join(mp, path.lstrip("/"), name)
    t.check(os.path.exists(full), f"{full} does not exist")
    with open(full) as f:
        return f.read().strip()


def _cg_container(t, resources, controller):
    t.need_cgroups()
    t.skip_if(_host.controller(controller))
    if _host.cgroup_layout() == "unified":
        t.skip("the suite checks cgroup resources through cgroup v1 files; this host is unified")
    b = t.bundle("sleep", "30")
    b.linux["resources"].update(resources)
    cid, _ = t.create(b)
    return cid, t.state(cid)["pid"]


@case("linux.cgroups-path", "config-linux.md#cgroups-path", "MUST",
      "cgroupsPath: the runtime MUST place the container in the cgroup at that path (absolute: "
      "relative to the cgroup mount point).")
def _(t):
    t.need_cgroups()
    t.skip_if(_host.controller("pids"))
    b = t.bundle("sleep", "30")
    cid = t.new_id()
    b.linux["cgroupsPath"] = f"/{cid}"
    t.create(b, cid=cid)
    pid = t.state(cid)["pid"]
    cg = _cgroup_of(pid)
    t.check(cg.get("pids") == f"/{cid}", f"pids cgroup of the container: {cg.get('pids')!r}")


@case("linux.cgroups-memory", "config-linux.md#memory", "MUST",
      "memory.limit / reservation / swappiness set the memory cgroup's limits.")
def _(t):
    mem = {"limit": 64 << 20, "reservation": 32 << 20, "swappiness": 10}
    cid, pid = _cg_container(t, {"memory": mem}, "memory")
    t.check(_cg_file(t, pid, "memory", "memory.limit_in_bytes") == str(64 << 20), "memory.limit_in_bytes")
    t.check(_cg_file(t, pid, "memory", "memory.soft_limit_in_bytes") == str(32 << 20),
            "memory.soft_limit_in_bytes")
    t.check(_cg_file(t, pid, "memory", "memory.swappiness") == "10", "memory.swappiness")


@case("linux.cgroups-memory-unlimited", "config-linux.md#memory", "MUST",
      "Values for memory specify the limit in bytes, or -1 for unlimited memory.")
def _(t):
    cid, pid = _cg_container(t, {"memory": {"limit": -1}}, "memory")
    got = int(_cg_file(t, pid, "memory", "memory.limit_in_bytes"))
    t.check(got >= 1 << 62, f"memory.limit_in_bytes = {got}: not unlimited")


@case("linux.cgroups-memory-oom", "config-linux.md#memory", "MUST",
      "memory.disableOOMKiller disables the OOM killer for the cgroup; memory.swap sets "
      "memory+swap.")
def _(t):
    t.need_cgroups()
    mp = _host.v1_controllers().get("memory")
    if mp and not os.path.exists(os.path.join(mp, "memory.memsw.limit_in_bytes")):
        t.skip(f"no swap accounting on this host ({mp}/memory.memsw.limit_in_bytes is absent)")
    mem = {"limit": 64 << 20, "swap": 96 << 20, "disableOOMKiller": True}
    cid, pid = _cg_container(t, {"memory": mem}, "memory")
    ctl = _cg_file(t, pid, "memory", "memory.oom_control")
    t.check("oom_kill_disable 1" in ctl, f"memory.oom_control: {ctl!r}")
    sw = _cg_file(t, pid, "memory", "memory.memsw.limit_in_bytes")
    t.check(sw == str(96 << 20), f"memory.memsw.limit_in_bytes = {sw}")


@case("linux.cgroups-cpu", "config-linux.md#cpu", "MUST",
      "cpu.shares / quota / period set the cpu cgroup.")
def _(t):
    cid, pid = _cg_container(t, {"cpu": {"shares": 512, "quota": 20000, "period": 100000}}, "cpu")
    for name, want in (("cpu.shares", "512"), ("cpu.cfs_quota_us", "20000"),
                       ("cpu.cfs_period_us", "100000")):
        got = _cg_file(t, pid, "cpu", name)
        t.check(got == want, f"{name} = {got}, want {want}")


@case("linux.cgroups-cpuset", "config-linux.md#cpu", "MUST",
      "cpu.cpus / mems set the cpuset cgroup.")
def _(t):
    cid, pid = _cg_container(t, {"cpu": {"cpus": "0", "mems": "0"}}, "cpuset")
    t.check(_cg_file(t, pid, "cpuset", "cpuset.cpus") == "0", "cpuset.cpus")
    t.check(_cg_file(t, pid, "cpuset", "cpuset.mems") == "0", "cpuset.mems")


@case("linux.cgroups-pids", "config-linux.md#pids", "MUST",
      "pids.limit sets the maximum number of tasks in the cgroup.")
def _(t):
    cid, pid = _cg_container(t, {"pids": {"limit": 42}}, "pids")
    got = _cg_file(t, pid, "pids", "pids.max")
    t.check(got == "42", f"pids.max = {got}")


@case("linux.cgroups-blkio-weight", "config-linux.md#block-io", "MUST",
      "blockIO.weight sets the cgroup's block IO weight.")
def _(t):
    t.need_cgroups()
    mp = _host.v1_controllers().get("blkio")
    if mp and not os.path.exists(os.path.join(mp, "blkio.weight")):
        t.skip(f"no proportional block IO weight on this host ({mp}/blkio.weight is absent: "
               "no CFQ/BFQ scheduler)")
    cid, pid = _cg_container(t, {"blockIO": {"weight": 300}}, "blkio")
    t.check(_cg_file(t, pid, "blkio", "blkio.weight") == "300", "blkio.weight")


@case("linux.cgroups-blkio-throttle", "config-linux.md#block-io", "MUST",
      "blockIO.throttleReadBpsDevice sets the per-device read rate limit.")
def _(t):
    t.need_cgroups()
    devs = sorted(os.listdir("/sys/block")) if os.path.isdir("/sys/block") else []
    devs = [d for d in devs if not d.startswith(("loop", "ram"))]
    if not devs:
        t.skip("no block device on this host (/sys/block)")
    with open(f"/sys/block/{devs[0]}/dev") as f:
        major, minor = map(int, f.read().strip().split(":"))
    res = {"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]}}
    cid, pid = _cg_container(t, res, "blkio")
    got = _cg_file(t, pid, "blkio", "blkio.throttle.read_bps_device")
    t.check(f"{major}:{minor} 1048576" in got, f"blkio.throttle.read_bps_device: {got!r}")


@case("linux.cgroups-hugetlb", "config-linux.md#huge-page-limits", "MUST",
      "hugepageLimits set the hugetlb cgroup's limits.")
def _(t):
    t.need_cgroups()
    t.skip_if(_host.hugetlb())
    cid, pid = _cg_container(t, {"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}, "hugetlb")
    got = _cg_file(t, pid, "hugetlb", "hugetlb.2MB.limit_in_bytes")
    t.check(got == "2097152", f"hugetlb.2MB.limit_in_bytes = {got}")


@case("linux.cgroups-network", "config-linux.md#network", "MUST",
      "network.classID sets the net_cls cgroup's class id.")
def _(t):
    t.need_cgroups()
    t.skip_if(_host.controller("net_cls"))
    cid, pid = _cg_container(t, {"network": {"classID": 1048577}}, "net_cls")
    t.check(_cg_file(t, pid, "net_cls", "net_cls.classid") == "1048577", "net_cls.classid")


@case("linux.cgroups-devices", "config-linux.md#allowed-device-list", "MUST",
      "The device allowlist is applied in the listed order: [deny all, allow c 1:11 w] lets the "
      "container open that node (/dev/kmsg) for writing; [allow c 1:11 w, deny all] refuses it "
      "(EPERM).")
def _(t):
    t.need_cgroups()
    t.skip_if(_host.controller("devices"))
    allow = {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"}
    deny = {"allow": False, "access": "rwm"}
    results = {}
    for label, rules in (("allow-last", [deny, allow]), ("deny-last", [allow, deny])):
        b = t.bundle("write", "/nodes/kmsg")
        # The node is made on the host in the rootfs (outside /dev, which is a
        # tmpfs): only the device cgroup decides whether it can be opened.
        os.makedirs(os.path.join(b.rootfs, "nodes"))
        os.mknod(os.path.join(b.rootfs, "nodes", "kmsg"), 0o666 | stat.S_IFCHR, os.makedev(1, 11))
        b.linux["resources"]["devices"] = rules
        rep = t.run_ok(b)
        results[label] = rep.get("write./nodes/kmsg", "")
    t.check(results["allow-last"] not in ("1", ""),
            f"open with the allow rule last: errno {results['allow-last']} (EPERM: the device cgroup refused)")
    t.check(results["deny-last"] == "1", f"open with the deny rule last: errno {results['deny-last']}, want 1 (EPERM)")


@case("linux.cgroups-unified-v1", "config-linux.md#unified", "MUST",
      "unified (cgroup v2 keys) on a host without cgroup v2 for the container: the runtime MUST "
      "generate an error.")
def _(t):
    t.need_cgroups()
    if _host.cgroup_layout() == "unified":
        t.skip("this host is cgroup v2 unified: the v1 error path cannot be checked")
    b = t.bundle("exit", "0")
    b.linux["resources"]["unified"] = {"pids.max": "10"}
    r = t.run(b)
    t.check(r.rc != 0, "linux.resources.unified was accepted on a cgroup v1 host")


@case("linux.cgroups-error-leaves-nothing", "runtime.md#errors", "MUST",
      "A create that fails on its cgroup settings MUST leave the environment as if it had never "
      "been attempted: no cgroup of the container is left in any hierarchy.")
def _(t):
    t.need_cgroups()
    if _host.cgroup_layout() == "unified":
        t.skip("this host is cgroup v2 unified: unified keys do not fail here")
    b = t.bundle("exit", "0")
    b.linux["resources"]["unified"] = {"pids.max": "10"}
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "linux.resources.unified was accepted on a cgroup v1 host")
    left = _host.cgroup_dirs_named(cid)
    t.check(not left, f"cgroups left behind by the failed create: {left}")
    t.check(t.state(cid) is None, "the failed container still has a state")


# -- sysctl, seccomp ------------------------------------------------------------

@case("linux.sysctl", "config-linux.md#sysctl", "MUST",
      "sysctl: kernel parameters are modified for the container (net.ipv4.ip_forward, kernel.msgmax).")
def _(t):
    b = t.bundle("sysctl", "net.ipv4.ip_forward", "sysctl", "kernel.msgmax")
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"}
    rep = t.run_ok(b)
    t.check(rep.get("sysctl.net.ipv4.ip_forward") == "1",
            f"net.ipv4.ip_forward = {rep.get('sysctl.net.ipv4.ip_forward')}")
    t.check(rep.get("sysctl.kernel.msgmax") == "4096", f"kernel.msgmax = {rep.get('sysctl.kernel.msgmax')}")


def _seccomp(b, syscalls, default="SCMP_ACT_ALLOW", **extra):
    b.linux["seccomp"] = {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"],
                          "syscalls": syscalls, **extra}


@case("linux.seccomp-errno", "config-linux.md#seccomp", "MUST",
      "seccomp: a syscall matched by a rule gets the rule's action (SCMP_ACT_ERRNO, errnoRet 38); "
      "others follow defaultAction.")
def _(t):
    b = t.bundle("syscall", "mkdir", "syscall", "getcwd", "status")
    _seccomp(b, [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}])
    rep = t.run_ok(b)
    t.check(rep.get("syscall.mkdir") == "38", f"mkdir errno {rep.get('syscall.mkdir')}, want 38")
    t.check(rep.get("syscall.getcwd") == "0", f"getcwd errno {rep.get('syscall.getcwd')}")
    t.check(rep.get("Seccomp") == "2", f"Seccomp mode {rep.get('Seccomp')}")


@case("linux.seccomp-errno-default", "config-linux.md#seccomp", "MUST",
      "SCMP_ACT_ERRNO without errnoRet returns EPERM.")
def _(t):
    b = t.bundle("syscall", "mkdir")
    _seccomp(b, [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"}])
    rep = t.run_ok(b)
    t.check(rep.get("syscall.mkdir") == "1", f"mkdir errno {rep.get('syscall.mkdir')}, want 1 (EPERM)")


@case("linux.seccomp-args", "config-linux.md#seccomp", "MUST",
      "seccomp rules with args match on syscall arguments (fchownat only with dirfd AT_FDCWD).")
def _(t):
    b = t.bundle("syscall", "fchownat", "syscall", "mkdir")
    at_fdcwd = (1 << 64) - 100  # -100 as the unsigned 64-bit value
    _seccomp(b, [{"names": ["fchownat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                  "args": [{"index": 0, "value": at_fdcwd, "op": "SCMP_CMP_EQ"}]},
                 {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                  "args": [{"index": 0, "value": 12345, "op": "SCMP_CMP_EQ"}]}])
    rep = t.run_ok(b)
    t.check(rep.get("syscall.fchownat") == "22", f"fchownat errno {rep.get('syscall.fchownat')}, want 22")
    t.check(rep.get("syscall.mkdir") == "0", f"mkdirat (args not matching) errno {rep.get('syscall.mkdir')}")


UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"


def _all_syscalls(t):
    """Every x86_64 syscall name, from the kernel headers on the host."""
    if os.uname().machine != "x86_64":
        t.skip(f"the syscall list is read for x86_64; this host is {os.uname().machine}")
    if not os.path.exists(UNISTD):
        t.skip(f"no syscall list on this host ({UNISTD} is absent: apt-get install linux-libc-dev)")
    names = []
    with open(UNISTD) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
                names.append(parts[1][5:])
    return names


@case("linux.seccomp-default-errno-ret", "config-linux.md#seccomp", "MUST",
      "defaultErrnoRet is the errno returned by the defaultAction SCMP_ACT_ERRNO (every syscall "
      "but mkdir/mkdirat allowed).")
def _(t):
    names = [n for n in _all_syscalls(t) if n not in ("mkdir", "mkdirat")]
    b = t.bundle("syscall", "mkdir")
    _seccomp(b, [{"names": names, "action": "SCMP_ACT_ALLOW"}], default="SCMP_ACT_ERRNO",
             defaultErrnoRet=95)
    rep = t.run_ok(b)
    t.check(rep.get("syscall.mkdir") == "95", f"mkdirat errno {rep.get('syscall.mkdir')}, want 95")


@case("linux.seccomp-errnoret-unsupported", "config-linux.md#seccomp", "MUST",
      "errnoRet on an action that doesn't support an errno (SCMP_ACT_ALLOW): the runtime MUST "
      "print an error and fail.")
def _(t):
    b = t.bundle("exit", "0")
    _seccomp(b, [{"names": ["mkdirat"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}],
             default="SCMP_ACT_ALLOW")
    r = t.run(b)
    t.check(r.rc != 0, "errnoRet on SCMP_ACT_ALLOW was accepted")


def _listener(t):
    """A unix stream socket that records what the runtime sends: the JSON
    payload and the number of descriptors passed with SCM_RIGHTS."""
    import socket
    import threading
    path = os.path.join(t.workdir, "seccomp.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(15)
    got = {"conns": []}

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                data, fds = b"", []
                conn.settimeout(5)
                try:
                    while True:
                        chunk, more, _, _ = socket.recv_fds(conn, 65536, 8)
                        if not chunk and not more:
                            break
                        data += chunk
                        fds += more
                except OSError:
                    pass
                for fd in fds:
                    os.close(fd)  # closing the notify fd fails the trapped syscall
                got["conns"].append((data, len(fds)))

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    t.on_cleanup(srv.close)
    return path, got


@case("linux.seccomp-notify-listener", "config-linux.md#seccomp", "MUST",
      "With SCMP_ACT_NOTIFY the runtime MUST send exactly one container process state per "
      "connection to listenerPath, with the seccomp fd (SCM_RIGHTS) named seccompFd.")
def _(t):
    import json
    path, got = _listener(t)
    b = t.bundle("syscall", "mkdir")
    _seccomp(b, [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_NOTIFY"}],
             listenerPath=path, listenerMetadata="servin-meta")
    r = t.run(b)
    t.check(r.ok, f"run with a seccomp listener failed: exit {r.rc}: {r.err.strip()[-300:]}")
    t.check(len(got["conns"]) == 1, f"{len(got['conns'])} connections to the listener")
    data, nfds = got["conns"][0]
    try:
        msg = json.loads(data)
    except ValueError:
        t.fail(f"the listener got no JSON: {data[:200]!r}")
    t.check(nfds >= 1 and msg.get("fds") and msg["fds"][0] == "seccompFd",
            f"fds {msg.get('fds')}, {nfds} descriptors received")
    t.check(isinstance(msg.get("pid"), int) and "ociVersion" in msg, f"process state: {msg}")
    t.check(isinstance(msg.get("state"), dict) and msg["state"].get("id"), f"state: {msg.get('state')}")
    t.check(msg.get("metadata") == "servin-meta", f"metadata {msg.get('metadata')!r}")


@case("linux.seccomp-notify-listener-missing", "config-linux.md#seccomp", "MUST",
      "If sending to listenerPath fails, the runtime MUST generate an error.")
def _(t):
    b = t.bundle("exit", "0")
    _seccomp(b, [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
             listenerPath=os.path.join(t.workdir, "no-such.sock"))
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "create succeeded without a seccomp listener to send to")


@case("linux.seccomp-without-nnp", "config-linux.md#seccomp", "MUST",
      "The seccomp filter is applied also when noNewPrivileges is false.")
def _(t):
    b = t.bundle("syscall", "mkdir", "status")
    b.process["noNewPrivileges"] = False
    _seccomp(b, [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}])
    rep = t.run_ok(b)
    t.check(rep.get("syscall.mkdir") == "38", f"mkdir errno {rep.get('syscall.mkdir')}, want 38")
    t.check(rep.get("NoNewPrivs") == "0", f"NoNewPrivs {rep.get('NoNewPrivs')}")


@case("linux.seccomp-invalid-action", "config.md#valid-values", "MUST",
      "Runtimes MUST generate an error on an invalid value (seccomp action SCMP_ACT_BOGUS).")
def _(t):
    b = t.bundle("exit", "0")
    _seccomp(b, [{"names": ["mkdirat"], "action": "SCMP_ACT_BOGUS"}])
    r = t.run(b)
    t.check(r.rc != 0, "seccomp action SCMP_ACT_BOGUS was accepted")


# -- rootfs propagation ------------------------------------------------------------

def _root_mount(t, pid):
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == "/":
                dash = parts.index("-")
                return parts[6:dash]
    t.fail("the container has no / in its mountinfo")


def _shared_rootfs(t, rootfs):
    """Make the rootfs a mount point of its own in a shared peer group on
    the host (as an overlay rootfs made by an engine usually is), so that
    propagation from the host into the container can be observed."""
    subprocess.run(["mount", "--bind", rootfs, rootfs], check=True)
    t.on_cleanup(lambda: subprocess.run(["umount", "-l", rootfs], capture_output=True))
    subprocess.run(["mount", "--make-shared", rootfs], check=True)


def _propagation_case(t, mode):
    b = t.bundle("sleep", "30")
    os.makedirs(os.path.join(b.rootfs, "mnt", "probe"), exist_ok=True)
    _shared_rootfs(t, b.rootfs)
    b.linux["rootfsPropagation"] = mode
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    fields = _root_mount(t, pid)
    probe = os.path.join(b.rootfs, "mnt", "probe")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "servin-probe", probe], check=True)
    try:
        time.sleep(0.1)
        with open(f"/proc/{pid}/mountinfo") as f:
            seen = any(" servin-probe " in line for line in f)
    finally:
        subprocess.run(["umount", "-l", probe], capture_output=True)
    return fields, seen


@case("linux.rootfs-propagation-private", "config-linux.md#rootfs-mount-propagation", "MUST",
      "rootfsPropagation private: the rootfs receives no mount events from the host.")
def _(t):
    fields, seen = _propagation_case(t, "private")
    t.check(not any(f.startswith(("shared:", "master:")) for f in fields), f"/ optional fields {fields}")
    t.check(not seen, "a host mount under the rootfs appeared in the container")


@case("linux.rootfs-propagation-slave", "config-linux.md#rootfs-mount-propagation", "MUST",
      "rootfsPropagation slave: the rootfs receives mount events from the host but not the other "
      "way around.")
def _(t):
    fields, seen = _propagation_case(t, "slave")
    t.check(any(f.startswith("master:") for f in fields) and
            not any(f.startswith("shared:") for f in fields), f"/ optional fields {fields}")
    t.check(seen, "a host mount under the rootfs did not appear in the container")


@case("linux.rootfs-propagation-shared", "config-linux.md#rootfs-mount-propagation", "MUST",
      "rootfsPropagation shared: the rootfs mount belongs to a peer group.")
def _(t):
    fields, seen = _propagation_case(t, "shared")
    t.check(any(f.startswith("shared:") for f in fields), f"/ optional fields {fields}")


@case("linux.rootfs-propagation-unbindable", "config-linux.md#rootfs-mount-propagation", "MUST",
      "rootfsPropagation unbindable: the rootfs mount is a private mount that cannot be bind-mounted.")
def _(t):
    fields, seen = _propagation_case(t, "unbindable")
    t.check("unbindable" in fields, f"/ optional fields {fields}")
    t.check(not seen, "a host mount under the rootfs appeared in the container")


@case("linux.rootfs-propagation-invalid", "config.md#valid-values", "MUST",
      "Runtimes MUST generate an error on an invalid value (rootfsPropagation 'sideways').")
def _(t):
    b = t.bundle("exit", "0")
    b.linux["rootfsPropagation"] = "sideways"
    r = t.run(b)
    t.check(r.rc != 0, "rootfsPropagation 'sideways' was accepted")


# -- masked and read-only paths ------------------------------------------------------

@case("linux.masked-paths", "config-linux.md#masked-paths", "MUST",
      "maskedPaths: the runtime MUST mask over the paths so that they cannot be read (a file "
      "reads empty, a directory lists empty).")
def _(t):
    b = t.bundle("read", "/secret", "entries", "/secretdir", "read", "/proc/kcore")
    with open(os.path.join(b.rootfs, "secret"), "w") as f:
        f.write("confidential")
    os.makedirs(os.path.join(b.rootfs, "secretdir"))
    with open(os.path.join(b.rootfs, "secretdir", "inside"), "w") as f:
        f.write("confidential")
    b.linux["maskedPaths"] = ["/secret", "/secretdir", "/proc/kcore"]
    rep = t.run_ok(b)
    t.check(rep.get("read./secret", "").endswith(":0"), f"reading /secret: {rep.get('read./secret')}")
    t.check(rep.get("entries./secretdir") == "0", f"/secretdir entries: {rep.get('entries./secretdir')}")
    t.check(rep.get("read./proc/kcore", "").endswith(":0"), f"reading /proc/kcore: {rep.get('read./proc/kcore')}")


@case("linux.readonly-paths", "config-linux.md#readonly-paths", "MUST",
      "readonlyPaths: the runtime MUST set the paths read-only inside the container.")
def _(t):
    b = t.bundle("create", "/data/new", "write", "/proc/sys/kernel/hostname", "create", "/tmp/ok")
    os.makedirs(os.path.join(b.rootfs, "data"))
    b.linux["readonlyPaths"] = ["/data", "/proc/sys"]
    rep = t.run_ok(b)
    t.check(rep.get("create./data/new") == "30", f"creating /data/new: errno {rep.get('create./data/new')}")
    t.check(rep.get("write./proc/sys/kernel/hostname") == "30",
            f"writing /proc/sys/kernel/hostname: errno {rep.get('write./proc/sys/kernel/hostname')}")
    t.check(rep.get("create./tmp/ok") == "0", f"creating /tmp/ok: errno {rep.get('create./tmp/ok')}")


@case("linux.mount-label", "config-linux.md#mount-label", "MUST",
      "mountLabel sets the SELinux context of the container's mounts (a tmpfs gets context=).")
def _(t):
    t.skip_if(_host.selinux())
    b = t.bundle("mounts")
    b.linux["mountLabel"] = "system_u:object_r:container_file_t:s0"
    b.config["mounts"].append({"destination": "/newmnt", "type": "tmpfs", "source": "tmpfs"})
    rep = t.run_ok(b)
    m = [m for m in rep["mounts"] if m["point"] == "/newmnt"]
    t.check(m and any(o.startswith("context=") for o in m[-1]["super"]),
            f"/newmnt super options: {m[-1]['super'] if m else None}")


@case("linux.intel-rdt-no-resctrl", "config-linux.md#intelrdt", "MUST",
      "If intelRdt is set and no resctrl filesystem is mounted in the runtime mount namespace, "
      "the runtime MUST generate an error.")
def _(t):
    if any(m["type"] == "resctrl" for m in _host.mountinfo()):
        t.skip("a resctrl filesystem is mounted on this host: the error path cannot be checked")
    b = t.bundle("exit", "0")
    b.linux["intelRdt"] = {"closID": "servin-conformance", "l3CacheSchema": "L3:0=f"}
    r = t.run(b)
    t.check(r.rc != 0, "intelRdt was accepted without a resctrl filesystem")


# -- personality, time ---------------------------------------------------------------

@case("linux.personality", "config-linux.md#personality", "MUST",
      "personality domain LINUX32 sets the execution domain of the process (PER_LINUX32).")
def _(t):
    b = t.bundle("personality")
    b.linux["personality"] = {"domain": "LINUX32"}
    rep = t.run_ok(b)
    t.check(rep.get("personality") == "0x8", f"personality {rep.get('personality')}, want 0x8")


@case("linux.personality-invalid", "config.md#valid-values", "MUST",
      "Runtimes MUST generate an error on an invalid value (personality domain 'BOGUS').")
def _(t):
    b = t.bundle("exit", "0")
    b.linux["personality"] = {"domain": "BOGUS"}
    r = t.run(b)
    t.check(r.rc != 0, "personality domain BOGUS was accepted")


@case("linux.time-offsets", "config-linux.md#offset-for-time-namespace", "MUST",
      "timeOffsets shift CLOCK_MONOTONIC and CLOCK_BOOTTIME in the container's time namespace.")
def _(t):
    t.skip_if(_host.time_namespace())
    day = 86400
    b = t.bundle("clock")
    b.set_namespace("time")
    b.linux["timeOffsets"] = {"monotonic": {"secs": 10 * day}, "boottime": {"secs": 20 * day}}
    host_mono = time.clock_gettime(time.CLOCK_MONOTONIC)
    host_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    rep = t.run_ok(b)
    mono = int(rep.get("clock.monotonic", "0"))
    boot = int(rep.get("clock.boottime", "0"))
    t.check(abs(mono - host_mono - 10 * day) < 60, f"monotonic {mono}, host {host_mono:.0f} + 10 days")
    t.check(abs(boot - host_boot - 20 * day) < 60, f"boottime {boot}, host {host_boot:.0f} + 20 days")
