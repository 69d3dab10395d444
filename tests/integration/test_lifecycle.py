"""Lifecycle (runtime-spec runtime.md) through runc's command line:
create/start/state/kill/delete, run (foreground, --detach, --keep),
--pid-file, list, and the JSON log."""

import json
import os
import signal
import subprocess
import time

import pytest

from .oci import (ConsoleSocket, cgroup_dirs, children, mounts_under,
                  pid_alive, wait_until)

SLEEP = ["sleep", "1000"]


def marker_bundle(ctx, name="ran"):
    """A container whose user code leaves /tmp/<name> in the rootfs, then
    sleeps; returns (bundle, host path of the marker)."""
    b = ctx.bundle(["sh", "-c", "touch /tmp/%s; exec sleep 1000" % name],
                   readonly=False)
    return b, os.path.join(b.rootfs, "tmp", name)


def test_create_waits_start_runs(ctx, rt):
    b, marker = marker_bundle(ctx)
    cid, _ = ctx.create(b)
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["pid"] > 0 and pid_alive(st["pid"])
    time.sleep(0.2)
    assert not os.path.exists(marker), "user code ran before start"

    ctx.start(cid)
    wait_until(lambda: os.path.exists(marker), what="user code to run")
    st = rt.state(cid)
    assert st["status"] == "running"
    assert pid_alive(st["pid"])


def test_state_fields(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.config["annotations"] = {"org.servin.test": "yes", "k2": "v 2"}
    cid, _ = ctx.create(b)
    st = rt.state(cid)
    assert isinstance(st["ociVersion"], str) and st["ociVersion"]
    assert st["id"] == cid
    assert st["status"] == "created"
    assert isinstance(st["pid"], int) and st["pid"] > 0
    assert st["bundle"] == os.path.realpath(b.path)
    assert os.path.isabs(st["bundle"])
    assert st["annotations"] == {"org.servin.test": "yes", "k2": "v 2"}


def test_state_of_unknown_container_fails(ctx, rt):
    res = rt("state", "no-such-container")
    assert res.rc != 0
    assert res.out.strip() == ""


def test_config_changes_after_create_have_no_effect(ctx, rt):
    # runtime.md Create: "Any changes made to config.json after this
    # operation will not have an effect on the container."
    b = ctx.bundle(["sh", "-c", "echo $MARK"])
    b.process["env"].append("MARK=original")
    cid, _ = ctx.create(b)
    b.process["env"][-1] = "MARK=changed"
    b.process["args"] = ["sh", "-c", "echo changed-args"]
    b.write()
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    assert ctx.output(cid) == "original\n"


def test_exit_is_observed_as_stopped(ctx, rt):
    b = ctx.bundle(["sh", "-c", "exit 3"])
    cid, _ = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    assert rt.state(cid)["id"] == cid


def test_delete_removes_state_process_cgroups(ctx, rt):
    b = ctx.bundle(SLEEP)
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    cgroups = cgroup_dirs(pid)
    assert cgroups, "the container is in no cgroup of its own"
    assert all(os.path.isdir(d) for d in cgroups)
    ctx.start(cid)
    assert rt("kill", cid, "KILL").rc == 0
    ctx.wait_status(cid, "stopped")

    res = rt("delete", cid)
    assert res.rc == 0, res
    assert cid not in rt.ids()
    assert rt("state", cid).rc != 0
    assert not pid_alive(pid)
    left = [d for d in cgroups if os.path.isdir(d)]
    assert not left, "cgroups left after delete: %s" % left
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert mounts_under(b.path) == []


def test_delete_created_container(ctx, rt):
    b, marker = marker_bundle(ctx)
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    res = rt("delete", cid)
    assert res.rc == 0, res
    assert cid not in rt.ids()
    wait_until(lambda: not pid_alive(pid), timeout=5,
               what="the created process to go")
    assert not os.path.exists(marker), "user code ran without start"


def test_start_running_container_fails(ctx, rt):
    b = ctx.bundle(SLEEP)
    cid, _ = ctx.create(b)
    ctx.start(cid)
    pid = rt.state(cid)["pid"]
    res = rt("start", cid)
    assert res.rc != 0
    st = rt.state(cid)
    assert st["status"] == "running" and st["pid"] == pid
    assert pid_alive(pid)


def test_start_stopped_container_fails(ctx, rt):
    b = ctx.bundle(["true"])
    cid, _ = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    res = rt("start", cid)
    assert res.rc != 0
    assert rt.status(cid) == "stopped"


def test_start_unknown_container_fails(ctx, rt):
    assert rt("start", "no-such-container").rc != 0


def test_delete_running_needs_force(ctx, rt):
    b = ctx.bundle(SLEEP)
    cid, _ = ctx.create(b)
    ctx.start(cid)
    pid = rt.state(cid)["pid"]
    res = rt("delete", cid)
    assert res.rc != 0
    assert rt.status(cid) == "running" and pid_alive(pid)

    res = rt("delete", "--force", cid)
    assert res.rc == 0, res
    assert cid not in rt.ids()
    wait_until(lambda: not pid_alive(pid), timeout=5, what="pid to go")


def test_delete_unknown_container_fails(ctx, rt):
    assert rt("delete", "no-such-container").rc != 0


# ------------------------------------------------------------------ run


def test_run_exit_code(ctx):
    _, res = ctx.run(ctx.bundle(["sh", "-c", "echo out; echo err >&2; exit 42"]))
    assert res.rc == 42, res
    assert res.out == "out\n"
    assert "err\n" in res.err


def test_run_success_leaves_nothing(ctx, rt):
    cid, res = ctx.run(ctx.bundle(["true"]))
    assert res.rc == 0, res
    assert cid not in rt.ids()


def test_run_killed_by_signal_exit_code(ctx):
    # Without a pid namespace the shell is not an init and SIGKILL to
    # itself kills it (an init ignores signals it has no handler for).
    b = ctx.bundle(["sh", "-c", "kill -9 $$; echo survived"])
    b.drop_namespace("pid")
    _, res = ctx.run(b)
    assert res.rc == 128 + signal.SIGKILL, res
    assert "survived" not in res.out


def test_run_killed_from_outside_exit_code(ctx, rt):
    cid, proc = ctx.popen_run(ctx.bundle(SLEEP))
    ctx.wait_status(cid, "running")
    assert rt("kill", cid, "KILL").rc == 0
    assert proc.wait(timeout=10) == 128 + signal.SIGKILL
    assert cid not in rt.ids()


def test_run_detach(ctx, rt):
    cid, res = ctx.run_detached(ctx.bundle(SLEEP))
    st = rt.state(cid)
    assert st["status"] == "running"
    assert pid_alive(st["pid"])


def test_run_detach_with_console_socket(ctx, rt):
    b = ctx.bundle(["sh", "-c", "stty size; echo detached-tty"])
    b.process["terminal"] = True
    b.process["consoleSize"] = {"height": 20, "width": 60}
    console = ConsoleSocket(os.path.join(ctx.short, "c.sock"))
    ctx.defer(console.close)
    cid, _ = ctx.run_detached(b, None, "--console-socket", console.path)
    text = console.read_all()
    assert [line.strip() for line in text.splitlines()] == [
        "20 60", "detached-tty"], text
    ctx.wait_status(cid, "stopped")


def test_run_keep(ctx, rt):
    cid, res = ctx.run(ctx.bundle(["sh", "-c", "exit 5"]), None, "--keep")
    assert res.rc == 5, res
    assert cid in rt.ids()
    assert rt.status(cid) == "stopped"
    assert rt("delete", cid).rc == 0
    assert cid not in rt.ids()


def test_pid_file(ctx, rt):
    pidfile = os.path.join(ctx.tmp, "init.pid")
    cid, _ = ctx.create(ctx.bundle(SLEEP), None, "--pid-file", pidfile)
    with open(pidfile) as f:
        text = f.read()
    assert int(text.strip()) == rt.state(cid)["pid"]


def test_pid_file_relative_to_cwd(ctx, rt):
    cid, _ = ctx.create(ctx.bundle(SLEEP), None, "--pid-file", "rel.pid",
                        cwd=ctx.tmp)
    with open(os.path.join(ctx.tmp, "rel.pid")) as f:
        assert int(f.read().strip()) == rt.state(cid)["pid"]


def test_bundle_defaults_to_cwd(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.write()
    cid, _ = ctx.create(None, None, cwd=b.path)
    assert rt.state(cid)["bundle"] == os.path.realpath(b.path)


def test_short_flags(ctx, rt):
    # runc's short spellings: create -b, run -d -b, list -f, delete -f.
    b1, b2 = ctx.bundle(SLEEP), ctx.bundle(SLEEP)
    b1.write()
    b2.write()
    c1, _ = ctx.create(None, None, "-b", b1.path)
    c2, _ = ctx.run_detached(None, None, "-b", b2.path, detach_flag="-d")
    status = {e["id"]: e["status"]
              for e in json.loads(rt("list", "-f", "json").out)}
    assert status == {c1: "created", c2: "running"}
    assert rt("delete", "-f", c2).rc == 0
    assert rt.ids() == [c1]


# ----------------------------------------------------------------- list


def test_list_formats(ctx, rt):
    b = ctx.bundle(SLEEP)
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]

    res = rt("list")
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                "OWNER"]
    row = [line.split() for line in lines[1:] if line.split()[:1] == [cid]]
    assert len(row) == 1
    assert row[0][1:4] == [str(pid), "created", os.path.realpath(b.path)]

    res = rt("list", "--format", "json")
    assert res.rc == 0, res
    entries = json.loads(res.out)
    assert [e["id"] for e in entries] == [cid]
    e = entries[0]
    assert e["pid"] == pid and e["status"] == "created"
    assert e["bundle"] == os.path.realpath(b.path)
    assert "created" in e and "owner" in e

    res = rt("list", "-q")
    assert res.rc == 0 and res.out.split() == [cid]


def test_list_shows_each_container(ctx, rt):
    a, _ = ctx.create(ctx.bundle(SLEEP))
    b, _ = ctx.create(ctx.bundle(SLEEP))
    ctx.start(b)
    res = rt("list", "-f", "json")
    status = {e["id"]: e["status"] for e in json.loads(res.out)}
    assert status == {a: "created", b: "running"}


def test_list_empty_root(ctx, rt):
    res = rt("list", "-q")
    assert res.rc == 0 and res.out.strip() == ""
    res = rt("list")
    assert res.rc == 0
    assert res.out.split()[:6] == ["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                   "OWNER"]


# ----------------------------------------------------------------- kill


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9"])
def test_kill_signal_spellings(ctx, rt, sig):
    cid, _ = ctx.create(ctx.bundle(SLEEP))
    ctx.start(cid)
    pid = rt.state(cid)["pid"]
    res = rt("kill", cid, sig)
    assert res.rc == 0, res
    ctx.wait_status(cid, "stopped")
    assert not pid_alive(pid)


TRAP = ("trap 'echo got-$1 > /tmp/sig; exit 7' %s; touch /tmp/ready; "
        "sleep 1000 & wait")


@pytest.mark.parametrize("args,name", [((), "TERM"), (("USR1",), "USR1"),
                                       (("SIGHUP",), "HUP"), (("2",), "INT")])
def test_kill_delivers_the_named_signal(ctx, rt, args, name):
    b = ctx.bundle(["sh", "-c", TRAP.replace("$1", name) % name],
                   readonly=False)
    cid, _ = ctx.create(b)
    ctx.start(cid)
    wait_until(lambda: os.path.exists(os.path.join(b.rootfs, "tmp/ready")),
               what="the trap to be set")
    res = rt("kill", cid, *args)
    assert res.rc == 0, res
    ctx.wait_status(cid, "stopped")
    with open(os.path.join(b.rootfs, "tmp/sig")) as f:
        assert f.read().strip() == "got-" + name


def test_kill_all(ctx, rt):
    # No pid namespace: killing the init alone would leave the child.
    b = ctx.bundle(["sh", "-c", "sleep 1000 & wait"])
    b.drop_namespace("pid")
    cid, _ = ctx.create(b)
    ctx.start(cid)
    pid = rt.state(cid)["pid"]
    kids = wait_until(lambda: children(pid), what="the child sleep")
    res = rt("kill", "--all", cid, "KILL")
    assert res.rc == 0, res
    ctx.wait_status(cid, "stopped")
    wait_until(lambda: not any(pid_alive(k) for k in kids), timeout=5,
               what="the child to be killed too")


def test_kill_stopped_container_fails(ctx, rt):
    cid, _ = ctx.create(ctx.bundle(["true"]))
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    res = rt("kill", cid, "KILL")
    assert res.rc != 0
    assert rt.status(cid) == "stopped"


def test_kill_created_container(ctx, rt):
    # runtime.md (Kill): only a container that is neither created nor
    # running must refuse a signal, so a created one can be killed.
    cid, _ = ctx.create(ctx.bundle(SLEEP))
    pid = rt.state(cid)["pid"]
    res = rt("kill", cid, "KILL")
    assert res.rc == 0, res
    ctx.wait_status(cid, "stopped")
    assert not pid_alive(pid)


def test_kill_unknown_signal_fails(ctx, rt):
    cid, _ = ctx.create(ctx.bundle(SLEEP))
    ctx.start(cid)
    res = rt("kill", cid, "SIGNOPE")
    assert res.rc != 0
    assert "NOPE" in res.err
    assert rt.status(cid) == "running"


# ------------------------------------------------------------ log format


def test_log_format_json_on_error(ctx, rt):
    log = os.path.join(ctx.tmp, "log.json")
    res = rt("state", "no-such-container",
             global_args=("--log", log, "--log-format", "json"))
    assert res.rc != 0
    with open(log) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    errors = [e for e in lines if e.get("level") == "error"]
    assert errors, lines
    last = errors[-1]
    assert last["msg"] and last["time"]


def test_log_format_json_on_create_error(ctx, rt):
    # What containerd's shims read: the last "error" line names the cause.
    log = os.path.join(ctx.tmp, "log.json")
    b = ctx.bundle(SLEEP)
    b.linux["namespaces"].append({"type": "bogusns"})
    cid, res = ctx.create(b, check=False,
                          global_args=("--log", log, "--log-format", "json"))
    assert res.rc == 1, res
    with open(log) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    for entry in lines:
        assert {"level", "msg", "time"} <= set(entry), entry
    errors = [e for e in lines if e["level"] == "error"]
    assert errors and "bogusns" in errors[-1]["msg"], lines
    assert cid not in rt.ids()


def test_log_text_on_error(ctx, rt):
    log = os.path.join(ctx.tmp, "log.txt")
    res = rt("state", "no-such-container",
             global_args=("--log", log, "--log-format", "text"))
    assert res.rc != 0
    with open(log) as f:
        text = f.read()
    assert "error" in text


def test_debug_flag_accepted(ctx, rt):
    cid, res = ctx.run(ctx.bundle(["true"]))
    res = rt("list", global_args=("--debug",))
    assert res.rc == 0, res


# -------------------------------------------------------- create options


def test_create_no_pivot(ctx, rt):
    b = ctx.bundle(["sh", "-c", "ls -a /; echo --; ls -a /.."])
    cid, _ = ctx.create(b, None, "--no-pivot")
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    top, up = ctx.output(cid).split("--\n")
    want = set(os.listdir(b.rootfs)) | {".", ".."}
    assert set(top.split()) == want and set(up.split()) == want


def test_create_no_new_keyring(ctx, rt):
    b = ctx.bundle(["echo", "keyring-ok"])
    cid, _ = ctx.create(b, None, "--no-new-keyring")
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    assert ctx.output(cid) == "keyring-ok\n"


def test_create_preserve_fds(ctx, rt):
    data = os.path.join(ctx.tmp, "fd3-data")
    with open(data, "w") as f:
        f.write("passed on fd 3\n")
    b = ctx.bundle(["sh", "-c", "cat <&3; { cat <&4; } 2>/dev/null || echo no-fd4"])
    b.write()
    cid = ctx.new_id()
    out = os.path.join(ctx.tmp, "preserve.out")
    # fd 3 of the runtime is the file; --preserve-fds 1 passes fd 3 only.
    cmd = ('exec 3<"$1" 4<"$1"; shift; exec "$@" >"%s" 2>&1 </dev/null'
           % out)
    subprocess.run(["sh", "-c", cmd, "sh", data,
                    *rt.argv(["create", "--bundle", b.path,
                              "--preserve-fds", "1", cid])],
                   check=True, timeout=30)
    ctx.remember(cid)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    with open(out) as f:
        assert f.read() == "passed on fd 3\nno-fd4\n"
