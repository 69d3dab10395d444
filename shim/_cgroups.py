"""Container metrics from the cgroup of its init process (v1 or v2).

Read straight from cgroupfs, so it works for any runtime: the cgroup comes
from ``/proc/<pid>/cgroup``, and is read by servin.runtime's cgroup
statistics reader (``servin.runtime._cgstats``, the one behind
``servin-runc events``).  This module shapes what is read into
containerd's cgroups metrics message (``io.containerd.cgroups.v1.Metrics``
/ ``...v2.Metrics``) — the message tables are imported only when Stats is
called.
"""
from servin.runtime import _cgstats as S

__all__ = ["cgroup_dirs", "metrics", "metrics_of", "oom_kill_count"]

# containerd's v1 memory field -> the memory.stat key, where they differ
_V1_STAT_KEYS = {"pg_pg_in": "pgpgin", "pg_pg_out": "pgpgout", "pg_fault": "pgfault",
                 "pg_maj_fault": "pgmajfault", "total_pg_pg_in": "total_pgpgin",
                 "total_pg_pg_out": "total_pgpgout", "total_pg_fault": "total_pgfault",
                 "total_pg_maj_fault": "total_pgmajfault"}


def cgroup_dirs(pid):
    """The cgroup directories of ``pid``, as ``_cgstats`` reads them."""
    from servin.runtime._cgroups import dirs_of_pid
    return dirs_of_pid(pid)


def metrics(pid):
    """(type name, serialized metrics) for the cgroup of ``pid``."""
    return metrics_of(cgroup_dirs(pid))


def metrics_of(dirs):
    """(type name, serialized metrics) for the cgroup at ``dirs``: v1 when
    a controller lives in a v1 hierarchy (v1 and hybrid hosts), else v2."""
    if any(S.v1_dir(dirs, c) for c in ("cpuacct", "cpu", "memory", "pids")):
        return _v1(dirs)
    return _v2(dirs)


def _v1(dirs):
    from ._messages import V1Metrics
    out = V1Metrics()
    p = S.pids(dirs)
    out.pids.current, out.pids.limit = p.get("current", 0), p.get("limit", 0)
    c = S.cpu(dirs)
    if c.get("version") == 1:
        u = out.cpu.usage
        u.total, u.user, u.kernel = c["total"], c["user"], c["kernel"]
        u.per_cpu.extend(c["percpu"])
        t = out.cpu.throttling
        t.periods = c["throttling"].get("nr_periods", 0)
        t.throttled_periods = c["throttling"].get("nr_throttled", 0)
        t.throttled_time = c["throttling"].get("throttled_time", 0)
    m = S.memory(dirs)
    if m.get("version") == 1:
        mem = out.memory
        st = m["stat"]
        for field in mem.FIELDS:
            key = _V1_STAT_KEYS.get(field.name, field.name)
            if not isinstance(field.kind, type) and key in st:
                setattr(mem, field.name, st[key])
        for entry, counters in ((mem.usage, m["usage"]), (mem.swap, m["swap"]),
                                (mem.kernel, m["kernel"]), (mem.kernel_tcp, m["kernel_tcp"])):
            for k, v in (counters or {}).items():
                setattr(entry, k, v)
        oom = m["oom_control"]
        out.memory_oom_control.oom_kill_disable = oom.get("oom_kill_disable", 0)
        out.memory_oom_control.under_oom = oom.get("under_oom", 0)
        out.memory_oom_control.oom_kill = oom.get("oom_kill", 0)
    return out.full_name, out.SerializeToString()


def _v2(dirs):
    from ._messages import V2Metrics
    out = V2Metrics()
    p = S.pids(dirs)
    out.pids.current, out.pids.limit = p.get("current", 0), p.get("limit", 0)
    st = S.cpu(dirs).get("stat", {})
    for f in ("usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled",
              "throttled_usec"):
        setattr(out.cpu, f, st.get(f, 0))
    m = S.memory(dirs)
    if m.get("version") == 2:
        mem = out.memory
        for field in mem.FIELDS:
            if field.name in m["stat"]:
                setattr(mem, field.name, m["stat"][field.name])
        mem.usage, mem.usage_limit = m["current"], m["max"]
        mem.swap_usage, mem.swap_limit = m["swap_current"] or 0, m["swap_max"]
        for f in ("low", "high", "max", "oom", "oom_kill"):
            setattr(out.memory_events, f, m["events"].get(f, 0))
    return out.full_name, out.SerializeToString()


def oom_kill_count(dirs):
    """OOM kills so far in the cgroup (v1 memory.oom_control / v2 memory.events)."""
    return S.oom_kills(dirs)
