"""linux.resources -> cgroup files, for v1 and v2 (and both, on hybrid).

Each write names the config field it comes from, so a value the kernel
refuses or a controller the host lacks gives a clear error.
"""
import os

from ._errors import ConfigError

# the devices every container may use, after the config's own rules
# (runc's default allow list: mknod of anything, the standard nodes, ptys)
DEFAULT_DEVICE_RULES = [
    "c *:* m", "b *:* m",
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
]


def _write(cg, ctrl, fname, value, field):
    d = cg.dirs.get(ctrl)
    if d is None:
        raise ConfigError(f"linux.resources.{field}: the {ctrl} controller is not available on this host")
    path = os.path.join(d, fname)
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except FileNotFoundError:
        raise ConfigError(f"linux.resources.{field}: {fname} is not available on this host") from None
    except OSError as e:
        raise ConfigError(f"linux.resources.{field}: writing {value!r} to {fname}: {e.strerror}") from None


def _num(v, field):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"linux.resources.{field}: must be an integer, got {v!r}")
    return v


def apply(cg, res):
    if not isinstance(res, dict):
        raise ConfigError("linux.resources: must be an object")
    v2 = cg.layout == "v2"
    for key, fn in (("devices", _devices), ("memory", _memory), ("cpu", _cpu), ("pids", _pids),
                    ("blockIO", _blkio), ("hugepageLimits", _hugetlb), ("network", _network),
                    ("unified", _unified), ("rdma", _rdma)):
        if res.get(key) is not None:
            fn(cg, res[key], v2)


def _devices(cg, rules, v2):
    if not isinstance(rules, list):
        raise ConfigError("linux.resources.devices: must be an array")
    lines = []
    for i, r in enumerate(rules):
        f = f"devices[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("allow"), bool):
            raise ConfigError(f"linux.resources.{f}: needs \"allow\": true or false")
        typ = r.get("type", "a")
        if typ not in ("a", "c", "b"):
            raise ConfigError(f"linux.resources.{f}.type: {typ!r} is not a, c or b")
        major = "*" if r.get("major") in (None, -1) else _num(r.get("major"), f + ".major")
        minor = "*" if r.get("minor") in (None, -1) else _num(r.get("minor"), f + ".minor")
        access = r.get("access") or "rwm"
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            raise ConfigError(f"linux.resources.{f}.access: {access!r} is not a subset of rwm")
        rule = "a" if typ == "a" and major == "*" and minor == "*" else f"{typ} {major}:{minor} {access}"
        lines.append(("devices.allow" if r["allow"] else "devices.deny", rule))
    if v2 or "devices" not in cg.dirs:
        return      # cgroup v2 device filtering (eBPF) is not implemented yet
    for fname, rule in lines + [("devices.allow", r) for r in DEFAULT_DEVICE_RULES]:
        _write(cg, "devices", fname, rule, "devices")


def _check_flag(m):
    flag = m.get("checkBeforeUpdate")
    if flag is not None and not isinstance(flag, bool):
        raise ConfigError(f"linux.resources.memory.checkBeforeUpdate: must be true or false, got {flag!r}")
    return flag


def check_before_update(cg, m, default):
    """memory.checkBeforeUpdate, for update only (config-linux.md): a new
    memory.limit below the current usage is refused before anything is
    written.  default: the container's setting when m does not say.
    Returns the setting in effect."""
    flag = _check_flag(m)
    if flag is None:
        flag = bool(default)
    limit = _num(m.get("limit"), "memory.limit")
    if not flag or limit is None or limit < 0:
        return flag
    ctrl, fname = ("unified", "memory.current") if cg.layout == "v2" else ("memory", "memory.usage_in_bytes")
    d = cg.dirs.get(ctrl)
    if d is None:
        return flag     # the limit's own write names the missing controller
    try:
        with open(os.path.join(d, fname)) as f:
            usage = int(f.read())
    except (OSError, ValueError) as e:
        raise ConfigError(f"linux.resources.memory.checkBeforeUpdate: cannot read {fname}: "
                          f"{getattr(e, 'strerror', None) or e}") from None
    if limit < usage:
        raise ConfigError(f"linux.resources.memory.checkBeforeUpdate: the new memory.limit {limit} is below "
                          f"the current usage {usage} ({fname}); the limit is unchanged")
    return flag


def _memory(cg, m, v2):
    limit = _num(m.get("limit"), "memory.limit")
    _check_flag(m)      # applies to update only (check_before_update)
    swap = _num(m.get("swap"), "memory.swap")
    reservation = _num(m.get("reservation"), "memory.reservation")
    if m.get("kernel") is not None or m.get("kernelTCP") is not None:
        pass        # deprecated in runtime-spec; the kernel no longer has it
    if v2:
        if limit is not None:
            _write(cg, "unified", "memory.max", "max" if limit < 0 else limit, "memory.limit")
        if swap is not None:
            v = "max" if swap < 0 else max(swap - (limit or 0), 0)
            _write(cg, "unified", "memory.swap.max", v, "memory.swap")
        if reservation is not None:
            _write(cg, "unified", "memory.low", reservation, "memory.reservation")
        if m.get("disableOOMKiller"):
            raise ConfigError("linux.resources.memory.disableOOMKiller: not supported on cgroup v2")
        return
    if limit is not None and swap is not None and swap >= 0 and limit >= 0:
        # memsw must stay >= limit at every step: order the two writes
        try:
            _write(cg, "memory", "memory.limit_in_bytes", limit, "memory.limit")
            _write(cg, "memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")
        except ConfigError:
            _write(cg, "memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")
            _write(cg, "memory", "memory.limit_in_bytes", limit, "memory.limit")
    else:
        if limit is not None:
            _write(cg, "memory", "memory.limit_in_bytes", limit, "memory.limit")
        if swap is not None:
            _write(cg, "memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")
    if reservation is not None:
        _write(cg, "memory", "memory.soft_limit_in_bytes", reservation, "memory.reservation")
    sw = _num(m.get("swappiness"), "memory.swappiness")
    if sw is not None:
        if not 0 <= sw <= 100:
            raise ConfigError(f"linux.resources.memory.swappiness: {sw} is not in 0..100")
        _write(cg, "memory", "memory.swappiness", sw, "memory.swappiness")
    if m.get("disableOOMKiller"):
        _write(cg, "memory", "memory.oom_control", 1, "memory.disableOOMKiller")


def _cpu(cg, c, v2):
    shares = _num(c.get("shares"), "cpu.shares")
    quota = _num(c.get("quota"), "cpu.quota")
    period = _num(c.get("period"), "cpu.period")
    cpus, mems = c.get("cpus"), c.get("mems")
    if v2:
        if shares:
            _write(cg, "unified", "cpu.weight", 1 + ((shares - 2) * 9999) // 262142, "cpu.shares")
        if quota is not None or period is not None:
            q = "max" if quota is None or quota < 0 else quota
            _write(cg, "unified", "cpu.max", f"{q} {period or 100000}", "cpu.quota")
        if cpus:
            _write(cg, "unified", "cpuset.cpus", cpus, "cpu.cpus")
        if mems:
            _write(cg, "unified", "cpuset.mems", mems, "cpu.mems")
        return
    if shares:
        _write(cg, "cpu", "cpu.shares", shares, "cpu.shares")
    if period:
        _write(cg, "cpu", "cpu.cfs_period_us", period, "cpu.period")
    if quota is not None:
        _write(cg, "cpu", "cpu.cfs_quota_us", quota, "cpu.quota")
    burst = _num(c.get("burst"), "cpu.burst")
    if burst is not None:
        _write(cg, "cpu", "cpu.cfs_burst_us", burst, "cpu.burst")
    rtp = _num(c.get("realtimePeriod"), "cpu.realtimePeriod")
    rtr = _num(c.get("realtimeRuntime"), "cpu.realtimeRuntime")
    if rtp:
        _write(cg, "cpu", "cpu.rt_period_us", rtp, "cpu.realtimePeriod")
    if rtr is not None:
        _write(cg, "cpu", "cpu.rt_runtime_us", rtr, "cpu.realtimeRuntime")
    if c.get("idle") is not None:
        _write(cg, "cpu", "cpu.idle", _num(c.get("idle"), "cpu.idle"), "cpu.idle")
    if cpus:
        _write(cg, "cpuset", "cpuset.cpus", cpus, "cpu.cpus")
    if mems:
        _write(cg, "cpuset", "cpuset.mems", mems, "cpu.mems")


def _pids(cg, p, v2):
    limit = _num(p.get("limit"), "pids.limit")
    if limit is None:
        return
    _write(cg, "unified" if v2 else "pids", "pids.max", "max" if limit <= 0 else limit, "pids.limit")


def _blkio(cg, b, v2):
    ctrl = "unified" if v2 else "blkio"
    w = _num(b.get("weight"), "blockIO.weight")
    if w is not None:
        if v2:
            _write(cg, ctrl, "io.weight", f"default {1 + (w - 10) * 9999 // 990}", "blockIO.weight")
        else:
            _write(cg, ctrl, "blkio.weight", w, "blockIO.weight")
    lw = _num(b.get("leafWeight"), "blockIO.leafWeight")
    if lw is not None and not v2:
        _write(cg, ctrl, "blkio.leaf_weight", lw, "blockIO.leafWeight")
    for i, d in enumerate(b.get("weightDevice") or []):
        dev = f"{d['major']}:{d['minor']}"
        if d.get("weight") is not None:
            _write(cg, ctrl, "io.weight" if v2 else "blkio.weight_device", f"{dev} {d['weight']}",
                   f"blockIO.weightDevice[{i}]")
    files = {"throttleReadBpsDevice": ("blkio.throttle.read_bps_device", "rbps"),
             "throttleWriteBpsDevice": ("blkio.throttle.write_bps_device", "wbps"),
             "throttleReadIOPSDevice": ("blkio.throttle.read_iops_device", "riops"),
             "throttleWriteIOPSDevice": ("blkio.throttle.write_iops_device", "wiops")}
    for key, (v1file, v2key) in files.items():
        for i, d in enumerate(b.get(key) or []):
            dev = f"{d['major']}:{d['minor']}"
            rate = _num(d.get("rate"), f"blockIO.{key}[{i}].rate")
            if v2:
                _write(cg, ctrl, "io.max", f"{dev} {v2key}={rate}", f"blockIO.{key}[{i}]")
            else:
                _write(cg, ctrl, v1file, f"{dev} {rate}", f"blockIO.{key}[{i}]")


def _hugetlb(cg, limits, v2):
    for i, h in enumerate(limits or []):
        size, limit = h.get("pageSize"), _num(h.get("limit"), f"hugepageLimits[{i}].limit")
        if "hugetlb" in cg.dirs:
            _write(cg, "hugetlb", f"hugetlb.{size}.limit_in_bytes", limit, f"hugepageLimits[{i}]")
        else:
            _write(cg, "unified", f"hugetlb.{size}.max", limit, f"hugepageLimits[{i}]")


def _network(cg, n, v2):
    if n.get("classID") is not None:
        _write(cg, "net_cls", "net_cls.classid", _num(n["classID"], "network.classID"), "network.classID")
    for i, p in enumerate(n.get("priorities") or []):
        _write(cg, "net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}", f"network.priorities[{i}]")


def _unified(cg, u, v2):
    if "unified" not in cg.dirs:
        raise ConfigError("linux.resources.unified: this host has no cgroup v2 mount")
    for k, v in u.items():
        if "/" in k or k.startswith("."):
            raise ConfigError(f"linux.resources.unified: invalid key {k!r}")
        _write(cg, "unified", k, v, f"unified[{k!r}]")


def _rdma(cg, r, v2):
    for dev, lim in r.items():
        parts = []
        if lim.get("hcaHandles") is not None:
            parts.append(f"hca_handle={lim['hcaHandles']}")
        if lim.get("hcaObjects") is not None:
            parts.append(f"hca_object={lim['hcaObjects']}")
        _write(cg, "unified" if v2 else "rdma", "rdma.max", f"{dev} {' '.join(parts)}", f"rdma[{dev!r}]")
