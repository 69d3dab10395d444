"""checkpoint / restore (runc's commands, through CRIU).

What is asserted follows the contract, not servin's wording, so the same
cases run against runc (OCI_RUNTIME=runc): bad flags fail and change
nothing, a created or stopped container cannot be checkpointed, the image
directory is made (./checkpoint by default), a restore from a bad image
fails and leaves no container, cgroup, mount or process.

The real checkpoint depends on CRIU working on this kernel: ``criu check``
decides which of the two paths runs -- checkpoint + restore of a running
busybox container when it passes, and otherwise a checkpoint that fails
with criu's error and leaves the container running as it was.  The other
path is skipped with the line ``criu check`` printed.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from .oci import is_runc, wait_until

TICK = ["sh", "-c", "while :; do date +%s%N > /tmp/tick; usleep 20000; done"]
MODES = ["soft", "full", "strict", "ignore"]


def _criu():
    return shutil.which("criu") or next((p for p in ("/usr/sbin/criu", "/sbin/criu")
                                         if os.access(p, os.X_OK)), None)


@pytest.fixture(scope="module")
def criu_check():
    """(works, why): the result of ``criu check`` on this machine."""
    criu = _criu()
    if criu is None:
        return False, "criu is not installed"
    res = subprocess.run([criu, "check"], capture_output=True, text=True, timeout=60)
    lines = [ln.strip() for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    if res.returncode == 0:
        return True, lines[-1] if lines else "criu check: ok"
    errors = [ln for ln in lines if "Error" in ln]
    return False, "criu check failed (exit %d): %s" % (res.returncode, " / ".join(errors[-3:] or lines[-3:]))


def tick(b):
    try:
        with open(os.path.join(b.rootfs, "tmp/tick")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def running(ctx, b):
    cid, _ = ctx.run_detached(b)
    return cid, ctx.rt.state(cid)["pid"]


def starttime(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def assert_untouched(ctx, cid, pid, st):
    state = ctx.rt.state(cid)
    assert state["status"] == "running", state
    assert state["pid"] == pid and starttime(pid) == st


def names_mode_flag(res):
    err = res.err.lower()
    return "manage-cgroups-mode" in err or "manage cgroups mode" in err


def is_criu_failure(res):
    return res.rc != 0 and "criu" in res.err.lower()


# -- flags ----------------------------------------------------------------

def test_unknown_flag_fails_and_changes_nothing(ctx, rt):
    b = ctx.bundle(["sleep", "1000"])
    cid, pid = running(ctx, b)
    st = starttime(pid)
    for cmd in ("checkpoint", "restore"):
        res = rt(cmd, "--no-such-flag", cid)
        assert res.rc != 0, res
        assert "no-such-flag" in res.err
    assert_untouched(ctx, cid, pid, st)
    assert rt.ids() == [cid]


def test_manage_cgroups_mode_values(ctx, rt, criu_check):
    b = ctx.bundle(["sleep", "1000"])
    cid, pid = running(ctx, b)
    st = starttime(pid)
    res = rt("checkpoint", "--leave-running", "--image-path", os.path.join(ctx.tmp, "bad"),
             "--manage-cgroups-mode", "bogus", cid)
    assert res.rc != 0 and names_mode_flag(res), res
    assert "criu" not in res.err.lower()
    assert_untouched(ctx, cid, pid, st)
    for mode in MODES:
        if mode == "ignore" and is_runc(rt.binary):
            continue    # runc 1.1.5 knows soft|full|strict; "ignore" came with runc 1.2
        img = os.path.join(ctx.tmp, "img-" + mode)
        res = rt("checkpoint", "--leave-running", "--image-path", img, "--manage-cgroups-mode", mode, cid)
        if criu_check[0]:
            assert res.rc == 0, res
        else:
            # the value is accepted: what fails is criu itself
            assert is_criu_failure(res) and not names_mode_flag(res), res
        assert_untouched(ctx, cid, pid, st)


def test_checkpoint_of_a_created_container_fails(ctx, rt):
    b = ctx.bundle(["sleep", "1000"])
    cid, _ = ctx.create(b)
    img = os.path.join(ctx.tmp, "img")
    res = rt("checkpoint", "--image-path", img, cid)
    assert res.rc != 0, res
    assert "created" in res.err, res
    assert "criu" not in res.err.lower()
    assert rt.status(cid) == "created"


def test_checkpoint_of_a_stopped_container_fails(ctx, rt):
    b = ctx.bundle(["true"])
    cid, _ = ctx.run_detached(b)
    ctx.wait_status(cid, "stopped")
    res = rt("checkpoint", "--image-path", os.path.join(ctx.tmp, "img"), cid)
    assert res.rc != 0 and "stopped" in res.err, res
    assert rt.status(cid) == "stopped"


def test_checkpoint_of_a_missing_container_fails(ctx, rt):
    res = rt("checkpoint", "--image-path", os.path.join(ctx.tmp, "img"), "oci-it-nonexistent")
    assert res.rc != 0 and "does not exist" in res.err, res


def test_image_path_defaults_to_checkpoint_in_the_cwd(ctx, rt, criu_check):
    """runc: no --image-path means ./checkpoint, made if missing."""
    b = ctx.bundle(["sleep", "1000"])
    cid, pid = running(ctx, b)
    st = starttime(pid)
    wd = os.path.join(ctx.tmp, "wd")
    os.mkdir(wd)
    res = rt("checkpoint", "--leave-running", cid, cwd=wd)
    assert os.path.isdir(os.path.join(wd, "checkpoint")), res
    if criu_check[0]:
        assert res.rc == 0, res
    else:
        assert is_criu_failure(res), res
    assert_untouched(ctx, cid, pid, st)


# -- a real checkpoint ------------------------------------------------------

def test_checkpoint_and_restore_a_running_container(ctx, rt, criu_check):
    works, why = criu_check
    if not works:
        pytest.skip("CRIU does not work on this kernel: " + why)
    b = ctx.bundle(TICK, readonly=False)
    cid, pid = running(ctx, b)
    wait_until(lambda: tick(b), what="the container to tick")
    img = os.path.join(ctx.tmp, "img")
    res = rt("checkpoint", "--image-path", img, cid)
    assert res.rc == 0, res
    assert cid not in rt.ids()           # a full dump ends the container
    assert os.path.exists(os.path.join(img, "inventory.img"))
    assert os.path.exists(os.path.join(img, "descriptors.json"))
    out = os.path.join(ctx.tmp, "restore.out")
    with open(out, "wb") as f:
        res = rt("restore", "-d", "--bundle", b.path, "--image-path", img, cid, stdout=f, stderr=f)
    with open(out, errors="replace") as f:
        res.err = f.read()
    assert res.rc == 0, res
    ctx.remember(cid)
    assert rt.status(cid) == "running"
    before = tick(b)
    wait_until(lambda: tick(b) != before, what="the restored container to tick")


def test_checkpoint_fails_clearly_and_leaves_the_container_running(ctx, rt, criu_check):
    works, why = criu_check
    if works:
        pytest.skip("CRIU works here (%s): the success path runs instead" % why)
    b = ctx.bundle(TICK, readonly=False)
    cid, pid = running(ctx, b)
    st = starttime(pid)
    wait_until(lambda: tick(b), what="the container to tick")
    img = os.path.join(ctx.tmp, "img")
    res = rt("checkpoint", "--image-path", img, cid)
    assert is_criu_failure(res), res
    assert_untouched(ctx, cid, pid, st)
    before = tick(b)
    wait_until(lambda: tick(b) != before, what="the container to tick after the failed checkpoint")
    assert not os.path.exists(os.path.join(img, "inventory.img"))
    if not is_runc(rt.binary):
        lines = res.error_lines
        assert len(lines) == 1, res
        m = re.match(r"servin-runc: checkpoint: criu dump failed \(exit (\d+)\): (.+) \(log: (/\S+)\)$", lines[0])
        assert m, lines[0]
        assert m.group(1) != "0" and "Error" in m.group(2)
        assert os.path.isfile(m.group(3))
        # the pre-dump and --leave-running paths fail the same way
        for flags in (("--pre-dump",), ("--leave-running", "--file-locks", "--tcp-established")):
            res = rt("checkpoint", "--image-path", img, *flags, cid)
            assert is_criu_failure(res), res
            assert_untouched(ctx, cid, pid, st)


# -- restore from a bad image ------------------------------------------------

def _restore_leaves_nothing(ctx, rt, img):
    b = ctx.bundle(["sleep", "1000"])
    b.write()
    cid = ctx.new_id()
    res = rt("restore", "-d", "--bundle", b.path, "--image-path", img, cid, timeout=30)
    assert res.rc != 0, res
    assert res.err.strip(), res
    assert cid not in rt.ids()
    assert not os.path.exists(os.path.join(rt.root, cid))
    return res


def test_restore_from_a_missing_image_dir_fails_leaving_nothing(ctx, rt):
    res = _restore_leaves_nothing(ctx, rt, os.path.join(ctx.tmp, "nonexistent"))
    if not is_runc(rt.binary):
        assert "nonexistent: no such directory" in res.err, res


def test_restore_from_an_empty_image_dir_fails_leaving_nothing(ctx, rt):
    img = os.path.join(ctx.tmp, "empty")
    os.mkdir(img)
    res = _restore_leaves_nothing(ctx, rt, img)
    if not is_runc(rt.binary):
        assert "not a checkpoint" in res.err, res


def test_restore_from_a_corrupt_image_fails_leaving_nothing(ctx, rt):
    """Past the runtime's own checks: criu itself fails; the state dir,
    cgroups and the rootfs bind made for it are gone again."""
    if _criu() is None:
        pytest.skip("criu is not installed")
    img = os.path.join(ctx.tmp, "corrupt")
    os.mkdir(img)
    with open(os.path.join(img, "inventory.img"), "wb") as f:
        f.write(b"not an image")
    with open(os.path.join(img, "descriptors.json"), "w") as f:
        f.write('["/dev/null", "/dev/null", "/dev/null"]')
    res = _restore_leaves_nothing(ctx, rt, img)
    assert "criu" in res.err.lower(), res
    if not is_runc(rt.binary):
        assert re.match(r"servin-runc: restore: criu restore failed \(exit \d+\): .+ \(log: /\S+restore\.log\)$",
                        res.error_lines[-1]), res


def test_a_missing_criu_binary_fails_clearly(ctx, rt):
    """runc's global --criu names the binary; a missing one fails the
    checkpoint and leaves the container running."""
    b = ctx.bundle(["sleep", "1000"])
    cid, pid = running(ctx, b)
    st = starttime(pid)
    missing = os.path.join(ctx.tmp, "no-criu")
    res = rt("checkpoint", "--image-path", os.path.join(ctx.tmp, "img"), cid, global_args=("--criu", missing))
    assert res.rc != 0 and "no-criu" in res.err, res
    assert_untouched(ctx, cid, pid, st)
