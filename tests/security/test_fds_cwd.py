"""CVE-2024-21626 class: no fd of the runtime reaches the container's
process (only stdio and --preserve-fds), and the process's cwd always
resolves inside the container, even when process.cwd names one of the
runtime's fds through /proc/self/fd/N."""

import os
import subprocess

import pytest

from integration import oci

from .conftest import parse_probe

pytestmark = pytest.mark.container


def _fds(lines):
    return {int(w[1]): w[3] for w in lines if w[0] == "fd"}


def _value(lines, key):
    for w in lines:
        if w[0] == key:
            return " ".join(w[1:])
    return None


def test_run_process_has_only_stdio(ctx):
    b = ctx.bundle(args=["/probe", "fds"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    lines = parse_probe(res.out)
    assert sorted(_fds(lines)) == [0, 1, 2], res.out
    assert _value(lines, "getcwd") == "/"


def test_created_then_started_process_has_only_stdio(ctx):
    b = ctx.bundle(args=["/probe", "fds"])
    cid, _ = ctx.create(b)
    ctx.start(cid)
    oci.wait_until(lambda: "getcwd" in ctx.output(cid), what="the probe's output")
    lines = parse_probe(ctx.output(cid))
    assert sorted(_fds(lines)) == [0, 1, 2], lines
    assert _value(lines, "getcwd") == "/"


def test_preserve_fds_are_the_only_extra_fds(ctx, tmp_path):
    b = ctx.bundle(args=["/probe", "fds"])
    b.write()
    cid = ctx.new_id()
    paths = [str(tmp_path / "keep3"), str(tmp_path / "keep4"), str(tmp_path / "not5")]
    fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in paths]
    out_path, err_path = ctx.stdio_paths(cid)
    try:
        # the fds must be 3, 4, 5 in the runtime: move them there
        wanted = []
        for i, fd in enumerate(fds):
            os.dup2(fd, 100 + i)
            wanted.append(100 + i)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            res = subprocess.run(
                ctx.rt.argv(["run", "--bundle", b.path, "--preserve-fds", "2", cid]),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=oci.COMMAND_TIMEOUT,
                pass_fds=(3, 4, 5), preexec_fn=lambda: [os.dup2(w, 3 + i) for i, w in enumerate(wanted)])
    finally:
        for fd in fds:
            os.close(fd)
        for w in range(100, 103):
            try:
                os.close(w)
            except OSError:
                pass
    assert res.returncode == 0, open(err_path).read()
    lines = parse_probe(ctx.output(cid))
    got = _fds(lines)
    assert sorted(got) == [0, 1, 2, 3, 4], lines
    assert got[3] == paths[0] and got[4] == paths[1], got


# fds the runtime may hold while it sets the init up; the init must refuse
# each as a cwd or resolve it inside the container.
CWD_FDS = list(range(3, 11))


@pytest.mark.parametrize("n", CWD_FDS)
def test_cwd_through_proc_self_fd_never_reaches_the_host(ctx, n):
    b = ctx.bundle(args=["/probe", "fds"])
    b.process["cwd"] = "/proc/self/fd/%d" % n
    _, res = ctx.run(b)
    if res.rc != 0:
        # refused: that is the safe outcome (no process ran)
        assert "getcwd" not in res.out, res
        return
    lines = parse_probe(res.out)
    cwd = _value(lines, "getcwd") or ""
    assert cwd.startswith("/") and "unreachable" not in cwd, res.out
    link = _value(lines, "cwd") or ""
    assert link.startswith("/") and "unreachable" not in link, res.out


def test_cwd_through_proc_self_fd_on_create_start(ctx):
    """The same with the create/start split: the init holds the exec fifo
    and the sync socket while it waits."""
    for n in (3, 4, 5, 6, 7):
        b = ctx.bundle(args=["/probe", "fds"])
        b.process["cwd"] = "/proc/self/fd/%d" % n
        cid, res = ctx.create(b, check=False)
        if res.rc != 0:
            continue
        ctx.remember(cid)
        ctx.start(cid)
        oci.wait_until(lambda: "getcwd" in ctx.output(cid) or ctx.rt.status(cid) != "running",
                       what="the probe")
        cwd = _value(parse_probe(ctx.output(cid)), "getcwd") or ""
        assert cwd.startswith("/") and "unreachable" not in cwd, ctx.output(cid)


def _running(ctx):
    b = ctx.bundle(args=["sleep", "60"])
    cid, _ = ctx.run_detached(b)
    return cid


def test_exec_process_has_only_stdio(ctx):
    cid = _running(ctx)
    res = ctx.rt("exec", cid, "/probe", "fds")
    assert res.rc == 0, res
    lines = parse_probe(res.out)
    assert sorted(_fds(lines)) == [0, 1, 2], res.out
    assert _value(lines, "getcwd") == "/"


@pytest.mark.parametrize("n", CWD_FDS)
def test_exec_cwd_through_proc_self_fd_never_reaches_the_host(ctx, n):
    cid = _running(ctx)
    res = ctx.rt("exec", "--cwd", "/proc/self/fd/%d" % n, cid, "/probe", "fds")
    if res.rc != 0:
        assert "getcwd" not in res.out, res
        return
    lines = parse_probe(res.out)
    cwd = _value(lines, "getcwd") or ""
    assert cwd.startswith("/") and "unreachable" not in cwd, res.out
