"""pause / resume (runc's commands): the cgroup freezer stops every
process of the container; state says "paused"; resume thaws it."""

import os
import time

from .oci import wait_until

TICK = ["sh", "-c", "while :; do date +%s%N > /tmp/tick; usleep 20000; done"]


def tick(b):
    try:
        with open(os.path.join(b.rootfs, "tmp/tick")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def test_pause_state_resume(ctx, rt):
    b = ctx.bundle(TICK, readonly=False)
    cid, _ = ctx.run_detached(b)
    wait_until(lambda: tick(b), what="the container to tick")
    res = rt("pause", cid)
    assert res.rc == 0, res
    assert rt.status(cid) == "paused"
    frozen = tick(b)
    time.sleep(0.2)
    assert tick(b) == frozen            # nothing runs while paused
    res = rt("resume", cid)
    assert res.rc == 0, res
    assert rt.status(cid) == "running"
    wait_until(lambda: tick(b) != frozen, what="the container to tick again")


def test_pause_freezes_exec_processes_too(ctx, rt):
    b = ctx.bundle(["sleep", "1000"], readonly=False)
    cid, _ = ctx.run_detached(b)
    out = os.path.join(ctx.tmp, "exec.out")
    with open(out, "wb") as f:
        res = rt("exec", "-d", cid, "sh", "-c", "while :; do date +%s%N > /tmp/tick; usleep 20000; done",
                 stdout=f, stderr=f)
    assert res.rc == 0, res
    wait_until(lambda: tick(b), what="the exec'd process to tick")
    assert rt("pause", cid).rc == 0
    frozen = tick(b)
    time.sleep(0.2)
    assert tick(b) == frozen
    assert rt("resume", cid).rc == 0


def test_pause_of_a_paused_container_fails_resume_of_a_running_one_fails(ctx, rt):
    b = ctx.bundle(["sleep", "1000"])
    cid, _ = ctx.run_detached(b)
    assert rt("resume", cid).rc != 0
    assert rt("pause", cid).rc == 0
    assert rt("pause", cid).rc != 0
    assert rt("resume", cid).rc == 0
    assert rt.status(cid) == "running"


def test_pause_of_a_stopped_container_fails(ctx, rt):
    b = ctx.bundle(["true"])
    cid, _ = ctx.run_detached(b)
    ctx.wait_status(cid, "stopped")
    res = rt("pause", cid)
    assert res.rc != 0
    assert res.err.strip()


def test_kill_and_delete_force_of_a_paused_container(ctx, rt):
    b = ctx.bundle(["sleep", "1000"])
    cid, _ = ctx.run_detached(b)
    assert rt("pause", cid).rc == 0
    res = rt("delete", "--force", cid)
    assert res.rc == 0, res
    assert cid not in rt.ids()
