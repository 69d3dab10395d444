"""Operating a running container: pause, resume, ps and update (runc's
commands of the same names).

pause freezes the container's cgroup (v1 ``freezer.state`` = FROZEN, v2
``cgroup.freeze`` = 1) and returns once the kernel says every task is
frozen; resume thaws it.  ps lists the pids in the container's cgroups.
update writes new linux.resources through _resources.apply(), on v1 and v2;
memory.checkBeforeUpdate (from the update, else the container's config)
refuses a limit below the current usage first.
"""
import os
import time

from . import _state
from ._cgroups import Manager
from ._errors import ConfigError, InvalidState, SystemError_


def _load(root, cid):
    c = _state.Container(root, cid)
    c.lock()
    try:
        c.load()
    except BaseException:
        c.unlock()
        raise
    return c


# -- pause / resume -----------------------------------------------------

def _freezer(c):
    frz = (c.data or {}).get("freezer")
    if not frz or not os.path.exists(frz):
        raise SystemError_(f"container {c.id}: no freezer cgroup (the freezer controller is not available)")
    return frz


def _write(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise SystemError_(f"write {value} to {path}", errno=e.errno) from None


def _read(path):
    with open(path) as f:
        return f.read()


def _is_frozen(frz):
    if frz.endswith("freezer.state"):
        return _read(frz).strip() == "FROZEN"
    events = os.path.join(os.path.dirname(frz), "cgroup.events")
    for line in _read(events).splitlines():
        if line.startswith("frozen "):
            return line.split()[1] == "1"
    return _read(frz).strip() == "1"


def freeze(frz, timeout=10.0):
    """Freeze and wait until the kernel reports FROZEN (v1 may stay in
    FREEZING while a task is busy in the kernel: write FROZEN again, as
    runc does).  On timeout thaw again and fail."""
    v1 = frz.endswith("freezer.state")
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        _write(frz, "FROZEN" if v1 else "1")
        if _is_frozen(frz):
            return
        if time.monotonic() > deadline:
            thaw(frz)
            raise SystemError_(f"freeze {frz}: the cgroup did not freeze within {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def thaw(frz):
    _write(frz, "THAWED" if frz.endswith("freezer.state") else "0")


def pause(root, cid):
    c = _load(root, cid)
    try:
        _state.check("pause", c.status(), cid)
        freeze(_freezer(c))
    finally:
        c.unlock()


def resume(root, cid):
    c = _load(root, cid)
    try:
        _state.check("resume", c.status(), cid)
        thaw(_freezer(c))
    finally:
        c.unlock()


# -- ps -----------------------------------------------------------------

def pids(root, cid):
    """The pids in the container's cgroups (runc ps --format json)."""
    c = _state.Container(root, cid)
    c.load()
    if c.data is None:
        raise InvalidState(f"container {cid} is being created")
    return sorted(Manager.from_state(c.data.get("cgroups", {})).pids())


def ps_table(root, cid, ps_args):
    """Run ps(1) with ps_args (default -ef) and keep the header and the
    rows whose PID is in the container (runc ps)."""
    import subprocess
    inside = set(pids(root, cid))
    try:
        out = subprocess.run(["ps", *(ps_args or ["-ef"])], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=False)
    except OSError as e:
        raise SystemError_(f"run ps: {e.strerror}") from None
    if out.returncode != 0:
        raise SystemError_(f"ps {' '.join(ps_args)}: {out.stderr.decode(errors='replace').strip()}")
    lines = out.stdout.decode(errors="replace").splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise SystemError_("ps: couldn't find the PID field in ps output")
    col = header.index("PID")
    rows = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in inside:
            rows.append(line)
    return "\n".join(rows) + "\n"


# -- update -------------------------------------------------------------

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(flag, s):
    """runc's sizes (go-units RAMInBytes): 1024, 64m, 64M, 64MB, 64MiB,
    1.5g, in binary units; -1 means unlimited."""
    import re
    v = s.strip()
    if v == "-1":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?", v)
    if not m:
        raise ConfigError(f"{flag} {s!r}: invalid size (e.g. 1024, 64m, 1g; -1 for unlimited)")
    num = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    return int(num * _UNITS[(m.group(2) or "").lower()])


def _int_flag(flag, s, lo=None):
    try:
        n = int(s)
    except ValueError:
        raise ConfigError(f"{flag} {s!r}: not an integer") from None
    if lo is not None and n < lo:
        raise ConfigError(f"{flag} {s!r}: must be at least {lo}")
    return n


def resources_from_flags(v):
    """runc update's flags -> a linux.resources object (only what is set)."""
    if v.get("kernel_memory") is not None or v.get("kernel_memory_tcp") is not None:
        raise ConfigError("--kernel-memory/--kernel-memory-tcp: kernel memory limits are not supported "
                          "(deprecated in the runtime-spec; the kernel no longer enforces them)")
    for k in ("l3_cache_schema", "mem_bw_schema"):
        if v.get(k) is not None:
            raise ConfigError(f"--{k.replace('_', '-')}: Intel RDT (resctrl) is not available on this host")
    res = {}
    mem = {}
    for flag, key in (("memory", "limit"), ("memory_reservation", "reservation"), ("memory_swap", "swap")):
        if v.get(flag) is not None:
            mem[key] = parse_size("--" + flag.replace("_", "-"), v[flag])
    if mem:
        res["memory"] = mem
    cpu = {}
    for flag, key, lo in (("cpu_shares", "shares", 0), ("cpu_quota", "quota", None), ("cpu_period", "period", 0),
                          ("cpu_rt_period", "realtimePeriod", 0), ("cpu_rt_runtime", "realtimeRuntime", None)):
        if v.get(flag) is not None:
            cpu[key] = _int_flag("--" + flag.replace("_", "-"), v[flag], lo)
    for flag, key in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if v.get(flag) is not None:
            cpu[key] = v[flag]
    if cpu:
        res["cpu"] = cpu
    if v.get("pids_limit") is not None:
        res["pids"] = {"limit": _int_flag("--pids-limit", v["pids_limit"])}
    if v.get("blkio_weight") is not None:
        w = _int_flag("--blkio-weight", v["blkio_weight"], 0)
        if w and not 10 <= w <= 1000:
            raise ConfigError(f"--blkio-weight {w}: must be 10..1000")
        res["blockIO"] = {"weight": w}
    return res


def load_resources(path):
    """-r FILE (or - for stdin): a linux.resources JSON object."""
    from ._json import load_file
    res = load_file(path, "-r")
    if not isinstance(res, dict):
        raise ConfigError(f"-r {path}: must be a JSON object (linux.resources)")
    mem = res.get("memory") or {}
    if mem.get("kernel") or mem.get("kernelTCP"):
        raise ConfigError(f"-r {path}: memory.kernel/kernelTCP: kernel memory limits are not supported")
    return res


def update(root, cid, res):
    c = _load(root, cid)
    try:
        status = c.status()
        if status in (_state.STOPPED, _state.CREATING):
            raise InvalidState(f"container {cid}: cannot update a container that is {status}")
        if not res:
            return
        cg = Manager.from_state(c.data.get("cgroups", {}))
        if cg.layout == "disabled":
            raise ConfigError(f"container {cid}: no cgroups to update")
        from ._resources import apply, check_before_update
        mem = res.get("memory")
        check = None
        if isinstance(mem, dict):
            # before _order_memory_v1, which may already write memsw
            check = check_before_update(cg, mem, c.data.get("memory_check_before_update"))
        if mem and cg.layout != "v2" and "memory" in cg.dirs:
            _order_memory_v1(cg, mem)
        devices = cg.devices
        apply(cg, res)
        changed = False
        if check is not None and check != bool(c.data.get("memory_check_before_update")):
            c.data["memory_check_before_update"] = check     # kept for later updates, as runc does
            changed = True
        if cg.devices != devices:
            # v2: the device list behind the new BPF filter, for the next update
            c.data["cgroups"] = cg.to_state()
            changed = True
        if changed:
            c.save(c.data)
    finally:
        c.unlock()


def _order_memory_v1(cg, mem):
    """v1 keeps memory.limit <= memory.memsw.limit at every write.  When
    only --memory is given: unlimited memory unlimits memsw first (runc);
    a memsw that was equal to the limit (no swap) follows the new limit."""
    d = cg.dirs["memory"]
    limit = mem.get("limit")
    memsw_file = os.path.join(d, "memory.memsw.limit_in_bytes")
    if limit is None or mem.get("swap") is not None or not os.path.exists(memsw_file):
        return
    if limit < 0:
        _write(memsw_file, "-1")
        return
    try:
        memsw = int(_read(memsw_file))
        cur = int(_read(os.path.join(d, "memory.limit_in_bytes")))
    except (OSError, ValueError):
        return
    if memsw == cur and cur < 1 << 62:
        mem["swap"] = limit
