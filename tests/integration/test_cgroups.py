"""Cgroups (config-linux.md "Control groups", "cgroupsPath"): the path is
honoured, resources are applied, and delete removes what create made."""

import os

from .oci import cgroup_dirs, pid_alive, runc_deviates

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


def test_memory_use_hierarchy(ctx, rt):
    """useHierarchy true: memory.use_hierarchy is 1 (v1; v2 is always
    hierarchical)."""
    b = ctx.bundle(SLEEP)
    b.linux["resources"]["memory"] = {"useHierarchy": True}
    cid, _ = ctx.create(b)
    dirs = cgroup_dirs(rt.state(cid)["pid"])
    mem = [d for d in dirs if os.path.exists(os.path.join(d, "memory.use_hierarchy"))]
    if mem:
        assert cgroup_file(mem, "memory.use_hierarchy") == "1"


@runc_deviates("runc 1.1.5 ignores useHierarchy false and runs the container anyway")
def test_memory_use_hierarchy_false_is_refused_where_the_kernel_cannot(ctx):
    """Since Linux 5.16 memory cgroups are always hierarchical: false is
    an error naming the field, and the failed create leaves nothing."""
    b = ctx.bundle(SLEEP)
    b.linux["resources"]["memory"] = {"useHierarchy": False}
    b.write()
    cid = ctx.new_id()
    res = ctx.rt("create", "--bundle", b.path, cid)
    assert res.rc != 0
    assert len(res.error_lines) == 1 and "useHierarchy" in res.err, res
    assert cid not in ctx.rt.ids()


def test_pids_limit_enforced(ctx):
    b = ctx.bundle(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; "
                    "echo all-forked"])
    b.linux["resources"]["pids"] = {"limit": 4}
    _, res = ctx.run(b)
    assert "all-forked" not in res.out, res
    assert res.rc != 0 and "fork" in res.err, res
