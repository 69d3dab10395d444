"""Container metrics from the cgroup of its init process (v1 or v2).

Read straight from cgroupfs, so it works for any runtime: the path comes
from ``/proc/<pid>/cgroup``.  The answer is containerd's cgroups metrics
message (``io.containerd.cgroups.v1.Metrics`` / ``...v2.Metrics``) — the
modules are imported only when Stats is called.
"""
import os

ROOT = "/sys/fs/cgroup"

__all__ = ["is_unified", "cgroup_paths", "metrics", "oom_kill_count"]


def is_unified():
    return os.path.exists(os.path.join(ROOT, "cgroup.controllers"))


def cgroup_paths(pid):
    """{controller: path in its hierarchy}; v2 is under the key ''."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                out[c.replace("name=", "")] = path
    return out


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _int(path):
    v = _read(path, "0")
    if v == "max":
        return 0
    try:
        return int(v.split()[0])
    except (ValueError, IndexError):
        return 0


def _kv(path):
    out = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _v1_dir(paths, ctrl):
    for key in (ctrl, "cpu,cpuacct" if ctrl in ("cpu", "cpuacct") else ctrl):
        p = paths.get(key)
        if p is not None:
            for mount in (ctrl, "cpu,cpuacct"):
                d = os.path.join(ROOT, mount) + p
                if os.path.isdir(d):
                    return d
    return None


def metrics(pid):
    """(type name, serialized metrics) for the cgroup of ``pid``."""
    paths = cgroup_paths(pid)
    if is_unified() or ("" in paths and len(paths) == 1):
        return _v2(os.path.join(ROOT, paths.get("", "/").lstrip("/")))
    return _v1(paths)


def _v1(paths):
    from ._messages import V1Metrics
    out = V1Metrics()
    d = _v1_dir(paths, "pids")
    if d:
        out.pids.current = _int(d + "/pids.current")
        out.pids.limit = _int(d + "/pids.max")
    d = _v1_dir(paths, "cpuacct")
    if d:
        u = out.cpu.usage
        u.total = _int(d + "/cpuacct.usage")
        u.per_cpu.extend(int(x) for x in _read(d + "/cpuacct.usage_percpu").split())
        st = _kv(d + "/cpuacct.stat")
        tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        u.user = st.get("user", 0) * tick
        u.kernel = st.get("system", 0) * tick
    d = _v1_dir(paths, "cpu")
    if d:
        st = _kv(d + "/cpu.stat")
        t = out.cpu.throttling
        t.periods = st.get("nr_periods", 0)
        t.throttled_periods = st.get("nr_throttled", 0)
        t.throttled_time = st.get("throttled_time", 0)
    d = _v1_dir(paths, "memory")
    if d:
        st = _kv(d + "/memory.stat")
        mem = out.memory
        for field in mem.FIELDS:
            key = field.name.replace("pg_pg_", "pgpg").replace("pg_maj_fault", "pgmajfault") \
                .replace("pg_fault", "pgfault")
            if not isinstance(field.kind, type) and key in st:
                setattr(mem, field.name, st[key])
        for entry, prefix in ((mem.usage, "memory."), (mem.swap, "memory.memsw."),
                              (mem.kernel, "memory.kmem."), (mem.kernel_tcp, "memory.kmem.tcp.")):
            entry.usage = _int(d + "/" + prefix + "usage_in_bytes")
            entry.limit = _int(d + "/" + prefix + "limit_in_bytes")
            entry.max = _int(d + "/" + prefix + "max_usage_in_bytes")
            entry.failcnt = _int(d + "/" + prefix + "failcnt")
        oom = _kv(d + "/memory.oom_control")
        out.memory_oom_control.oom_kill_disable = oom.get("oom_kill_disable", 0)
        out.memory_oom_control.under_oom = oom.get("under_oom", 0)
        out.memory_oom_control.oom_kill = oom.get("oom_kill", 0)
    return out.full_name, out.SerializeToString()


def _v2(d):
    from ._messages import V2Metrics
    out = V2Metrics()
    out.pids.current = _int(d + "/pids.current")
    out.pids.limit = _int(d + "/pids.max")
    st = _kv(d + "/cpu.stat")
    for f in ("usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled",
              "throttled_usec"):
        setattr(out.cpu, f, st.get(f, 0))
    st = _kv(d + "/memory.stat")
    mem = out.memory
    for field in mem.FIELDS:
        if field.name in st:
            setattr(mem, field.name, st[field.name])
    mem.usage = _int(d + "/memory.current")
    mem.usage_limit = _int(d + "/memory.max")
    mem.swap_usage = _int(d + "/memory.swap.current")
    mem.swap_limit = _int(d + "/memory.swap.max")
    ev = _kv(d + "/memory.events")
    for f in ("low", "high", "max", "oom", "oom_kill"):
        setattr(out.memory_events, f, ev.get(f, 0))
    return out.full_name, out.SerializeToString()


def oom_kill_count(pid_paths):
    """OOM kills so far in the cgroup (v1 memory.oom_control / v2 memory.events)."""
    paths = pid_paths
    if "" in paths and (is_unified() or len(paths) == 1):
        return _kv(os.path.join(ROOT, paths[""].lstrip("/"), "memory.events")).get("oom_kill", 0)
    d = _v1_dir(paths, "memory")
    return _kv(d + "/memory.oom_control").get("oom_kill", 0) if d else 0
