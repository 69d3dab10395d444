"""config.md: the platform-independent fields (and the POSIX process)."""
import os
import time

from . import _host
from ._context import parse_report
from ._registry import case

EROFS = "30"
EACCES = "13"
EPERM = "1"


@case("config.ociversion-newer-compatible", "config.md#specification-version", "MUST",
      "ociVersion is SemVer and the spec keeps compatibility within a major version: a newer "
      "1.0 patch (1.0.99) MUST be accepted.")
def _(t):
    b = t.bundle("exit", "0")
    b.config["ociVersion"] = "1.0.99"
    r = t.run(b)
    t.check(r.rc == 0, f"ociVersion 1.0.99 rejected: exit {r.rc}: {r.err.strip()[-300:]}")


@case("config.ociversion-invalid", "config.md#valid-values", "MUST",
      "Runtimes MUST generate an error when invalid values are encountered (ociVersion "
      "'not-a-version' is not SemVer).")
def _(t):
    b = t.bundle("exit", "0")
    b.config["ociVersion"] = "not-a-version"
    r = t.run(b)
    t.check(r.rc != 0, "a config with ociVersion 'not-a-version' was run")


@case("config.ociversion-major", "config.md#valid-values", "MUST",
      "Runtimes MUST generate an error when unsupported values are encountered (ociVersion "
      "2.0.0: an incompatible major version).")
def _(t):
    b = t.bundle("exit", "0")
    b.config["ociVersion"] = "2.0.0"
    r = t.run(b)
    t.check(r.rc != 0, "a config with ociVersion 2.0.0 was run")


@case("config.unknown-properties", "config.md#extensibility", "MUST",
      "Runtimes MUST NOT generate an error on an unknown property; they MUST ignore it.")
def _(t):
    b = t.bundle("exit", "0")
    b.config["org.servin.unknown"] = {"x": 1}
    b.process["org.servin.unknown"] = True
    b.linux["org.servin.unknown"] = [1, 2]
    r = t.run(b)
    t.check(r.rc == 0, f"unknown properties rejected: exit {r.rc}: {r.err.strip()[-300:]}")


@case("config.invalid-value", "config.md#valid-values", "MUST",
      "Runtimes MUST generate an error when invalid values are encountered (namespace type "
      "'bogus').")
def _(t):
    b = t.bundle("exit", "0")
    b.linux["namespaces"].append({"type": "bogus"})
    r = t.run(b)
    t.check(r.rc != 0, "a namespace of type 'bogus' was accepted")


@case("config.annotations-unknown-keys", "config.md#annotations", "MUST",
      "Implementations MUST NOT generate an error if they encounter an unknown annotation key.")
def _(t):
    b = t.bundle("exit", "0")
    b.config["annotations"] = {"org.servin.never-heard-of": "1", "io.example/odd key": "x"}
    r = t.run(b)
    t.check(r.rc == 0, f"unknown annotations rejected: exit {r.rc}: {r.err.strip()[-300:]}")


@case("config.root-path", "config.md#root", "MUST",
      "root.path is the path to the container's root filesystem (relative to the bundle).")
def _(t):
    b = t.bundle("stat", "/marker")
    with open(os.path.join(b.rootfs, "marker"), "w") as f:
        f.write("x")
    rep = t.run_ok(b)
    t.check(rep.get("stat./marker", "").startswith("f:"), f"/marker in the container: {rep}")


@case("config.root-path-absolute", "config.md#root", "MUST",
      "root.path may be an absolute path on the host.")
def _(t):
    b = t.bundle("stat", "/marker")
    elsewhere = os.path.join(t.workdir, "rootfs-elsewhere")
    os.rename(b.rootfs, elsewhere)
    with open(os.path.join(elsewhere, "marker"), "w") as f:
        f.write("x")
    b.config["root"]["path"] = elsewhere
    b.rootfs = elsewhere
    rep = t.run_ok(b)
    t.check(rep.get("stat./marker", "").startswith("f:"), f"/marker in the container: {rep}")


@case("config.root-missing", "runtime.md#lifecycle", "MUST",
      "If the runtime is unable to create the environment (root.path does not exist) it MUST "
      "generate an error.")
def _(t):
    b = t.bundle("exit", "0")
    b.config["root"]["path"] = "no-such-rootfs"
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "create with a missing root.path succeeded")
    t.check(t.state(cid) is None, "a container exists after the failed create")


@case("config.root-readonly", "config.md#root", "MUST",
      "If root.readonly is true then the root filesystem MUST be read-only inside the container.")
def _(t):
    b = t.bundle("create", "/newfile", "write", "/bin/busybox")
    b.config["root"]["readonly"] = True
    rep = t.run_ok(b)
    t.check(rep.get("create./newfile") == EROFS, f"creating /newfile: errno {rep.get('create./newfile')}")
    t.check(rep.get("write./bin/busybox") == EROFS,
            f"opening /bin/busybox for writing: errno {rep.get('write./bin/busybox')}")


@case("config.root-readwrite", "config.md#root", "MUST",
      "With root.readonly false the root filesystem is writable.")
def _(t):
    b = t.bundle("create", "/newfile")
    rep = t.run_ok(b)
    t.check(rep.get("create./newfile") == "0", f"creating /newfile: errno {rep.get('create./newfile')}")


def _mount(rep, point):
    ms = [m for m in rep["mounts"] if m["point"] == point]
    return ms[-1] if ms else None


@case("config.mounts-order", "config.md#mounts", "MUST",
      "The runtime MUST mount entries in the listed order (the later of two mounts on one "
      "destination is on top).")
def _(t):
    b = t.bundle("mounts")
    os.makedirs(os.path.join(b.rootfs, "mnt"), exist_ok=True)
    b.config["mounts"] += [
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]},
    ]
    rep = t.run_ok(b)
    ms = [m for m in rep["mounts"] if m["point"] == "/mnt"]
    sizes = [o for m in ms for o in m["super"] if o.startswith("size=")]
    t.check(sizes == ["size=1024k", "size=2048k"], f"tmpfs mounts on /mnt in mount order: {sizes}")


@case("config.mounts-nested-order", "config.md#mounts", "MUST",
      "The runtime MUST mount entries in the listed order (a mount inside an earlier one is visible).")
def _(t):
    b = t.bundle("mounts", "stat", "/mnt/inner/marker")
    src = t.tmpdir("inner")
    with open(os.path.join(src, "marker"), "w") as f:
        f.write("x")
    os.makedirs(os.path.join(b.rootfs, "mnt"), exist_ok=True)
    b.config["mounts"] += [
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/mnt/inner", "type": "bind", "source": src, "options": ["rbind"]},
    ]
    rep = t.run_ok(b)
    t.check(rep.get("stat./mnt/inner/marker", "").startswith("f:"),
            f"/mnt/inner/marker: {rep.get('stat./mnt/inner/marker')}")


@case("config.mounts-bind-ro", "config.md#mounts", "MUST",
      "Mount options are applied as in mount(2)/mount(8): a bind mount with ro is read-only.")
def _(t):
    src = t.tmpdir("data")
    b = t.bundle("create", "/data/new", "read", "/data/file")
    with open(os.path.join(src, "file"), "w") as f:
        f.write("hello")
    b.add_bind(src, "/data", options=("rbind", "ro"))
    rep = t.run_ok(b)
    t.check(rep.get("read./data/file") == "0:5", f"reading the bound file: {rep.get('read./data/file')}")
    t.check(rep.get("create./data/new") == EROFS, f"creating in the ro bind: {rep.get('create./data/new')}")


@case("config.mounts-options", "config.md#mounts", "MUST",
      "Mount options (nosuid, nodev, noexec, mode=) are applied to the mount.")
def _(t):
    # The destination does not exist in the rootfs: runc gives a tmpfs
    # the mode of a pre-existing mount point, overriding mode=.
    b = t.bundle("mounts", "stat", "/newmnt")
    b.config["mounts"].append({"destination": "/newmnt", "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "nodev", "noexec", "mode=0710"]})
    rep = t.run_ok(b)
    m = _mount(rep, "/newmnt")
    t.check(m is not None, "no mount on /newmnt")
    for o in ("nosuid", "nodev", "noexec"):
        t.check(o in m["opts"], f"/newmnt options {m['opts']} lack {o}")
    t.check(rep.get("stat./newmnt", "").startswith("d:710:"), f"/newmnt: {rep.get('stat./newmnt')}")


@case("config.mounts-destination-created", "config.md#mounts", "MUST",
      "A mount whose destination does not exist in the rootfs is still mounted (the runtime "
      "creates the mount point).")
def _(t):
    b = t.bundle("mounts")
    b.config["mounts"].append({"destination": "/new/point", "type": "tmpfs", "source": "tmpfs"})
    rep = t.run_ok(b)
    t.check(_mount(rep, "/new/point") is not None, "no mount on /new/point")


@case("config.process-args", "config.md#process", "MUST",
      "args: the runtime MUST run the program with these arguments (execvp semantics).")
def _(t):
    rep = t.run_ok(t.bundle("/bin/servin-checker", "env", "HOME", "pid"))
    t.check("pid" in rep, f"checker output: {rep}")


@case("config.process-args-path", "config.md#process", "MUST",
      "args[0] without a slash is looked up in the PATH of process.env (execvp semantics).")
def _(t):
    b = t.bundle("/bin/servin-checker", "pid")
    b.process["args"] = ["servin-checker", "pid"]
    rep = t.run_ok(b)
    t.check("pid" in rep, f"checker output: {rep}")


@case("config.process-cwd", "config.md#process", "MUST",
      "cwd is the working directory that will be set for the executable.")
def _(t):
    b = t.bundle("cwd")
    os.makedirs(os.path.join(b.rootfs, "work", "dir"))
    b.process["cwd"] = "/work/dir"
    rep = t.run_ok(b)
    t.check(rep.get("cwd") == "/work/dir", f"cwd {rep.get('cwd')!r}")


@case("config.process-env", "config.md#process", "MUST",
      "env: the variables are set in the process environment (environ semantics).")
def _(t):
    b = t.bundle("env", "SERVIN_A", "env", "SERVIN_B")
    b.process["env"] += ["SERVIN_A=one", "SERVIN_B=two=2"]
    rep = t.run_ok(b)
    t.check(rep.get("env.SERVIN_A") == "one" and rep.get("env.SERVIN_B") == "two=2",
            f"env: {rep.get('env.SERVIN_A')!r}, {rep.get('env.SERVIN_B')!r}")


@case("config.process-exit-code", "runtime.md#lifecycle", "MUST",
      "The container process's exit is observable: run returns the program's exit status.")
def _(t):
    r = t.run(t.bundle("exit", "7"))
    t.check(r.rc == 7, f"run exited {r.rc}, the program exited 7")


@case("config.user-uid-gid", "config.md#user", "MUST",
      "uid/gid: the process runs with this user and group ID in the container namespace.")
def _(t):
    b = t.bundle("id")
    b.process["user"] = {"uid": 1000, "gid": 1001}
    rep = t.run_ok(b)
    t.check((rep.get("uid"), rep.get("euid"), rep.get("gid"), rep.get("egid")) ==
            ("1000", "1000", "1001", "1001"), f"ids: {rep}")


@case("config.user-additional-gids", "config.md#user", "MUST",
      "additionalGids are the additional group IDs in the container namespace added to the process.")
def _(t):
    b = t.bundle("id")
    b.process["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]}
    rep = t.run_ok(b)
    groups = set(rep.get("groups", "").split(",")) - {""}
    t.check({"5", "1002"} <= groups, f"groups: {rep.get('groups')!r}")


@case("config.user-umask", "config.md#user", "MUST",
      "umask is the initial value of the process's file mode creation mask.")
def _(t):
    b = t.bundle("umask")
    b.process["user"]["umask"] = 0o027
    rep = t.run_ok(b)
    t.check(rep.get("umask") == "0027", f"umask {rep.get('umask')!r}")


@case("config.rlimits", "config.md#posix-process", "MUST",
      "rlimits: soft and hard limits are set for the process (lowering needs no privilege).")
def _(t):
    b = t.bundle("rlimits")
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
                            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
                            {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]
    rep = t.run_ok(b)
    for k, v in (("RLIMIT_NOFILE", "256:512"), ("RLIMIT_CORE", "0:4096"), ("RLIMIT_NPROC", "500:600")):
        t.check(rep.get(k) == v, f"{k} = {rep.get(k)}, want {v}")


@case("config.rlimits-raise-hard", "config.md#posix-process", "MUST",
      "rlimits: a hard limit above the runtime's own is set (needs CAP_SYS_RESOURCE).")
def _(t):
    t.skip_if(_host.no_sys_resource("raising a hard rlimit"))
    b = t.bundle("rlimits")
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1 << 20}]
    rep = t.run_ok(b)
    t.check(rep.get("RLIMIT_NOFILE") == f"1024:{1 << 20}", f"RLIMIT_NOFILE {rep.get('RLIMIT_NOFILE')}")


@case("config.rlimits-invalid-type", "config.md#posix-process", "MUST",
      "The runtime MUST generate an error for any rlimit type which cannot be mapped to a "
      "relevant kernel interface.")
def _(t):
    b = t.bundle("exit", "0")
    b.process["rlimits"] = [{"type": "RLIMIT_SERVIN_BOGUS", "soft": 1, "hard": 1}]
    r = t.run(b)
    t.check(r.rc != 0, "rlimit type RLIMIT_SERVIN_BOGUS was accepted")


@case("config.rlimits-duplicate", "config.md#posix-process", "MUST",
      "If rlimits contains duplicated entries with the same type, the runtime MUST generate an error.")
def _(t):
    b = t.bundle("exit", "0")
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                            {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]
    r = t.run(b)
    t.check(r.rc != 0, "duplicated RLIMIT_NOFILE entries were accepted")


CAPS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_KILL": 5, "CAP_SETUID": 7,
        "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18,
        "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24, "CAP_AUDIT_WRITE": 29}


def _mask(names):
    m = 0
    for n in names:
        m |= 1 << CAPS[n]
    return m


@case("config.capabilities", "config.md#linux-process", "MUST",
      "capabilities: the bounding, permitted, inheritable and ambient sets are the listed ones "
      "(uid 0: execve makes effective = permitted; it includes the listed effective set).")
def _(t):
    b = t.bundle("status")
    sets = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_KILL"]}
    b.process["capabilities"] = sets
    rep = t.run_ok(b)
    for key, field in (("bounding", "CapBnd"), ("permitted", "CapPrm"),
                       ("inheritable", "CapInh"), ("ambient", "CapAmb")):
        got = int(rep.get(field, "0"), 16)
        want = _mask(sets[key])
        t.check(got == want, f"{field} = {got:#x}, want {want:#x} ({key})")
    eff = int(rep.get("CapEff", "0"), 16)
    t.check(eff & _mask(sets["effective"]) == _mask(sets["effective"]) and
            eff & ~_mask(sets["permitted"]) == 0,
            f"CapEff = {eff:#x}: not between effective {_mask(sets['effective']):#x} and "
            f"permitted {_mask(sets['permitted']):#x}")


@case("config.capabilities-nonroot", "config.md#linux-process", "MUST",
      "capabilities are kept for a non-root process: with all five sets [CAP_KILL, "
      "CAP_NET_BIND_SERVICE] the process has exactly those effective.")
def _(t):
    b = t.bundle("status")
    b.process["user"] = {"uid": 1000, "gid": 1000}
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    b.process["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted",
                                                         "inheritable", "ambient")}
    rep = t.run_ok(b)
    for field in ("CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"):
        got = int(rep.get(field, "0"), 16)
        t.check(got == _mask(caps), f"{field} = {got:#x}, want {_mask(caps):#x}")


@case("config.capabilities-empty", "config.md#linux-process", "MUST",
      "A process with no capabilities listed gets none (uid 0 included).")
def _(t):
    b = t.bundle("status")
    b.process["capabilities"] = {k: [] for k in ("bounding", "effective", "permitted",
                                                 "inheritable", "ambient")}
    rep = t.run_ok(b)
    for field in ("CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"):
        t.check(int(rep.get(field, "1"), 16) == 0, f"{field} = {rep.get(field)}")


@case("config.capabilities-unknown", "config.md#linux-process", "SHOULD",
      "A capability that cannot be mapped to a kernel interface MUST be logged as a warning; "
      "runtimes SHOULD NOT fail.")
def _(t):
    b = t.bundle("status")
    caps = ["CAP_KILL", "CAP_SERVIN_BOGUS"]
    b.process["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    r = t.run(b)
    t.check(r.rc == 0, f"run failed on an unknown capability: {r.err.strip()[-300:]}")


@case("config.capabilities-ungrantable", "config.md#linux-process", "SHOULD",
      "Runtimes SHOULD NOT fail if the configuration requests capabilities that cannot be granted "
      "(one missing from the host's bounding set).")
def _(t):
    missing = [n for n, bit in CAPS.items() if not _host.bounding_set() & (1 << bit)]
    if not missing:
        t.skip(f"every capability is in this host's bounding set (CapBnd="
               f"{_host.status_field('CapBnd')})")
    b = t.bundle("status")
    caps = ["CAP_KILL", missing[0]]
    b.process["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    r = t.run(b)
    t.check(r.rc == 0, f"run failed on {missing[0]} (not grantable here): {r.err.strip()[-300:]}")


@case("config.no-new-privileges", "config.md#linux-process", "MUST",
      "noNewPrivileges true sets no_new_privs for the process.")
def _(t):
    b = t.bundle("status")
    b.process["noNewPrivileges"] = True
    rep = t.run_ok(b)
    t.check(rep.get("NoNewPrivs") == "1", f"NoNewPrivs {rep.get('NoNewPrivs')!r}")


@case("config.no-new-privileges-false", "config.md#linux-process", "MUST",
      "noNewPrivileges false leaves no_new_privs unset.")
def _(t):
    b = t.bundle("status")
    b.process["noNewPrivileges"] = False
    rep = t.run_ok(b)
    t.check(rep.get("NoNewPrivs") == "0", f"NoNewPrivs {rep.get('NoNewPrivs')!r}")


@case("config.oom-score-adj", "config.md#linux-process", "MUST",
      "oomScoreAdj adjusts the oom-killer score in [pid]/oom_score_adj for the process.")
def _(t):
    b = t.bundle("oom")
    b.process["oomScoreAdj"] = 500
    rep = t.run_ok(b)
    t.check(rep.get("oom_score_adj") == "500", f"oom_score_adj {rep.get('oom_score_adj')!r}")


@case("config.oom-score-adj-negative", "config.md#linux-process", "MUST",
      "oomScoreAdj below the runtime's own (negative) is set (needs CAP_SYS_RESOURCE).")
def _(t):
    t.skip_if(_host.no_sys_resource("a negative oomScoreAdj"))
    b = t.bundle("oom")
    b.process["oomScoreAdj"] = -100
    rep = t.run_ok(b)
    t.check(rep.get("oom_score_adj") == "-100", f"oom_score_adj {rep.get('oom_score_adj')!r}")


@case("config.oom-score-adj-unset", "config.md#linux-process", "MUST",
      "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj "
      "(the runtime is started with 123).")
def _(t):
    b = t.bundle("oom")
    b.process.pop("oomScoreAdj", None)
    b.write()
    cid = t.new_id()
    r = t.rt.run("run", "--bundle", b.path, cid, oom_score_adj=123,
                 out_path=os.path.join(b.path, f"run-{cid}"))
    t.check(r.ok, f"run failed: {r.err.strip()[-300:]}")
    rep = r.report()
    t.check(rep.get("oom_score_adj") == "123", f"oom_score_adj {rep.get('oom_score_adj')!r}, "
                                               "the runtime had 123")


@case("config.scheduler", "config.md#linux-process", "MUST",
      "scheduler sets the scheduling policy and nice value of the process (SCHED_BATCH, nice 5).")
def _(t):
    b = t.bundle("sched")
    b.process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    rep = t.run_ok(b)
    t.check((rep.get("sched.policy"), rep.get("sched.nice")) == ("3", "5"),
            f"policy {rep.get('sched.policy')} (SCHED_BATCH is 3), nice {rep.get('sched.nice')}")


@case("config.io-priority", "config.md#linux-process", "MUST",
      "ioPriority sets the I/O scheduling class and priority (IOPRIO_CLASS_BE, 6).")
def _(t):
    b = t.bundle("ioprio")
    b.process["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    rep = t.run_ok(b)
    want = (2 << 13) | 6
    t.check(rep.get("ioprio") == str(want), f"ioprio {rep.get('ioprio')}, want {want} (BE, 6)")


@case("config.apparmor", "config.md#linux-process", "MUST",
      "apparmorProfile is the AppArmor profile of the process (unconfined here).")
def _(t):
    t.skip_if(_host.apparmor())
    b = t.bundle("/bin/cat", "/proc/self/attr/current")
    b.process["apparmorProfile"] = "unconfined"
    r = t.run(b)
    t.check(r.ok and r.out.strip().startswith("unconfined"),
            f"exit {r.rc}; /proc/self/attr/current: {r.out.strip()!r} {r.err.strip()[-200:]}")


@case("config.selinux", "config.md#linux-process", "MUST",
      "selinuxLabel is the SELinux label of the process.")
def _(t):
    t.skip_if(_host.selinux())
    label = "system_u:system_r:container_t:s0"
    b = t.bundle("/bin/cat", "/proc/self/attr/current")
    b.process["selinuxLabel"] = label
    r = t.run(b)
    t.check(r.ok and r.out.strip().rstrip("\0") == label,
            f"exit {r.rc}; /proc/self/attr/current: {r.out.strip()!r} {r.err.strip()[-200:]}")


@case("config.hostname", "config.md#hostname", "MUST",
      "hostname is the container's hostname as seen by processes inside the container.")
def _(t):
    b = t.bundle("uts")
    b.config["hostname"] = "servin-host-test"
    rep = t.run_ok(b)
    t.check(rep.get("hostname") == "servin-host-test", f"hostname {rep.get('hostname')!r}")


@case("config.domainname", "config.md#domainname", "MUST",
      "domainname is the container's domainname as seen by processes inside the container.")
def _(t):
    b = t.bundle("uts")
    b.config["domainname"] = "servin.example"
    rep = t.run_ok(b)
    t.check(rep.get("domainname") == "servin.example", f"domainname {rep.get('domainname')!r}")


@case("config.console-size-ignored", "config.md#process", "MUST",
      "Runtimes MUST ignore consoleSize if terminal is false or unset.")
def _(t):
    b = t.bundle("exit", "0")
    b.process["consoleSize"] = {"height": 25, "width": 80}
    r = t.run(b)
    t.check(r.rc == 0, f"consoleSize without a terminal was not ignored: exit {r.rc}: "
                       f"{r.err.strip()[-300:]}")


def _console_run(t, b):
    """create with --console-socket, receive the pty master, start, and
    return what the container wrote on its terminal."""
    import select
    import socket
    import threading

    b.process["terminal"] = True
    sock_path = os.path.join(t.workdir, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(15)
    got = {}

    def accept():
        try:
            conn, _ = srv.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 4)
                got["fds"] = fds
        except OSError as e:
            got["error"] = e

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    b.write()
    cid = t.new_id()
    r = t.rt.run("create", "--bundle", b.path, "--console-socket", sock_path, cid,
                 out_path=os.path.join(b.path, f"create-{cid}"))
    th.join(15)
    srv.close()
    t.check(r.ok, f"create with a terminal failed: exit {r.rc}: {r.err.strip()[-300:]}")
    t.check(got.get("fds"), f"no pty master received on the console socket ({got.get('error')})")
    master = got["fds"][0]
    for extra in got["fds"][1:]:
        os.close(extra)
    try:
        t.check(t.op("start", cid).ok, "start failed")
        out = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                st = t.state(cid)
                if st is None or st.get("status") == "stopped":
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last slave fd was closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return out.decode(errors="replace")


@case("config.terminal", "config.md#process", "MUST",
      "terminal true: a pseudoterminal pair is allocated and the pty is duplicated on the "
      "process's standard streams (master handed over --console-socket).")
def _(t):
    b = t.bundle("readlink", "/proc/self/fd/0", "readlink", "/proc/self/fd/1",
                 "readlink", "/proc/self/fd/2")
    rep = parse_report(_console_run(t, b))
    fds = [rep.get(f"readlink./proc/self/fd/{n}") for n in range(3)]
    t.check(all(f and f.startswith("/dev/pts/") for f in fds) and len(set(fds)) == 1,
            f"standard streams: {fds}")


@case("config.terminal-console", "config-linux.md#default-devices", "MUST",
      "/dev/console is set up if terminal is enabled, by bind mounting the pseudoterminal "
      "pty to /dev/console.")
def _(t):
    b = t.bundle("stat", "/dev/console", "stat", "/proc/self/fd/0")
    rep = parse_report(_console_run(t, b))
    con = rep.get("stat./dev/console", "")
    pty = rep.get("stat./proc/self/fd/0", "")
    t.check(con.startswith("c:") and con.split(":")[4:] == pty.split(":")[4:],
            f"/dev/console {con!r}, the process's pty {pty!r}")
