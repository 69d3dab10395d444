"""Facts read from the host.  Skips are decided from these, and each
function returns ``None`` when the feature is there or the skip reason
(a sentence naming what was read) when it is not."""
import functools
import os

CAP_SYS_RESOURCE = 24
CAP_SYS_ADMIN = 21


@functools.lru_cache(maxsize=None)
def status_field(name):
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    return None


def bounding_set():
    return int(status_field("CapBnd") or "0", 16)


def lacks_cap(cap, what):
    if not bounding_set() & (1 << cap):
        return (f"{what}: capability {cap} is not in this host's bounding set "
                f"(CapBnd={status_field('CapBnd')} in /proc/self/status)")
    return None


def no_sys_resource(what):
    return lacks_cap(CAP_SYS_RESOURCE, what + " needs CAP_SYS_RESOURCE")


def apparmor():
    if not os.path.isdir("/sys/kernel/security/apparmor"):
        return "no AppArmor on this host (/sys/kernel/security/apparmor is absent)"
    return None


def selinux():
    if not os.path.exists("/sys/fs/selinux/enforce"):
        return "no SELinux on this host (/sys/fs/selinux/enforce is absent)"
    return None


@functools.lru_cache(maxsize=None)
def mountinfo():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            dash = parts.index("-")
            out.append({"point": parts[4], "opts": parts[5], "type": parts[dash + 1],
                        "super": parts[dash + 3] if len(parts) > dash + 3 else ""})
    return out


@functools.lru_cache(maxsize=None)
def cgroup_layout():
    """"unified", "hybrid", "legacy" or "none"."""
    points = {m["point"]: m["type"] for m in mountinfo()}
    if points.get("/sys/fs/cgroup") == "cgroup2":
        return "unified"
    v1 = any(t == "cgroup" and p.startswith("/sys/fs/cgroup/") for p, t in points.items())
    if v1 and points.get("/sys/fs/cgroup/unified") == "cgroup2":
        return "hybrid"
    return "legacy" if v1 else "none"


@functools.lru_cache(maxsize=None)
def v1_controllers():
    """Map controller name -> mount point of the cgroup v1 hierarchy."""
    out = {}
    for m in mountinfo():
        if m["type"] != "cgroup":
            continue
        for opt in m["super"].split(","):
            if opt in ("rw", "ro") or opt.startswith("name="):
                continue
            out[opt] = m["point"]
    return out


def v2_controllers():
    points = {m["point"]: m["type"] for m in mountinfo()}
    for p in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if points.get(p) == "cgroup2":
            try:
                with open(os.path.join(p, "cgroup.controllers")) as f:
                    return p, f.read().split()
            except OSError:
                return p, []
    return None, []


def controller(name):
    """Skip reason when the cgroup controller ``name`` has no v1 hierarchy
    (the suite checks v1 files; on a unified host the v2 file is checked)."""
    if cgroup_layout() == "unified":
        _, ctrls = v2_controllers()
        aliases = {"blkio": "io", "cpuacct": "cpu", "devices": None, "freezer": None}
        want = aliases.get(name, name)
        if want is None or want in ctrls:
            return None
        return f"cgroup v2 controller {want} not enabled (cgroup.controllers: {' '.join(ctrls)})"
    if name in v1_controllers():
        return None
    where, ctrls = v2_controllers()
    extra = f"; it is on the cgroup2 mount {where}" if name in ctrls else ""
    return f"{name} not available as a cgroup v1 hierarchy on this host (/proc/self/mountinfo){extra}"


def hugetlb():
    if not os.path.isdir("/sys/kernel/mm/hugepages") or not os.listdir("/sys/kernel/mm/hugepages"):
        return "hugetlb not available (no /sys/kernel/mm/hugepages)"
    return controller("hugetlb")


def time_namespace():
    if not os.path.exists("/proc/self/ns/time"):
        return "no time namespaces on this kernel (/proc/self/ns/time is absent)"
    return None


def user_namespaces():
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            if int(f.read()) == 0:
                return "user namespaces disabled (/proc/sys/user/max_user_namespaces is 0)"
    except OSError:
        return "no user namespaces on this kernel (/proc/sys/user/max_user_namespaces is absent)"
    return None


def cgroup_dirs_named(name):
    """Every cgroup directory on the host whose last component is ``name``
    (searched three levels deep under each hierarchy)."""
    found = []
    roots = {m["point"] for m in mountinfo() if m["type"] == "cgroup"}
    where, _ = v2_controllers()
    if where:
        roots.add(where)
    for root in roots:
        for dirpath, dirnames, _ in os.walk(root):
            depth = dirpath[len(root):].count("/")
            if depth >= 3:
                dirnames[:] = []
            if os.path.basename(dirpath) == name:
                found.append(dirpath)
    return found
