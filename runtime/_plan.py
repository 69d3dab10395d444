"""config.json -> a validated plan for servin._native.spawn().

load_config() reads and checks the bundle's config.json; Planner turns it
into the plain dict the C side consumes (ints, bytes, tuples).  Every check
names the field and the value it rejects, and runs before anything exists
on the host, so bad input leaves nothing behind.
"""
import os
import stat

from . import _json
from . import _mountopts as mo
from ._errors import ConfigError

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

NAMESPACES = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
CAP_NUM = {name: i for i, name in enumerate(CAPS)}

DEFAULT_DEVICES = (
    # path, type, major, minor
    ("/dev/null", "c", 1, 3),
    ("/dev/zero", "c", 1, 5),
    ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8),
    ("/dev/urandom", "c", 1, 9),
    ("/dev/tty", "c", 5, 0),
)

PERSONALITY = {"LINUX": 0x0000, "LINUX32": 0x0008}

SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}

_IDENT = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")
_SYSCTL = _IDENT | frozenset("_./")


def _semver_major(v):
    """The major version of a SemVer 2.0.0 string, or None if it is not
    one (hand-written: re costs ~5 ms to import on this path)."""
    core, plus, build = v.partition("+")
    core, dash, pre = core.partition("-")
    nums = core.split(".")
    if len(nums) != 3 or not all(n.isdigit() and n.isascii() and (n == "0" or n[0] != "0") for n in nums):
        return None
    for part, present in ((pre, dash), (build, plus)):
        if present and (not part or any(not x or not set(x) <= _IDENT for x in part.split("."))):
            return None
    return nums[0]

NS_GET_NSTYPE = 0xB703


def load_config(bundle):
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"bundle {bundle}: config.json not found") from None
    except IsADirectoryError:
        raise ConfigError(f"bundle {bundle}: config.json is a directory") from None
    except OSError as e:
        raise ConfigError(f"bundle {bundle}: cannot read config.json: {e.strerror}") from None
    try:
        cfg = _json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(f"config.json: malformed JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise ConfigError("config.json: the top level must be an object")
    check_version(cfg.get("ociVersion"))
    return cfg


def check_version(v):
    if not isinstance(v, str):
        raise ConfigError(f"ociVersion: must be a string, got {v!r}")
    major = _semver_major(v)
    if major is None:
        raise ConfigError(f"ociVersion {v!r}: not a SemVer 2.0.0 version")
    if major != "1":
        raise ConfigError(f"ociVersion {v!r}: this runtime implements runtime-spec 1.x")


# -- small typed accessors ------------------------------------------------

def _obj(v, field, required=False):
    if v is None:
        if required:
            raise ConfigError(f"{field}: required")
        return {}
    if not isinstance(v, dict):
        raise ConfigError(f"{field}: must be an object, got {type(v).__name__}")
    return v


def _list(v, field):
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"{field}: must be an array, got {type(v).__name__}")
    return v


def _str(v, field, required=False):
    if v is None:
        if required:
            raise ConfigError(f"{field}: required")
        return None
    if not isinstance(v, str):
        raise ConfigError(f"{field}: must be a string, got {v!r}")
    if "\0" in v:
        raise ConfigError(f"{field}: contains a NUL byte")
    return v


def _int(v, field, lo=None, hi=None, required=False):
    if v is None:
        if required:
            raise ConfigError(f"{field}: required")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{field}: must be an integer, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{field}: {v} is out of range")
    return v


def _bool(v, field):
    if v is None:
        return False
    if not isinstance(v, bool):
        raise ConfigError(f"{field}: must be true or false, got {v!r}")
    return v


def _strs(v, field):
    return [_str(x, f"{field}[{i}]", True) for i, x in enumerate(_list(v, field))]


def parse_hooks(cfg):
    """hooks -> {kind: [(path, args, env, timeout)]}"""
    out = {}
    hooks = _obj(cfg.get("hooks"), "hooks")
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"):
        lst = []
        for i, h in enumerate(_list(hooks.get(kind), f"hooks.{kind}")):
            f = f"hooks.{kind}[{i}]"
            h = _obj(h, f, True)
            path = _str(h.get("path"), f + ".path", True)
            if not path.startswith("/"):
                raise ConfigError(f"{f}.path {path!r}: must be absolute")
            args = _strs(h.get("args"), f + ".args") or [path]
            env = _strs(h.get("env"), f + ".env")
            timeout = _int(h.get("timeout"), f + ".timeout")
            if timeout is not None and timeout <= 0:
                raise ConfigError(f"{f}.timeout {timeout}: must be greater than zero")
            lst.append((path, args, env, timeout or 0))
        if lst:
            out[kind] = lst
    return out


def _capset(v, field, last, bounding, warnings):
    mask = 0
    for i, name in enumerate(_strs(v, field)):
        num = CAP_NUM.get(name)
        if num is None:
            raise ConfigError(f"{field}[{i}]: unknown capability {name!r}")
        if num > last:
            warnings.append(f"{field}: {name} is not known to this kernel; ignored")
            continue
        if not bounding >> num & 1:
            warnings.append(f"{field}: {name} is not in the runtime's bounding set on this host; dropped")
            continue
        mask |= 1 << num
    return mask


_host_caps = None


def host_caps():
    """(cap_last_cap, our bounding set)"""
    global _host_caps
    if _host_caps is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
        bnd = (1 << (last + 1)) - 1
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    bnd = int(line.split()[1], 16)
                    break
        _host_caps = (last, bnd)
    return _host_caps


def _sysctl_allowed(key, ns):
    """Namespaced sysctls only, each with its namespace in the config."""
    ipc = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
           "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
    if key in ipc or key.startswith("fs.mqueue."):
        return "ipc" in ns, "ipc"
    if key in ("kernel.hostname", "kernel.domainname"):
        return "uts" in ns, "uts"
    if key.startswith("net."):
        return "network" in ns, "network"
    return None, None


class Plan:
    """What the parent needs besides the dict for C."""

    def __init__(self):
        self.native = {}
        self.hooks = {}
        self.warnings = []
        self.open_fds = []      # fds the parent opened for the plan; closed after spawn
        self.uid_map = None
        self.gid_map = None
        self.setgroups_deny = False
        self.uid_helper = None      # newuidmap/newgidmap (rootless, _rootless.id_map_plan)
        self.gid_helper = None
        self.namespaces = {}
        self.cgroups_path = ""
        self.resources = {}
        self.terminal = False
        self.rootfs = ""
        self.annotations = {}
        self.seccomp_listener = None
        self.net_devices = {}
        self.exec_cpus = (None, None)   # process.execCPUAffinity initial, final (exec only)

    def close_fds(self):
        for fd in self.open_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.open_fds = []


def build(cfg, bundle, cid, *, no_pivot=False, no_new_keyring=False, preserve_fds=0, seccomp_cache=None):
    """Validate cfg and build the plan.  Opens namespace fds (in
    plan.open_fds); the caller closes them with plan.close_fds()."""
    p = Plan()
    try:
        _build(p, cfg, bundle, cid, no_pivot, no_new_keyring, preserve_fds, seccomp_cache)
    except BaseException:
        p.close_fds()
        raise
    return p


def _build(p, cfg, bundle, cid, no_pivot, no_new_keyring, preserve_fds, seccomp_cache):
    n = p.native
    warnings = p.warnings

    # root
    root = _obj(cfg.get("root"), "root", True)
    rpath = _str(root.get("path"), "root.path", True)
    rootfs = rpath if rpath.startswith("/") else os.path.join(bundle, rpath)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise ConfigError(f"root.path: rootfs {rootfs} does not exist or is not a directory")
    p.rootfs = rootfs
    n["rootfs"] = os.fsencode(rootfs)
    n["readonly_root"] = _bool(root.get("readonly"), "root.readonly")
    n["no_pivot"] = bool(no_pivot)

    annotations = _obj(cfg.get("annotations"), "annotations")
    for k, v in annotations.items():
        _str(v, f"annotations[{k!r}]", True)
    p.annotations = annotations

    linux = _obj(cfg.get("linux"), "linux")

    # namespaces
    ns = {}
    for i, entry in enumerate(_list(linux.get("namespaces"), "linux.namespaces")):
        f = f"linux.namespaces[{i}]"
        entry = _obj(entry, f, True)
        t = _str(entry.get("type"), f + ".type", True)
        if t not in NAMESPACES:
            raise ConfigError(f"{f}.type: unknown namespace type {t!r}")
        if t in ns:
            raise ConfigError(f"{f}.type: duplicate namespace {t!r}")
        ns[t] = _str(entry.get("path"), f + ".path") or None
    p.namespaces = ns
    if "mount" not in ns:
        raise ConfigError("linux.namespaces: a mount namespace is required")
    clone_flags = 0
    pre_join, join = [], []
    for t in ("user", "pid", "time", "network", "ipc", "uts", "mount", "cgroup"):
        if t not in ns:
            continue
        flag = NAMESPACES[t]
        path = ns[t]
        if path is None:
            if t not in ("time", "cgroup"):
                clone_flags |= flag
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise ConfigError(f"linux.namespaces: {t} namespace path {path!r}: {e.strerror}") from None
        p.open_fds.append(fd)
        try:
            import fcntl
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            raise ConfigError(f"linux.namespaces: {t} namespace path {path!r} is not a namespace") from None
        if kind != flag:
            raise ConfigError(f"linux.namespaces: path {path!r} is not a {t} namespace")
        (pre_join if t in ("user", "pid", "time") else join).append((fd, flag))
    n["clone_flags"] = clone_flags
    n["pre_join"] = pre_join
    n["join"] = join
    n["unshare_flags"] = CLONE_NEWCGROUP if ("cgroup" in ns and ns["cgroup"] is None) else 0
    n["setup_sync"] = True
    n["new_time"] = "time" in ns and ns["time"] is None
    n["need_intermediate"] = bool(pre_join) or n["new_time"]
    n["mount_ns"] = True
    n["userns_new"] = "user" in ns and ns["user"] is None
    if "user" in ns and os.geteuid() != 0:
        n["dumpable_until_go"] = True   # the parent writes our /proc files (_rootless)

    offsets = _obj(linux.get("timeOffsets"), "linux.timeOffsets")
    if offsets:
        if not n["new_time"]:
            raise ConfigError("linux.timeOffsets: requires a new time namespace in linux.namespaces")
        lines = []
        for clock in offsets:
            if clock not in ("monotonic", "boottime"):
                raise ConfigError(f"linux.timeOffsets: unknown clock {clock!r}")
            o = _obj(offsets[clock], f"linux.timeOffsets.{clock}")
            secs = _int(o.get("secs"), f"linux.timeOffsets.{clock}.secs") or 0
            nanos = _int(o.get("nanosecs"), f"linux.timeOffsets.{clock}.nanosecs", 0, 999999999) or 0
            lines.append(f"{clock} {secs} {nanos}")
        n["time_offsets"] = "\n".join(lines).encode()

    # user namespace id mappings
    def maps(key):
        res = []
        for i, m in enumerate(_list(linux.get(key), f"linux.{key}")):
            f = f"linux.{key}[{i}]"
            m = _obj(m, f, True)
            res.append((_int(m.get("containerID"), f + ".containerID", 0, 2**32 - 1, True),
                        _int(m.get("hostID"), f + ".hostID", 0, 2**32 - 1, True),
                        _int(m.get("size"), f + ".size", 1, 2**32 - 1, True)))
        return res
    uid_map, gid_map = maps("uidMappings"), maps("gidMappings")
    if n["userns_new"]:
        if not uid_map or not gid_map:
            raise ConfigError("linux.uidMappings/gidMappings: required with a new user namespace")
        p.uid_map, p.gid_map = uid_map, gid_map
        from ._rootless import id_map_plan
        p.uid_helper, p.gid_helper, p.setgroups_deny = id_map_plan(uid_map, gid_map)
    elif uid_map or gid_map:
        if "user" not in ns:
            raise ConfigError("linux.uidMappings: given without a user namespace")

    # hostname / domainname need their own UTS namespace
    hostname = _str(cfg.get("hostname"), "hostname")
    domainname = _str(cfg.get("domainname"), "domainname")
    if (hostname or domainname) and "uts" not in ns:
        raise ConfigError("hostname: setting it needs a uts namespace in linux.namespaces")
    if hostname is not None:
        n["hostname"] = hostname.encode()
    if domainname is not None:
        n["domainname"] = domainname.encode()

    # process
    proc = _obj(cfg.get("process"), "process", True)
    _process(p, proc, cid, no_new_keyring, preserve_fds)
    if p.setgroups_deny:
        # rootless, gid_map written directly: setgroups is denied in the namespace
        if n["groups"]:
            raise ConfigError("process.user.additionalGids: a rootless container whose gidMappings map only "
                              "your own gid has setgroups denied; map a range from /etc/subgid (newgidmap)")
        n["set_groups"] = False

    # mounts and devices
    n["mounts"] = []   # filled by mounts() once cgroup dirs are known
    p._mount_specs = _mount_specs(cfg, bundle, p.warnings)
    if os.geteuid() != 0 and ("network" not in ns or ns["network"] is not None):
        _rootless_sysfs(p)
    p._devices = _devices(linux)
    n["masked"] = [x.encode() for x in _strs(linux.get("maskedPaths"), "linux.maskedPaths")]
    n["readonly"] = [x.encode() for x in _strs(linux.get("readonlyPaths"), "linux.readonlyPaths")]
    for f, lst in (("linux.maskedPaths", n["masked"]), ("linux.readonlyPaths", n["readonly"])):
        for x in lst:
            if not x.startswith(b"/"):
                raise ConfigError(f"{f}: {x.decode()!r} must be absolute")

    prop = _str(linux.get("rootfsPropagation"), "linux.rootfsPropagation")
    if prop:
        if prop not in mo.PROPAGATION:
            raise ConfigError(f"linux.rootfsPropagation: unknown value {prop!r}")
        flag = mo.PROPAGATION[prop]
        # "/" must stay bindable for the rootfs bind: unbindable is applied
        # to the new root only, after pivot_root
        n["root_propagation"] = 0 if flag & mo.MS_UNBINDABLE else flag
        n["rootfs_propagation"] = flag
        if flag & mo.MS_SHARED:
            n["parent_mount"] = _parent_mount(rootfs).encode()

    # sysctl
    sysctl = []
    for k, v in _obj(linux.get("sysctl"), "linux.sysctl").items():
        _str(v, f"linux.sysctl[{k!r}]", True)
        if not k or not set(k) <= _SYSCTL or ".." in k:
            raise ConfigError(f"linux.sysctl: invalid key {k!r}")
        ok, need = _sysctl_allowed(k, ns)
        if ok is None:
            raise ConfigError(f"linux.sysctl: {k!r} is not namespaced; a container may not set it")
        if not ok:
            raise ConfigError(f"linux.sysctl: {k!r} needs a {need} namespace in linux.namespaces")
        sysctl.append((("/proc/sys/" + k.replace(".", "/")).encode(), v.encode()))
    n["sysctl"] = sysctl

    # personality
    pers = _obj(linux.get("personality"), "linux.personality")
    if pers:
        dom = _str(pers.get("domain"), "linux.personality.domain", True)
        if dom not in PERSONALITY:
            raise ConfigError(f"linux.personality.domain: unknown domain {dom!r}")
        if _strs(pers.get("flags"), "linux.personality.flags"):
            raise ConfigError("linux.personality.flags: no flags are supported")
        n["personality"] = PERSONALITY[dom]

    for key in ("mountLabel",):
        if linux.get(key):
            warnings.append(f"linux.{key}: this host has no SELinux; ignored")
    mp = _obj(linux.get("memoryPolicy"), "linux.memoryPolicy")
    if mp:
        n["mempolicy_mode"], n["mempolicy_nodes"] = _memory_policy(mp)
    from ._netdev import parse as parse_netdevs
    p.net_devices = parse_netdevs(linux, ns)
    if linux.get("intelRdt"):
        raise ConfigError("linux.intelRdt: Intel RDT (resctrl) is not available on this host")

    if linux.get("seccomp") is not None:
        from ._seccomp import plan as seccomp_plan
        prog, flags, listener = seccomp_plan(linux["seccomp"], seccomp_cache)
        n["seccomp_prog"] = prog
        n["seccomp_flags"] = flags
        n["seccomp_listener"] = listener is not None
        p.seccomp_listener = listener

    p.cgroups_path = _str(linux.get("cgroupsPath"), "linux.cgroupsPath") or ""
    p.resources = _obj(linux.get("resources"), "linux.resources")
    _resources_shape(p.resources)
    p.hooks = parse_hooks(cfg)
    n["hook_sync"] = bool(p.hooks.get("prestart") or p.hooks.get("createRuntime"))
    n["create_container_hooks"] = p.hooks.get("createContainer", [])
    n["start_container_hooks"] = p.hooks.get("startContainer", [])


def _process(p, proc, cid, no_new_keyring, preserve_fds):
    n = p.native
    warnings = p.warnings
    args = _strs(proc.get("args"), "process.args")
    if not args:
        raise ConfigError("process.args: must contain at least the program to run")
    n["args"] = [a.encode() for a in args]
    env = _strs(proc.get("env"), "process.env")
    for i, e in enumerate(env):
        if "=" not in e:
            raise ConfigError(f"process.env[{i}]: {e!r} is not KEY=VALUE")
    n["env"] = [e.encode() for e in env]
    path_env = None
    for e in env:
        if e.startswith("PATH="):
            path_env = e[5:]
    n["path_env"] = path_env.encode() if path_env is not None else None
    cwd = _str(proc.get("cwd"), "process.cwd") or "/"
    if not cwd.startswith("/"):
        raise ConfigError(f"process.cwd {cwd!r}: must be an absolute path")
    n["cwd"] = cwd.encode()
    p.terminal = _bool(proc.get("terminal"), "process.terminal")
    n["terminal"] = p.terminal
    size = _obj(proc.get("consoleSize"), "process.consoleSize")
    if size:
        n["rows"] = _int(size.get("height"), "process.consoleSize.height", 0, 65535) or 0
        n["cols"] = _int(size.get("width"), "process.consoleSize.width", 0, 65535) or 0

    user = _obj(proc.get("user"), "process.user")
    n["set_user"] = True
    n["uid"] = _int(user.get("uid"), "process.user.uid", 0, 2**32 - 2) or 0
    n["gid"] = _int(user.get("gid"), "process.user.gid", 0, 2**32 - 2) or 0
    n["umask"] = _int(user.get("umask"), "process.user.umask", 0, 0o7777)
    if n["umask"] is None:
        n["umask"] = 0o022
    groups = [_int(g, f"process.user.additionalGids[{i}]", 0, 2**32 - 2)
              for i, g in enumerate(_list(user.get("additionalGids"), "process.user.additionalGids"))]
    n["groups"] = groups
    n["set_groups"] = True

    caps = proc.get("capabilities")
    if caps is not None:
        caps = _obj(caps, "process.capabilities")
        last, bnd = host_caps()
        n["have_caps"] = True
        n["cap_last"] = last
        for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            n["cap_" + key] = _capset(caps.get(key), f"process.capabilities.{key}", last, bnd, warnings)
        amb = n["cap_ambient"]
        usable = amb & n["cap_permitted"] & n["cap_inheritable"]
        if usable != amb:
            # the kernel raises an ambient cap only if it is permitted and
            # inheritable; runc warns and goes on, and so do we
            dropped = [CAPS[i] for i in range(last + 1) if (amb & ~usable) >> i & 1]
            warnings.append("process.capabilities.ambient: " + ", ".join(dropped)
                            + " not both permitted and inheritable; not raised")
            n["cap_ambient"] = usable
        for key in caps:
            if key not in ("bounding", "effective", "permitted", "inheritable", "ambient"):
                raise ConfigError(f"process.capabilities: unknown set {key!r}")

    rl = []
    seen = set()
    for i, r in enumerate(_list(proc.get("rlimits"), "process.rlimits")):
        f = f"process.rlimits[{i}]"
        r = _obj(r, f, True)
        t = _str(r.get("type"), f + ".type", True)
        if t not in RLIMITS:
            raise ConfigError(f"{f}.type: unknown rlimit {t!r}")
        if t in seen:
            raise ConfigError(f"{f}.type: duplicate rlimit {t!r}")
        seen.add(t)
        soft = _int(r.get("soft"), f + ".soft", 0, 2**64 - 1, True)
        hard = _int(r.get("hard"), f + ".hard", 0, 2**64 - 1, True)
        if soft > hard:
            raise ConfigError(f"{f}: soft limit {soft} is above the hard limit {hard}")
        rl.append((RLIMITS[t], soft, hard))
    n["rlimits"] = rl
    if rl and os.geteuid() != 0:
        from ._rootless import check_rlimits
        check_rlimits(rl, {v: k for k, v in RLIMITS.items()})

    oom = _int(proc.get("oomScoreAdj"), "process.oomScoreAdj", -1000, 1000)
    if oom is not None:
        n["oom_score_adj"] = str(oom).encode()
    n["no_new_privs"] = _bool(proc.get("noNewPrivileges"), "process.noNewPrivileges")
    p.exec_cpus = _exec_cpus(proc)
    if proc.get("apparmorProfile"):
        warnings.append("process.apparmorProfile: this host has no AppArmor; ignored")
    if proc.get("selinuxLabel"):
        warnings.append("process.selinuxLabel: this host has no SELinux; ignored")
    n["keyring"] = None if no_new_keyring else f"_ses.{cid}"[:255].encode()
    n["preserve_fds"] = int(preserve_fds)

    sched = _obj(proc.get("scheduler"), "process.scheduler")
    if sched:
        pol = _str(sched.get("policy"), "process.scheduler.policy", True)
        if pol not in SCHED_POLICIES:
            raise ConfigError(f"process.scheduler.policy: unknown policy {pol!r}")
        n["sched_policy"] = SCHED_POLICIES[pol]
        n["sched_nice"] = _int(sched.get("nice"), "process.scheduler.nice", -20, 19) or 0
        n["sched_priority"] = _int(sched.get("priority"), "process.scheduler.priority", 0, 99) or 0
        flags = 0
        for i, fl in enumerate(_strs(sched.get("flags"), "process.scheduler.flags")):
            if fl not in SCHED_FLAGS:
                raise ConfigError(f"process.scheduler.flags[{i}]: unknown flag {fl!r}")
            flags |= SCHED_FLAGS[fl]
        n["sched_flags"] = flags
        for k in ("runtime", "deadline", "period"):
            n["sched_" + k] = _int(sched.get(k), f"process.scheduler.{k}", 0, 2**64 - 1) or 0
    io = _obj(proc.get("ioPriority"), "process.ioPriority")
    if io:
        cls = _str(io.get("class"), "process.ioPriority.class", True)
        if cls not in IOPRIO_CLASSES:
            raise ConfigError(f"process.ioPriority.class: unknown class {cls!r}")
        prio = _int(io.get("priority"), "process.ioPriority.priority", 0, 7) or 0
        n["ioprio"] = IOPRIO_CLASSES[cls] << 13 | prio


def _resources_shape(res):
    """The shape of linux.resources, checked before anything is made
    (_resources checks the values as it writes them): a list where an
    object belongs raised AttributeError there, after the cgroups existed."""
    f = "linux.resources"
    for key in ("memory", "cpu", "pids", "blockIO", "network", "rdma", "unified"):
        _obj(res.get(key), f"{f}.{key}")
    for i, r in enumerate(_list(res.get("devices"), f"{f}.devices")):
        _obj(r, f"{f}.devices[{i}]", True)
    from ._resources import _device_rules, hierarchy_flag
    _device_rules(res.get("devices") or [])     # the rules' values too: type, numbers, access
    hierarchy_flag(_obj(res.get("memory"), f"{f}.memory"))
    for i, h in enumerate(_list(res.get("hugepageLimits"), f"{f}.hugepageLimits")):
        h = _obj(h, f"{f}.hugepageLimits[{i}]", True)
        size = _str(h.get("pageSize"), f"{f}.hugepageLimits[{i}].pageSize", True)
        digits = size[:-1].rstrip("KMGTP") if size.endswith("B") else ""
        if not (digits.isascii() and digits.isdigit() and len(size) - len(digits) <= 2):
            raise ConfigError(f"{f}.hugepageLimits[{i}].pageSize {size!r}: not a page size like 2MB")
    blk = _obj(res.get("blockIO"), f"{f}.blockIO")
    for key in ("weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice"):
        for i, d in enumerate(_list(blk.get(key), f"{f}.blockIO.{key}")):
            g = f"{f}.blockIO.{key}[{i}]"
            d = _obj(d, g, True)
            _int(d.get("major"), g + ".major", 0, 2**32 - 1, True)
            _int(d.get("minor"), g + ".minor", 0, 2**32 - 1, True)
    net = _obj(res.get("network"), f"{f}.network")
    for i, pr in enumerate(_list(net.get("priorities"), f"{f}.network.priorities")):
        g = f"{f}.network.priorities[{i}]"
        pr = _obj(pr, g, True)
        _str(pr.get("name"), g + ".name", True)
        _int(pr.get("priority"), g + ".priority", 0, 2**32 - 1, True)
    for dev, lim in _obj(res.get("rdma"), f"{f}.rdma").items():
        _obj(lim, f"{f}.rdma[{dev!r}]", True)
    for k, v in _obj(res.get("unified"), f"{f}.unified").items():
        _str(v, f"{f}.unified[{k!r}]", True)


MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_STATIC_NODES": 1 << 15}


def _id_list(spec, field, what, limit):
    """The kernel's list syntax ("0-3,7": CPUs, memory nodes) -> a set of
    numbers below limit."""
    out = set()
    for part in filter(None, spec.replace(" ", "").split(",")):
        lo, dash, hi = part.partition("-")
        hi = hi if dash else lo
        if not (lo.isascii() and lo.isdigit() and hi.isascii() and hi.isdigit()) \
                or int(hi) < int(lo) or int(hi) >= limit:
            raise ConfigError(f"{field}: {spec!r} is not a {what} list like 0-3,7")
        out.update(range(int(lo), int(hi) + 1))
    return out


def _exec_cpus(proc):
    """process.execCPUAffinity -> ((text, cpus) or None for initial, the same
    for final); empty means not set.  It applies to exec'd processes only
    (config.md): _exec sets it around the cgroup move."""
    aff = _obj(proc.get("execCPUAffinity"), "process.execCPUAffinity")
    out = []
    for key in ("initial", "final"):
        f = f"process.execCPUAffinity.{key}"
        text = _str(aff.get(key), f) or ""
        cpus = _id_list(text, f, "CPU", 8192)
        out.append((text, cpus) if cpus else None)
    return tuple(out)


def _memory_policy(mp):
    """linux.memoryPolicy -> (mode|flags, node mask or None)."""
    mode = _str(mp.get("mode"), "linux.memoryPolicy.mode", True)
    if mode not in MPOL_MODES:
        raise ConfigError(f"linux.memoryPolicy.mode: unknown mode {mode!r}")
    value = MPOL_MODES[mode]
    for i, fl in enumerate(_strs(mp.get("flags"), "linux.memoryPolicy.flags")):
        if fl not in MPOL_FLAGS:
            raise ConfigError(f"linux.memoryPolicy.flags[{i}]: unknown flag {fl!r}")
        value |= MPOL_FLAGS[fl]
    spec = _str(mp.get("nodes"), "linux.memoryPolicy.nodes") or ""
    mask = 0
    for node in _id_list(spec, "linux.memoryPolicy.nodes", "node", 1024):
        mask |= 1 << node
    if mode in ("MPOL_DEFAULT", "MPOL_LOCAL"):
        if mask:
            raise ConfigError(f"linux.memoryPolicy.nodes: {mode} takes no nodes")
        return value, None
    if not mask and mode != "MPOL_PREFERRED":
        raise ConfigError(f"linux.memoryPolicy.nodes: {mode} needs nodes")
    return value, mask or None


def _parent_mount(path):
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def _mount_specs(cfg, bundle, warnings):
    specs = []
    for i, m in enumerate(_list(cfg.get("mounts"), "mounts")):
        f = f"mounts[{i}]"
        m = _obj(m, f, True)
        dest = _str(m.get("destination"), f + ".destination", True)
        if not dest:
            raise ConfigError(f"{f}.destination: must not be empty")
        if not dest.startswith("/"):
            dest = "/" + dest
        typ = _str(m.get("type"), f + ".type")
        src = _str(m.get("source"), f + ".source")
        opts = mo.parse(_strs(m.get("options"), f + ".options"))
        if typ == "bind":
            opts.flags |= mo.MS_BIND
        if "tmpcopyup" in opts.extensions and (typ != "tmpfs" or opts.is_bind):
            # runc and crun ignore it there too; say so
            opts.extensions.discard("tmpcopyup")
            warnings.append(f"{f}: tmpcopyup applies to tmpfs mounts only; ignored for {dest}")
        idmap = None
        if m.get("uidMappings") or m.get("gidMappings") or opts.extensions & {"idmap", "ridmap"}:
            idmap = _mount_idmap(cfg, m, f, opts)
        if opts.is_bind:
            if not src:
                raise ConfigError(f"{f}.source: required for a bind mount")
            if not src.startswith("/"):
                src = os.path.join(bundle, src)
            try:
                st = os.stat(src)
            except OSError as e:
                raise ConfigError(f"{f}.source {src!r}: {e.strerror}") from None
            specs.append(("bind", src, dest, None, opts, not stat.S_ISDIR(st.st_mode), idmap))
        elif idmap is not None:
            raise ConfigError(f"{f}: idmapped mounts are supported for bind mounts only")
        elif typ == "cgroup":
            specs.append(("cgroup", src, dest, typ, opts, False, None))
        else:
            if not typ:
                raise ConfigError(f"{f}.type: required for a non-bind mount of {dest}")
            specs.append(("fs", src or typ, dest, typ, opts, False, None))
    return specs


def _rootless_sysfs(p):
    """Rootless without a network namespace of our own: the kernel refuses
    a new sysfs, so /sys is bind-mounted from the host instead (runc does
    the same), keeping the mount's flags."""
    for i, (kind, src, dest, typ, o, file_target, idmap) in enumerate(p._mount_specs):
        if kind == "fs" and typ == "sysfs":
            o.flags |= mo.MS_BIND | mo.MS_REC
            p._mount_specs[i] = ("bind", "/sys", dest, None, o, False, None)
            p.warnings.append(f"mount {dest}: sysfs needs a network namespace owned by the container's "
                              "user namespace; /sys bind-mounted from the host instead (rootless)")


def _mount_idmap(cfg, m, f, opts):
    """(uid_map, gid_map) text for an idmapped mount: the mount's own
    mappings, or the container's (linux.uid/gidMappings) for a bare
    idmap/ridmap option."""
    linux = cfg.get("linux") if isinstance(cfg.get("linux"), dict) else {}
    out = []
    for key in ("uidMappings", "gidMappings"):
        maps = m.get(key)
        where = f"{f}.{key}"
        if not maps:
            maps, where = linux.get(key), f"linux.{key} (for {f}'s idmap)"
        if not maps:
            raise ConfigError(f"{f}: an idmapped mount needs uidMappings and gidMappings")
        lines = []
        for i, e in enumerate(_list(maps, where)):
            e = _obj(e, f"{where}[{i}]", True)
            lines.append("%d %d %d" % (_int(e.get("containerID"), f"{where}[{i}].containerID", 0, 2**32 - 1, True),
                                       _int(e.get("hostID"), f"{where}[{i}].hostID", 0, 2**32 - 1, True),
                                       _int(e.get("size"), f"{where}[{i}].size", 1, 2**32 - 1, True)))
        out.append(("\n".join(lines) + "\n").encode())
    if "idmap" not in opts.extensions and "ridmap" not in opts.extensions:
        opts.extensions.add("idmap")
    if "ridmap" in opts.extensions:
        opts.flags |= mo.MS_REC
    return tuple(out)


def _devices(linux):
    out = {}
    for i, d in enumerate(_list(linux.get("devices"), "linux.devices")):
        f = f"linux.devices[{i}]"
        d = _obj(d, f, True)
        path = _str(d.get("path"), f + ".path", True)
        if not path.startswith("/dev/") or ".." in path.split("/"):
            raise ConfigError(f"{f}.path {path!r}: must be under /dev")
        typ = _str(d.get("type"), f + ".type", True)
        kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
        if typ not in kinds:
            raise ConfigError(f"{f}.type: unknown device type {typ!r}")
        # the kernel's dev_t: 12-bit major, 20-bit minor
        major = _int(d.get("major"), f + ".major", 0, 2**12 - 1, typ != "p") or 0
        minor = _int(d.get("minor"), f + ".minor", 0, 2**20 - 1, typ != "p") or 0
        mode = _int(d.get("fileMode"), f + ".fileMode", 0, 0o7777)
        uid = _int(d.get("uid"), f + ".uid", 0, 2**32 - 2) or 0
        gid = _int(d.get("gid"), f + ".gid", 0, 2**32 - 2) or 0
        out[path] = (path, kinds[typ] | (0o666 if mode is None else mode), major, minor, uid, gid)
    return out


def host_device(path, mode, major, minor):
    """The host's node for a bind fallback, if it is the same device."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_IFMT(st.st_mode) != stat.S_IFMT(mode) or st.st_rdev != os.makedev(major, minor):
        return None
    return path.encode()


def _mnt(kind, src, dest, typ=None, flags=0, data=None, remount=0, props=(), file_target=False,
         attr_set=0, attr_clr=0, userns=-1, copyup=0):
    """One entry of the C mount list (csrc/native.c parse_mounts)."""
    return (kind, src, dest, typ, flags, data, remount, props, file_target, attr_set, attr_clr, userns, copyup)


def finish_mounts(p, cgroup_dirs):
    """Turn the mount specs into the C mount list, expanding cgroup mounts
    into the container's own cgroup directories (bind-mounted)."""
    M = []
    K_FS, K_BIND, K_MKDIR, K_SYM = 0, 1, 2, 3
    dev_is_bind = False
    has_devpts = False
    for kind, src, dest, typ, o, file_target, idmap in p._mount_specs:
        enc = os.fsencode
        data = ",".join(o.data).encode() or None
        props = tuple(o.props)
        if kind == "bind":
            if os.path.normpath(dest) == "/dev":
                dev_is_bind = True
            extra = o.flags & ~(mo.MS_BIND | mo.MS_REC)
            remount = extra if (extra or o.clear & mo.MS_RDONLY) else 0
            userns = -1
            if idmap is not None:
                from servin import _native
                try:
                    userns = _native.userns_fd(*idmap)
                except OSError as e:
                    raise ConfigError(f"mount {dest}: cannot make the idmap user namespace: {e.strerror}") from None
                p.open_fds.append(userns)
            M.append(_mnt(K_BIND, enc(src), enc(dest), None, o.flags & (mo.MS_BIND | mo.MS_REC), None,
                          remount, props, file_target, o.attr_set, o.attr_clr, userns))
        elif kind == "cgroup" and set(cgroup_dirs) == {"unified"}:
            # cgroup v2 alone: the container's own cgroup2 directory is the
            # mount itself, /sys/fs/cgroup, as on the host (and as runc does)
            base = o.flags & (mo.MS_NOSUID | mo.MS_NODEV | mo.MS_NOEXEC | mo.MS_RELATIME)
            M.append(_mnt(K_BIND, enc(cgroup_dirs["unified"]), enc(dest), flags=mo.MS_BIND | mo.MS_REC,
                          remount=base | (o.flags & mo.MS_RDONLY), props=props))
        elif kind == "cgroup":
            base = o.flags & (mo.MS_NOSUID | mo.MS_NODEV | mo.MS_NOEXEC | mo.MS_RELATIME)
            M.append(_mnt(K_FS, b"tmpfs", enc(dest), b"tmpfs", base, b"mode=755"))
            for name, hostdir in sorted(cgroup_dirs.items()):
                sub = os.path.join(dest, name)
                remount = base | (o.flags & mo.MS_RDONLY)
                M.append(_mnt(K_BIND, enc(hostdir), enc(sub), flags=mo.MS_BIND | mo.MS_REC, remount=remount))
                if "," in name:
                    for part in name.split(","):
                        M.append(_mnt(K_SYM, name.encode(), enc(os.path.join(dest, part))))
            if o.flags & mo.MS_RDONLY:
                M.append(_mnt(K_FS, None, enc(dest), flags=mo.MS_REMOUNT | mo.MS_BIND | mo.MS_RDONLY | base))
            if props:
                M.append(_mnt(K_FS, None, enc(dest), props=props))
        else:
            if typ == "devpts" and os.path.normpath(dest) == "/dev/pts":
                has_devpts = True
            M.append(_mnt(K_FS, enc(src), enc(dest), enc(typ), o.flags, data, 0, props, False,
                          o.attr_set, o.attr_clr, copyup=mo.copyup(o)))
    n = p.native
    devices = dict(p._devices)
    if dev_is_bind:
        # /dev is a directory of the host's: no node is made in it (runc
        # skips device setup there too); the host's files stay as they are
        skipped = sorted(path for path in devices if path.startswith("/dev/"))
        if skipped:
            from ._container import Log
            Log.note(f"linux.devices {', '.join(skipped)} not created: /dev is a bind mount")
        for path in skipped:
            del devices[path]
    else:
        for path, typ, major, minor in DEFAULT_DEVICES:
            if path not in devices:
                devices[path] = (path, stat.S_IFCHR | 0o666, major, minor, 0, 0)
        links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                 ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        if has_devpts:
            links.append(("pts/ptmx", "/dev/ptmx"))
        for target, link in links:
            M.append(_mnt(K_SYM, target.encode(), link.encode()))
    n["mounts"] = M
    n["devices"] = [(path.encode(), mode, major, minor, uid, gid, host_device(path, mode, major, minor))
                    for path, mode, major, minor, uid, gid in devices.values()]
