"""linux.resources -> cgroup files, for v1 and v2 (and both, on hybrid).

Each write names the config field it comes from, so a value the kernel
refuses or a controller the host lacks gives a clear error.

linux.resources.devices: on v1, and on hybrid where the v1 devices
controller is mounted (it is what counts there), the rules are written to
devices.deny/devices.allow.  cgroup v2 has no devices controller: on v2
(and on hybrid without a v1 devices hierarchy) the same rules are
replayed here as the v1 controller would apply them (device_exceptions)
and what is left becomes an eBPF program on the container's cgroup2
directory (servin._native.device_filter, csrc/devfilter.c), so a rule
list means the same on both.
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

ANY = -1            # a major or minor that matches every number
DENY_ALL = (False, "a", ANY, ANY, "rwm")


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


def apply(cg, res, *, initial=False):
    """Write ``res`` into the cgroup.  ``initial`` (create): the device
    list starts from "deny everything" and is applied even when the config
    has no linux.resources.devices, so the default allow list always goes
    in (runc does the same); update continues from the current list."""
    if not isinstance(res, dict):
        raise ConfigError("linux.resources: must be an object")
    v2 = cg.layout == "v2"
    for key, fn in (("memory", _memory), ("cpu", _cpu), ("pids", _pids),
                    ("blockIO", _blkio), ("hugepageLimits", _hugetlb), ("network", _network),
                    ("unified", _unified), ("rdma", _rdma)):
        if res.get(key) is not None:
            fn(cg, res[key], v2)
    # devices last: on v2 a program goes into the kernel, after the plain
    # file writes have passed
    if initial or res.get("devices") is not None:
        _devices(cg, [] if res.get("devices") is None else res["devices"], v2, initial)


# -- devices -------------------------------------------------------------

def _device_rules(rules):
    """linux.resources.devices -> [(allow, type, major, minor, access)],
    type "a", "c" or "b", major/minor ANY or 0..2^32-1, access a subset of
    "rwm"."""
    if not isinstance(rules, list):
        raise ConfigError("linux.resources.devices: must be an array")
    out = []
    for i, r in enumerate(rules):
        f = f"devices[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("allow"), bool):
            raise ConfigError(f"linux.resources.{f}: needs \"allow\": true or false")
        typ = r.get("type", "a")
        if typ not in ("a", "c", "b"):
            raise ConfigError(f"linux.resources.{f}.type: {typ!r} is not a, c or b")
        nums = []
        for k in ("major", "minor"):
            v = ANY if r.get(k) in (None, -1) else _num(r.get(k), f"{f}.{k}")
            if not (v == ANY or 0 <= v < 2**32):
                raise ConfigError(f"linux.resources.{f}.{k}: {v} is not -1 (any) or 0..4294967295")
            nums.append(v)
        access = r.get("access") or "rwm"
        if not isinstance(access, str) or set(access) - set("rwm"):
            raise ConfigError(f"linux.resources.{f}.access: {access!r} is not a subset of rwm")
        out.append((r["allow"], typ, nums[0], nums[1], access))
    return out


def _rule_from_line(line):
    """ "c 136:* rwm" -> an allow rule tuple (the default list's form)."""
    typ, nums, access = line.split()
    major, minor = (ANY if n == "*" else int(n) for n in nums.split(":"))
    return (True, typ, major, minor, access)


def _devices(cg, rules, v2, initial):
    todo = ([DENY_ALL] if initial else []) + _device_rules(rules) + [
        _rule_from_line(line) for line in DEFAULT_DEVICE_RULES]
    from ._rootless import enabled
    if enabled():
        # only a privileged process may write devices.* or load a BPF
        # program; runc ignores these errors when rootless
        if rules:
            from ._container import Log
            Log.note("linux.resources.devices not applied: rootless")
        return
    if not v2 and "devices" in cg.dirs:
        for allow, typ, major, minor, access in todo:
            for line in _v1_lines(typ, major, minor, access):
                _write(cg, "devices", "devices.allow" if allow else "devices.deny", line, "devices")
    elif "unified" in cg.dirs:
        _device_filter(cg, todo, initial)


def _v1_lines(typ, major, minor, access):
    if typ == "a" and major == minor == ANY:
        return ["a"]
    nums = f"{'*' if major == ANY else major}:{'*' if minor == ANY else minor}"
    # the kernel reads any line starting with "a" as "a" (every device):
    # a type "a" rule with a number is one rule per type
    return [f"{t} {nums} {access}" for t in (("c", "b") if typ == "a" else (typ,))]


def device_exceptions(rules, state=None):
    """Replay ``rules`` in order the way the v1 devices controller applies
    devices.allow/devices.deny lines, from ``state`` (a previous result)
    or from "allow everything".  Returns [default_allow, exceptions],
    exceptions sorted [type, major, minor, access] with type "c" or "b":

    - "a" (type a, any major and minor, whatever the access): a new
      default and no exceptions;
    - a rule that disagrees with the default adds an exception (merged
      into one for the same type, major and minor);
    - a rule that agrees with the default takes its access away from the
      exception for the same type, major and minor only: a deny of
      "c *:* w" after an allow of "c 1:3 rwm" leaves /dev/null writable,
      as in v1.
    """
    allow_all, exc = (state[0], {(t, ma, mi): set(a) for t, ma, mi, a in state[1]}) if state else (True, {})
    for allow, typ, major, minor, access in rules:
        if typ == "a" and major == minor == ANY:
            allow_all, exc = allow, {}
            continue
        for t in ("c", "b") if typ == "a" else (typ,):
            key = (t, major, minor)
            if allow != allow_all:
                exc.setdefault(key, set()).update(access)
            elif key in exc:
                exc[key] -= set(access)
                if not exc[key]:
                    del exc[key]
    return [allow_all, [[t, ma, mi, "".join(c for c in "rwm" if c in a)]
                        for (t, ma, mi), a in sorted(exc.items())]]


def _device_filter(cg, rules, initial):
    """cgroup v2: the replayed list as a BPF program on the container's
    cgroup2 directory, replacing the one servin attached before; the
    result is kept in the manager (cg.devices, in state.json) so that
    update continues from it as v1 would (no state: no filter yet, which
    is "allow everything")."""
    state = device_exceptions(rules, None if initial else cg.devices)
    from servin import _native
    try:
        _native.device_filter(cg.dirs["unified"], state[0], tuple(tuple(x) for x in state[1]))
    except OSError as e:
        raise ConfigError(f"linux.resources.devices: the kernel refused the cgroup v2 device filter "
                          f"({e.strerror})") from None
    cg.devices = state


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


def hierarchy_flag(m):
    """linux.resources.memory.useHierarchy: None, True or False."""
    flag = m.get("useHierarchy")
    if flag is not None and not isinstance(flag, bool):
        raise ConfigError(f"linux.resources.memory.useHierarchy: must be true or false, got {flag!r}")
    return flag


def _use_hierarchy(cg, flag, v2):
    if flag is None:
        return
    # v2 is always hierarchical, and v1 since Linux 5.16 (memory.use_hierarchy reads 1, refuses 0)
    never = ConfigError("linux.resources.memory.useHierarchy: false is not possible: this "
                        "kernel's memory cgroups are always hierarchical")
    if v2:
        if not flag:
            raise never
        return
    if "memory" in cg.dirs:
        try:
            _write(cg, "memory", "memory.use_hierarchy", int(flag), "memory.useHierarchy")
        except ConfigError:
            if flag:
                raise
            raise never from None


def _memory(cg, m, v2):
    limit = _num(m.get("limit"), "memory.limit")
    _check_flag(m)      # applies to update only (check_before_update)
    swap = _num(m.get("swap"), "memory.swap")
    reservation = _num(m.get("reservation"), "memory.reservation")
    for key in ("kernel", "kernelTCP"):
        if m.get(key) is not None:
            # deprecated in runtime-spec; kernels >= 6.1 (v1) and v2 have no such limits
            from ._container import Log
            Log.note(f"linux.resources.memory.{key} ignored: deprecated, and the kernel has no such limit")
    _use_hierarchy(cg, hierarchy_flag(m), v2)
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
