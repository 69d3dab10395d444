"""events: runc's event stream for one container.

    {"type": "stats", "id": ID, "data": {cpu, cpuset, memory, pids, blkio,
                                         hugetlb, intel_rdt, network_interfaces}}
    {"type": "oom", "id": ID}

stats() reads the container's cgroup files (v1, or v2 where a controller
lives in the unified hierarchy) and /proc/<init>/net/dev for the
interfaces of the container's network namespace; field names and units
are runc's (CPU times in nanoseconds).  OOM kills are seen through the v1
memory.oom_control eventfd (cgroup.event_control), and by the oom_kill
counter of memory.oom_control (v1) or memory.events (v2), so no kill is
missed between two polls.
"""
import os
import select
import time

from . import _cgstats as S
from . import _state
from ._cgroups import Manager
from ._errors import ConfigError, InvalidState

def _list_set(s):
    """"0-2,4" -> [0, 1, 2, 4]"""
    out = []
    for part in (s or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _cpu(cg):
    c = S.cpu(cg.dirs)
    if c.get("version") == 1:
        usage = {"total": c["total"], "percpu": c["percpu"]}
        if c["percpu_kernel"]:
            usage["percpu_kernel"] = c["percpu_kernel"]
        if c["percpu_user"]:
            usage["percpu_user"] = c["percpu_user"]
        usage["kernel"], usage["user"] = c["kernel"], c["user"]
        t = c["throttling"]
        return {"usage": usage, "throttling": _throttling(t.get("nr_periods"), t.get("nr_throttled"),
                                                          t.get("throttled_time"))}
    if not c:
        return {}
    st = c["stat"]
    usage = {"total": st.get("usage_usec", 0) * 1000, "kernel": st.get("system_usec", 0) * 1000,
             "user": st.get("user_usec", 0) * 1000}
    tt = st.get("throttled_usec")
    return {"usage": usage,
            "throttling": _throttling(st.get("nr_periods"), st.get("nr_throttled"),
                                      tt * 1000 if tt is not None else None)}


def _throttling(periods, throttled, ttime):
    t = {}
    if periods:
        t["periods"] = periods
    if throttled:
        t["throttled_periods"] = throttled
    if ttime:
        t["throttled_time"] = ttime
    return t


def _cpuset(cg):
    d = cg.dirs.get("cpuset")
    if d:
        out = {"cpus": _list_set(S.read(os.path.join(d, "cpuset.effective_cpus"))
                                 or S.read(os.path.join(d, "cpuset.cpus"))),
               "mems": _list_set(S.read(os.path.join(d, "cpuset.effective_mems"))
                                 or S.read(os.path.join(d, "cpuset.mems")))}
        for k in ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                  "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level"):
            v = S.read_int(os.path.join(d, "cpuset." + k))
            if v is not None:
                out[k] = v
        return out
    d = S.v2_dir(cg.dirs, "cpuset")
    if d:
        return {"cpus": _list_set(S.read(os.path.join(d, "cpuset.cpus.effective"))),
                "mems": _list_set(S.read(os.path.join(d, "cpuset.mems.effective")))}
    return {}


def _entry(c):
    """runc's memory entry from {usage, limit, max, failcnt}."""
    e = {"limit": c["limit"]}
    if c["usage"]:
        e["usage"] = c["usage"]
    if c["max"]:
        e["max"] = c["max"]
    e["failcnt"] = c["failcnt"]
    return e


NO_LIMIT = (1 << 63) - 1      # runc's "max" in a v2 limit


def _memory(cg):
    m = S.memory(cg.dirs)
    if m.get("version") == 1:
        raw = m["stat"]
        mem = {}
        if raw.get("cache"):
            mem["cache"] = raw["cache"]
        mem["usage"] = _entry(m["usage"])
        if m["swap"]:
            mem["swap"] = _entry(m["swap"])
        if m["kernel"]:
            mem["kernel"] = _entry(m["kernel"])
            mem["kernelTCP"] = _entry(m["kernel_tcp"])
        mem["raw"] = raw
        return mem
    if not m:
        return {}
    raw = m["stat"]
    usage = {"limit": m["max"] or NO_LIMIT, "usage": m["current"],
             "failcnt": m["events"].get("max", 0)}
    if m["peak"]:
        usage["max"] = m["peak"]
    mem = {"usage": usage, "raw": raw}
    if raw.get("file"):
        mem["cache"] = raw["file"]
    if m["swap_current"] is not None:
        mem["swap"] = {"limit": m["swap_max"] or NO_LIMIT,
                       "usage": m["swap_current"] + usage["usage"], "failcnt": 0}
    return mem


def _pids(cg):
    p = S.pids(cg.dirs)
    return {k: v for k, v in p.items() if v}


def _blkio_v1(path, with_op=True):
    out = []
    for line in (S.read(path) or "").splitlines():
        parts = line.split()
        if len(parts) < 2 or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        e = {}
        if int(major):
            e["major"] = int(major)
        if int(minor):
            e["minor"] = int(minor)
        if with_op and len(parts) == 3:
            e["op"] = parts[1]
            val = int(parts[2])
        else:
            val = int(parts[-1])
        if val:
            e["value"] = val
        out.append(e)
    return out


def _blkio(cg):
    d = cg.dirs.get("blkio")
    out = {}
    if d:
        files = {"ioServiceBytesRecursive": "blkio.io_service_bytes_recursive",
                 "ioServicedRecursive": "blkio.io_serviced_recursive",
                 "ioQueueRecursive": "blkio.io_queued_recursive",
                 "ioServiceTimeRecursive": "blkio.io_service_time_recursive",
                 "ioWaitTimeRecursive": "blkio.io_wait_time_recursive",
                 "ioMergedRecursive": "blkio.io_merged_recursive",
                 "ioTimeRecursive": "blkio.time_recursive",
                 "sectorsRecursive": "blkio.sectors_recursive"}
        if not os.path.exists(os.path.join(d, files["ioServiceBytesRecursive"])):
            # no CFQ/BFQ: the throttle counters (runc does the same)
            files = {"ioServiceBytesRecursive": "blkio.throttle.io_service_bytes",
                     "ioServicedRecursive": "blkio.throttle.io_serviced"}
        for key, fname in files.items():
            entries = [e for e in _blkio_v1(os.path.join(d, fname), key not in (
                "ioTimeRecursive", "sectorsRecursive")) if e.get("op") != "Total"]
            if entries:
                out[key] = entries
        return out
    d = S.v2_dir(cg.dirs, "io")
    if not d:
        return out
    sb, sv = [], []
    for line in (S.read(os.path.join(d, "io.stat")) or "").splitlines():
        parts = line.split()
        major, _, minor = parts[0].partition(":")
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for op, key, lst in (("Read", "rbytes", sb), ("Write", "wbytes", sb), ("Read", "rios", sv),
                             ("Write", "wios", sv)):
            if key in kv:
                lst.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv[key])})
    if sb:
        out["ioServiceBytesRecursive"] = sb
    if sv:
        out["ioServicedRecursive"] = sv
    return out


def _hugetlb(cg):
    out = {}
    d = cg.dirs.get("hugetlb")
    v2 = None if d else S.v2_dir(cg.dirs, "hugetlb")
    base = d or v2
    if not base:
        return out
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for n in names:
        if d and n.startswith("hugetlb.") and n.endswith(".usage_in_bytes"):
            size = n[len("hugetlb."):-len(".usage_in_bytes")]
            e = {"usage": S.read_int(os.path.join(d, n), 0),
                 "max": S.read_int(os.path.join(d, f"hugetlb.{size}.max_usage_in_bytes"), 0),
                 "failcnt": S.read_int(os.path.join(d, f"hugetlb.{size}.failcnt"), 0)}
            out[size] = {k: v for k, v in e.items() if v or k == "failcnt"}
        elif v2 and n.startswith("hugetlb.") and n.endswith(".current"):
            size = n[len("hugetlb."):-len(".current")]
            ev = S.read_kv(os.path.join(v2, f"hugetlb.{size}.events"))
            e = {"usage": S.read_int(os.path.join(v2, n), 0), "failcnt": ev.get("max", 0)}
            out[size] = {k: v for k, v in e.items() if v or k == "failcnt"}
    return out


NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", None, None, None, None,
              "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def _network(pid):
    """The interfaces of the init's network namespace (/proc/<pid>/net/dev)."""
    s = S.read(f"/proc/{pid}/net/dev")
    if s is None:
        return None
    out = []
    for line in s.splitlines()[2:]:
        name, _, rest = line.partition(":")
        vals = rest.split()
        if len(vals) < 12:
            continue
        iface = {"name": name.strip()}
        for key, v in zip(NET_FIELDS, vals):
            if key:
                iface[key] = int(v)
        out.append(iface)
    return out or None


def stats(cg, pid):
    return {"cpu": _cpu(cg), "cpuset": _cpuset(cg), "memory": _memory(cg), "pids": _pids(cg),
            "blkio": _blkio(cg), "hugetlb": _hugetlb(cg), "intel_rdt": {},
            "network_interfaces": _network(pid)}


class OOMWatch:
    """OOM kills in the container's memory cgroup: an fd to poll (the v1
    eventfd) and a counter to compare (oom_kill)."""

    def __init__(self, cg):
        self.fd = -1
        self.counter_file = S.oom_counter_file(cg.dirs)
        self.key = "oom_kill"
        d = S.v1_dir(cg.dirs, "memory")
        if d:
            self._v1_eventfd(d)
        self.has_counter = bool(self.counter_file) and self.key in S.read_kv(self.counter_file)
        self.last = self._count()

    def _v1_eventfd(self, d):
        ofd = -1
        try:
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        except (AttributeError, OSError):
            return
        try:
            ofd = os.open(os.path.join(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            with open(os.path.join(d, "cgroup.event_control"), "w") as f:
                f.write(f"{efd} {ofd}")
            self.fd = efd
        except OSError:
            os.close(efd)
        finally:
            if ofd >= 0:
                os.close(ofd)

    def _count(self):
        if not self.counter_file:
            return 0
        return S.read_kv(self.counter_file).get(self.key, 0)

    def drain(self):
        """How many OOM kills since the last call.  The oom_kill counter
        is exact; without it (old kernels) each eventfd wake-up counts."""
        fired = 0
        if self.fd >= 0:
            try:
                fired = int.from_bytes(os.read(self.fd, 8), "little")
            except OSError:
                pass
        if not self.has_counter:
            return 1 if fired else 0
        now = self._count()
        n = max(now - self.last, 0)
        self.last = max(now, self.last)
        return n

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _load(root, cid):
    c = _state.Container(root, cid)
    c.load()
    if c.data is None:
        raise InvalidState(f"container {cid} is being created")
    st = c.status()
    if st == _state.STOPPED:
        raise InvalidState(f"container {cid} is not running")
    return c


def parse_interval(s):
    """runc's Go durations: 5s, 500ms, 1m30s, 1.5s, 2h."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    s0, total, num = s, 0.0, ""
    s = s.strip()
    if s in ("0",):
        raise ConfigError(f"--interval {s0!r}: must be greater than 0")
    i = 0
    if not s:
        raise ConfigError(f"--interval {s0!r}: not a duration")
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        num, unit = s[i:j], s[j:k]
        if not num or unit not in units:
            raise ConfigError(f"--interval {s0!r}: not a duration (e.g. 5s, 500ms)")
        try:
            total += float(num) * units[unit]
        except ValueError:
            raise ConfigError(f"--interval {s0!r}: not a duration") from None
        i = k
    if total <= 0:
        raise ConfigError(f"--interval {s0!r}: must be greater than 0")
    return total


def events(root, cid, write, *, once=False, interval=5.0):
    """Call write(event_dict) for each event; with once, one stats event.
    Otherwise stats every interval and OOM notices as they happen, until
    the container stops."""
    c = _load(root, cid)
    cg = Manager.from_state(c.data.get("cgroups", {}))
    pid = c.data["pid"]
    if once:
        write({"type": "stats", "id": cid, "data": stats(cg, pid)})
        return
    watch = OOMWatch(cg)
    try:
        next_stats = time.monotonic()
        while True:
            # liveness before the OOM count: a kill that stopped the
            # container is still reported
            alive = c.alive()
            for _ in range(watch.drain()):
                write({"type": "oom", "id": cid})
            if not alive:
                break
            now = time.monotonic()
            if now >= next_stats:
                write({"type": "stats", "id": cid, "data": stats(cg, pid)})
                next_stats = now + interval
            # wake for an OOM at once (v1 eventfd); poll the counter and the
            # container's liveness at least every 200 ms
            wait = max(0.0, min(next_stats - time.monotonic(), 0.2))
            if watch.fd >= 0:
                select.select([watch.fd], [], [], wait)
            else:
                time.sleep(wait)
    finally:
        watch.close()
