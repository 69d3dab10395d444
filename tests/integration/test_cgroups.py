"""Cgroups (config-linux.md "Control groups", "cgroupsPath"): the path is
honoured, resources are applied, and delete removes what create made."""

import os

from .oci import cgroup_dirs, pid_alive

SLEEP = ["sleep", "1000"]


def cgroup_file(dirs, *names):
    """The first of ``names`` that exists in one of the cgroup ``dirs``."""
    for d in sorted(dirs):
        for name in names:
            path = os.path.join(d, name)
            if os.path.exists(path):
                with open(path) as f:
                    return f.read().strip()
    raise AssertionError("none of %s in %s" % (names, sorted(dirs)))


def test_cgroups_path_is_used_and_removed(ctx, rt):
    cid = ctx.new_id()
    path = "/%s-cg" % cid
    b = ctx.bundle(SLEEP)
    b.linux["cgroupsPath"] = path
    ctx.create(b, cid)
    pid = rt.state(cid)["pid"]
    with open("/proc/%d/cgroup" % pid) as f:
        lines = f.read().splitlines()
    mine = [line for line in lines if line.endswith(path)]
    assert mine, lines
    dirs = cgroup_dirs(pid)
    assert dirs and all(d.endswith(path) for d in dirs), dirs
    ctx.start(cid)
    assert rt("kill", cid, "KILL").rc == 0
    ctx.wait_status(cid, "stopped")
    assert rt("delete", cid).rc == 0
    assert not pid_alive(pid)
    assert [d for d in dirs if os.path.exists(d)] == []


def test_pids_and_memory_limits(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.linux["resources"]["pids"] = {"limit": 123}
    b.linux["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
    cid, _ = ctx.create(b)
    dirs = cgroup_dirs(rt.state(cid)["pid"])
    assert cgroup_file(dirs, "pids.max") == "123"
    assert cgroup_file(dirs, "memory.max", "memory.limit_in_bytes") == str(
        64 * 1024 * 1024)


def test_pids_limit_enforced(ctx):
    b = ctx.bundle(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; "
                    "echo all-forked"])
    b.linux["resources"]["pids"] = {"limit": 4}
    _, res = ctx.run(b)
    assert "all-forked" not in res.out, res
    assert res.rc != 0 and "fork" in res.err, res
