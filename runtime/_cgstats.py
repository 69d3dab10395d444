"""The statistics of one cgroup, read from cgroupfs (v1, v2 or hybrid).

The one reader behind ``servin-runc events`` (runc's JSON: ``_events``)
and the shim's Stats RPC and OOM watch (containerd's metrics messages:
``servin.shim._cgroups``).  Each caller shapes what is read its own way.

A cgroup is given by its directories, one per hierarchy, keyed the way
:attr:`servin.runtime._cgroups.Manager.dirs` keys them: a v1 hierarchy's
controllers (``"memory"``, ``"cpu,cpuacct"``, ...) and ``"unified"`` for
the cgroup2 hierarchy (:func:`servin.runtime._cgroups.dirs_of_pid` finds
them for a process).  A controller's v1 directory wins over the unified
one, as on a hybrid host the controllers live in v1; a v2 controller counts
only where the cgroup's ``cgroup.controllers`` lists it.

The readers return the numbers the kernel writes: a file's "max" reads as
0, a missing file as 0 (or None where the caller must tell them apart),
CPU times in nanoseconds.  Only ``os`` is imported: servin-runc loads this
for ``events`` alone.
"""
import os

__all__ = ["read", "read_int", "read_kv", "read_ints", "v1_dir", "v2_dir",
           "cpu", "memory", "pids", "oom_counter_file", "oom_kills"]

NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


# -- files ----------------------------------------------------------------------------
def read(path):
    """A file's text, or None."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def read_int(path, default=None):
    """The first number in a file ("max" -> 0), or ``default``."""
    s = read(path)
    if s is None:
        return default
    s = s.strip()
    if s == "max":
        return 0
    try:
        return int(s.split()[0])
    except (ValueError, IndexError):
        return default


def read_kv(path):
    """``key value`` lines -> {key: int}."""
    out = {}
    for line in (read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def read_ints(path):
    """A file of space-separated numbers -> [int]."""
    s = read(path)
    return [int(x) for x in s.split()] if s else []


# -- where ----------------------------------------------------------------------------
def v1_dir(dirs, controller):
    """The v1 directory of ``controller`` (its hierarchy may carry others
    too: ``"cpu,cpuacct"``), or None."""
    for key, d in dirs.items():
        if key != "unified" and controller in key.split(","):
            return d
    return None


def v2_dir(dirs, controller):
    """The unified directory when ``controller`` is enabled there, or None."""
    d = dirs.get("unified")
    if d and controller in (read(os.path.join(d, "cgroup.controllers")) or "").split():
        return d
    return None


# -- what -----------------------------------------------------------------------------
def cpu(dirs):
    """v1: {"version": 1, "total", "percpu", "percpu_kernel", "percpu_user",
    "user", "kernel" (ns), "throttling": cpu.stat}; v2: {"version": 2,
    "stat": cpu.stat (usec)}; {} without a cpu cgroup."""
    d = v1_dir(dirs, "cpuacct")
    if d:
        st = read_kv(os.path.join(d, "cpuacct.stat"))
        cd = v1_dir(dirs, "cpu")
        return {"version": 1,
                "total": read_int(os.path.join(d, "cpuacct.usage"), 0),
                "percpu": read_ints(os.path.join(d, "cpuacct.usage_percpu")),
                "percpu_kernel": read_ints(os.path.join(d, "cpuacct.usage_percpu_sys")),
                "percpu_user": read_ints(os.path.join(d, "cpuacct.usage_percpu_user")),
                "user": st.get("user", 0) * NS_PER_TICK,
                "kernel": st.get("system", 0) * NS_PER_TICK,
                "throttling": read_kv(os.path.join(cd, "cpu.stat")) if cd else {}}
    d = v2_dir(dirs, "cpu") or dirs.get("unified")     # cpu.stat is there either way
    if not d:
        return {}
    return {"version": 2, "stat": read_kv(os.path.join(d, "cpu.stat"))}


def _v1_counters(d, prefix):
    return {"usage": read_int(os.path.join(d, prefix + "usage_in_bytes"), 0),
            "limit": read_int(os.path.join(d, prefix + "limit_in_bytes"), 0),
            "max": read_int(os.path.join(d, prefix + "max_usage_in_bytes"), 0),
            "failcnt": read_int(os.path.join(d, prefix + "failcnt"), 0)}


def memory(dirs):
    """v1: {"version": 1, "stat", "usage", "swap", "kernel", "kernel_tcp"
    (each {usage, limit, max, failcnt}; swap and the kernel ones None where
    the kernel has no such accounting), "oom_control"}; v2: {"version": 2,
    "stat", "current", "max", "peak", "swap_current", "swap_max", "events"}
    (peak, swap_current None where the files are missing); {} without a
    memory cgroup."""
    d = v1_dir(dirs, "memory")
    if d:
        kmem = os.path.exists(os.path.join(d, "memory.kmem.usage_in_bytes"))
        return {"version": 1,
                "stat": read_kv(os.path.join(d, "memory.stat")),
                "usage": _v1_counters(d, "memory."),
                "swap": _v1_counters(d, "memory.memsw.")
                if os.path.exists(os.path.join(d, "memory.memsw.usage_in_bytes")) else None,
                "kernel": _v1_counters(d, "memory.kmem.") if kmem else None,
                "kernel_tcp": _v1_counters(d, "memory.kmem.tcp.") if kmem else None,
                "oom_control": read_kv(os.path.join(d, "memory.oom_control"))}
    d = v2_dir(dirs, "memory")
    if not d:
        return {}
    return {"version": 2,
            "stat": read_kv(os.path.join(d, "memory.stat")),
            "current": read_int(os.path.join(d, "memory.current"), 0),
            "max": read_int(os.path.join(d, "memory.max"), 0),
            "peak": read_int(os.path.join(d, "memory.peak")),
            "swap_current": read_int(os.path.join(d, "memory.swap.current")),
            "swap_max": read_int(os.path.join(d, "memory.swap.max"), 0),
            "events": read_kv(os.path.join(d, "memory.events"))}


def pids(dirs):
    """{"current", "limit"} (0: no limit), or {} without a pids cgroup."""
    d = v1_dir(dirs, "pids") or v2_dir(dirs, "pids")
    if not d:
        return {}
    return {"current": read_int(os.path.join(d, "pids.current"), 0),
            "limit": read_int(os.path.join(d, "pids.max"), 0)}


def oom_counter_file(dirs):
    """The file whose ``oom_kill`` line counts the cgroup's OOM kills: v1
    memory.oom_control, v2 memory.events; None without a memory cgroup."""
    d = v1_dir(dirs, "memory")
    if d:
        return os.path.join(d, "memory.oom_control")
    d = v2_dir(dirs, "memory")
    return os.path.join(d, "memory.events") if d else None


def oom_kills(dirs):
    """OOM kills in the cgroup so far."""
    f = oom_counter_file(dirs)
    return read_kv(f).get("oom_kill", 0) if f else 0
