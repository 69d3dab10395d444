"""process.execCPUAffinity (config.md, "Linux Process"): an exec'd process
runs on ``initial`` until it is in the container's cgroups and on
``final`` after; the container's init is not affected.  Seen from inside
the container in /proc/self/status (Cpus_allowed_list).  The tests need
two CPUs (0 and 1) and a container cpuset that has both."""

import json
import os

import pytest

from .oci import runc_deviates

SLEEP = ["sleep", "1000"]
ALLOWED = "grep Cpus_allowed_list /proc/self/status | cut -f2"

pytestmark = pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0),
                                reason="needs CPUs 0 and 1")

DEVIATES = runc_deviates("runc 1.1.5 predates process.execCPUAffinity (runtime-spec 1.2) "
                         "and ignores it")


def running(ctx):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    return cid


def exec_with(ctx, rt, cid, affinity, args=("sh", "-c", ALLOWED)):
    """exec --process with execCPUAffinity; returns the Result."""
    proc = {"args": list(args), "cwd": "/", "env": ["PATH=/bin"], "terminal": False,
            "user": {"uid": 0, "gid": 0}, "execCPUAffinity": affinity}
    path = os.path.join(ctx.tmp, "process-%d.json" % len(os.listdir(ctx.tmp)))
    with open(path, "w") as f:
        json.dump(proc, f)
    return rt("exec", "--process", path, cid)


def allowed(res):
    assert res.rc == 0, res
    return res.out.strip()


@DEVIATES
@pytest.mark.parametrize("initial,final", [("0", "1"), ("1", "0"), ("0-1", "1"), ("0-1", "0")])
def test_exec_runs_on_final(ctx, rt, initial, final):
    cid = running(ctx)
    assert allowed(exec_with(ctx, rt, cid, {"initial": initial, "final": final})) == final


@DEVIATES
@pytest.mark.parametrize("initial", ["0", "1"])
def test_exec_initial_alone_is_kept_by_the_kernel(ctx, rt, initial):
    # without final the runtime leaves the mask alone after the cgroup move
    # (runtime-spec 1.2.1) and this kernel keeps a mask set by
    # sched_setaffinity within the new cpuset: initial is what the process has
    cid = running(ctx)
    assert allowed(exec_with(ctx, rt, cid, {"initial": initial})) == initial


@DEVIATES
def test_exec_final_alone(ctx, rt):
    cid = running(ctx)
    assert allowed(exec_with(ctx, rt, cid, {"final": "1"})) == "1"


@DEVIATES
def test_config_affinity_is_for_exec_not_the_init(ctx, rt):
    # exec without --process takes config.json's process, execCPUAffinity too
    b = ctx.bundle(["sh", "-c", ALLOWED + "; exec sleep 1000"])
    b.process["execCPUAffinity"] = {"initial": "0", "final": "1"}
    cid, _ = ctx.run_detached(b)
    res = rt("exec", cid, "sh", "-c", ALLOWED)
    assert allowed(res) == "1"
    with open("/proc/%d/status" % rt.state(cid)["pid"]) as f:
        init = [line.split()[1] for line in f if line.startswith("Cpus_allowed_list")]
    assert init == ["0-1"]


@DEVIATES
@pytest.mark.parametrize("affinity,field", [
    ({"initial": "0-x"}, "process.execCPUAffinity.initial"),
    ({"final": "1-0"}, "process.execCPUAffinity.final"),
    ({"final": "-1"}, "process.execCPUAffinity.final"),
    ({"final": 1}, "process.execCPUAffinity.final"),
])
def test_exec_bad_cpu_list_is_refused(ctx, rt, affinity, field):
    cid = running(ctx)
    res = exec_with(ctx, rt, cid, affinity, args=("true",))
    assert res.rc != 0
    assert len(res.error_lines) == 1, res
    assert field in res.err


@DEVIATES
def test_exec_final_outside_the_container_cpuset_is_refused(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.linux["resources"]["cpu"] = {"cpus": "0", "mems": "0"}
    cid, _ = ctx.run_detached(b)
    res = exec_with(ctx, rt, cid, {"final": "1"}, args=("sh", "-c", "echo ran"))
    assert res.rc != 0
    assert "ran" not in res.out
    assert len(res.error_lines) == 1, res
    assert "process.execCPUAffinity.final" in res.err and "'1'" in res.err
    # nothing was left running in the container
    ps = rt("ps", "--format", "json", cid)
    assert ps.rc == 0, ps
    assert json.loads(ps.out) == [rt.state(cid)["pid"]]
