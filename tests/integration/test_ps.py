"""ps (runc's command): json lists the pids in the container's cgroup;
table runs ps(1) with the given options and keeps the header and the
container's rows."""

import json
import os

SLEEP = ["sleep", "1000"]


def test_ps_json_lists_the_init(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    res = rt("ps", "--format", "json", cid)
    assert res.rc == 0, res
    assert json.loads(res.out) == [rt.state(cid)["pid"]]


def test_ps_json_lists_exec_processes(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    pid_file = os.path.join(ctx.tmp, "exec.pid")
    out = os.path.join(ctx.tmp, "exec.out")
    with open(out, "wb") as f:
        res = rt("exec", "-d", "--pid-file", pid_file, cid, "sleep", "1000", stdout=f, stderr=f)
    assert res.rc == 0, res
    with open(pid_file) as f:
        exec_pid = int(f.read())
    res = rt("ps", "-f", "json", cid)
    assert res.rc == 0, res
    assert sorted(json.loads(res.out)) == sorted([rt.state(cid)["pid"], exec_pid])


def test_ps_table_keeps_the_header_and_the_container_rows(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    pid = rt.state(cid)["pid"]
    res = rt("ps", cid)
    assert res.rc == 0, res
    lines = res.out.splitlines()
    header = lines[0].split()
    assert "PID" in header
    col = header.index("PID")
    assert [int(line.split()[col]) for line in lines[1:]] == [pid]
    assert "sleep 1000" in lines[1]


def test_ps_table_passes_ps_options(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    pid = rt.state(cid)["pid"]
    res = rt("ps", cid, "-o", "pid,comm")
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"]
    assert [line.split() for line in lines[1:]] == [[str(pid), "sleep"]]


def test_ps_of_a_missing_container_fails(ctx, rt):
    res = rt("ps", "oci-it-no-such-container")
    assert res.rc != 0
