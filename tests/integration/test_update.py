"""update (runc's command and flags): new limits land in the container's
cgroup files (v1 or v2) and are enforced; -r takes a resources JSON."""

import json
import os

from .oci import cgroup_dirs, runc_deviates, stricter_than_runc, wait_until

SLEEP = ["sleep", "1000"]


def cgroup_file(pid, v1_controller, v1_name, v2_name):
    """The path of a cgroup file of ``pid``: in the v1 controller's
    hierarchy if it is mounted, else in the unified one."""
    dirs = cgroup_dirs(pid)
    for d in dirs:
        rel = os.path.relpath(d, "/sys/fs/cgroup").split(os.sep)[0]
        if v1_controller in rel.split(",") and os.path.exists(os.path.join(d, v1_name)):
            return os.path.join(d, v1_name)
    for d in dirs:
        if os.path.exists(os.path.join(d, v2_name)):
            return os.path.join(d, v2_name)
    raise AssertionError("no %s or %s for pid %d" % (v1_name, v2_name, pid))


def read(path):
    with open(path) as f:
        return f.read().strip()


def started(ctx, rt, args=SLEEP):
    cid, _ = ctx.run_detached(ctx.bundle(args))
    return cid, rt.state(cid)["pid"]


def test_update_memory_with_a_suffix(ctx, rt):
    cid, pid = started(ctx, rt)
    res = rt("update", "--memory", "64m", cid)
    assert res.rc == 0, res
    path = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
    assert read(path) == str(64 << 20)
    res = rt("update", "--memory", "128M", "--memory-reservation", "32m", cid)
    assert res.rc == 0, res
    assert read(path) == str(128 << 20)


def test_update_pids_limit_is_enforced(ctx, rt):
    cid, pid = started(ctx, rt)
    res = rt("update", "--pids-limit", "5", cid)
    assert res.rc == 0, res
    assert read(cgroup_file(pid, "pids", "pids.max", "pids.max")) == "5"
    forks = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait"
    res = rt("exec", cid, "sh", "-c", forks, timeout=15)
    assert res.rc != 0
    assert "fork" in res.err
    res = rt("update", "--pids-limit", "100", cid)
    assert res.rc == 0, res
    res = rt("exec", cid, "sh", "-c", forks, timeout=15)
    assert res.rc == 0, res


def test_update_cpu_from_a_resources_file(ctx, rt):
    cid, pid = started(ctx, rt)
    path = os.path.join(ctx.tmp, "resources.json")
    with open(path, "w") as f:
        json.dump({"cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 50}}, f)
    res = rt("update", "-r", path, cid)
    assert res.rc == 0, res
    quota = cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max")
    if quota.endswith("cpu.max"):
        assert read(quota) == "50000 100000"
    else:
        assert read(quota) == "50000"
        assert read(os.path.join(os.path.dirname(quota), "cpu.cfs_period_us")) == "100000"


def test_update_resources_from_stdin(ctx, rt):
    cid, pid = started(ctx, rt)
    res = rt("update", "-r", "-", cid, input=json.dumps({"memory": {"limit": 96 << 20}}))
    assert res.rc == 0, res
    assert read(cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")) == str(96 << 20)


def test_update_bad_value_fails(ctx, rt):
    cid, pid = started(ctx, rt)
    res = rt("update", "--memory", "lots", cid)
    assert res.rc != 0
    assert res.err.strip()


@stricter_than_runc("runc 1.1 accepts --kernel-memory, warns and ignores it; servin refuses a "
                    "limit it cannot apply (issue 4)")
def test_update_kernel_memory_is_refused(ctx, rt):
    cid, _ = started(ctx, rt)
    res = rt("update", "--kernel-memory", "16m", cid)
    assert res.rc != 0
    assert "kernel" in res.err.lower()


def test_update_of_a_stopped_container_fails(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(["true"]))
    ctx.wait_status(cid, "stopped")
    res = rt("update", "--pids-limit", "10", cid)
    assert res.rc != 0


# -- memory.checkBeforeUpdate (config-linux.md "Memory") -----------------

MIB = 1 << 20
CHECK_DEVIATES = "runc 1.1.5 predates linux.resources.memory.checkBeforeUpdate (runtime-spec 1.2): "


def holding(ctx, rt, fill, limit=256 * MIB, check=None, readonly=True):
    """A container that has written 32 MiB (``fill`` is a path inside it),
    with the memory cgroup's usage at least that; returns (cid, limit file)."""
    b = ctx.bundle(["sh", "-c", "dd if=/dev/zero of=%s bs=1M count=32 2>/dev/null; "
                    "echo full > /dev/shm/done; exec sleep 1000" % fill], readonly=readonly)
    b.linux["resources"]["memory"] = {"limit": limit}
    if check is not None:
        b.linux["resources"]["memory"]["checkBeforeUpdate"] = check
    cid, _ = ctx.run_detached(b)
    pid = rt.state(cid)["pid"]
    path = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
    usage = os.path.join(os.path.dirname(path), "memory.usage_in_bytes"
                         if path.endswith("limit_in_bytes") else "memory.current")
    wait_until(lambda: os.path.exists("/proc/%d/root/dev/shm/done" % pid), what="the 32 MiB")
    assert int(read(usage)) >= 32 * MIB
    return cid, path


@runc_deviates(CHECK_DEVIATES + "it writes the limit anyway; the kernel cannot reclaim shared memory "
               "without swap and refuses (EBUSY), and runc's error names no field")
def test_update_check_before_update_refuses_a_limit_below_usage(ctx, rt):
    # 32 MiB of shared memory: a lower limit is refused by the runtime,
    # naming the field and both numbers, and the old limit stays
    cid, path = holding(ctx, rt, "/dev/shm/fill")
    res = rt("update", "-r", "-", cid,
             input=json.dumps({"memory": {"limit": 16 * MIB, "checkBeforeUpdate": True}}))
    assert res.rc != 0
    assert len(res.error_lines) == 1, res
    line = res.error_lines[0]
    assert "checkBeforeUpdate" in line and str(16 * MIB) in line, line
    usage = [int(w) for w in line.replace("(", " ").split() if w.isdigit() and int(w) != 16 * MIB]
    assert usage and usage[0] >= 32 * MIB, line
    assert read(path) == str(256 * MIB)
    # above the usage it is applied
    res = rt("update", "-r", "-", cid,
             input=json.dumps({"memory": {"limit": 128 * MIB, "checkBeforeUpdate": True}}))
    assert res.rc == 0, res
    assert read(path) == str(128 * MIB)


@runc_deviates(CHECK_DEVIATES + "the kernel reclaims the page cache and the lower limit is applied")
def test_update_check_before_update_from_the_config(ctx, rt):
    # 32 MiB of page cache, which the kernel could reclaim: with the
    # config's checkBeforeUpdate the runtime refuses a lower --memory;
    # once an update turns the check off, the kernel reclaims and the
    # lower limit is applied
    cid, path = holding(ctx, rt, "/fill", check=True, readonly=False)
    res = rt("update", "--memory", "16m", cid)
    assert res.rc != 0
    assert "checkBeforeUpdate" in res.err, res
    assert read(path) == str(256 * MIB)
    res = rt("update", "-r", "-", cid,
             input=json.dumps({"memory": {"limit": 16 * MIB, "checkBeforeUpdate": False}}))
    assert res.rc == 0, res
    assert read(path) == str(16 * MIB)
