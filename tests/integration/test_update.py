"""update (runc's command and flags): new limits land in the container's
cgroup files (v1 or v2) and are enforced; -r takes a resources JSON."""

import json
import os

from .oci import cgroup_dirs, stricter_than_runc

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
