"""Hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md
"Lifecycle"): order, the state on stdin, args/env, timeout, failure
semantics and the namespace each hook runs in."""

import json
import os
import signal
import time

import pytest

from .oci import ns_id, pid_alive, runc_deviates, wait_until

HOST_SH = "/bin/sh"
SLEEP = ["sleep", "1000"]
HOOK_NAMES = ("prestart", "createRuntime", "createContainer",
              "startContainer", "poststart", "poststop")


def recorder(name, outdir):
    """A hook that appends its name to <outdir>/order and saves its stdin
    (the state) and its mount namespace.  ``outdir`` must resolve where
    the hook runs."""
    script = ('cat > "$0/$1.state"; readlink /proc/self/ns/mnt > "$0/$1.mnt"; '
              'echo "$1" >> "$0/order"')
    return {"path": "/bin/sh", "args": ["sh", "-c", script, outdir, name]}


def recording_bundle(ctx, process=None):
    """A bundle with every hook recording into rootfs/tmp (host path for
    the hooks run from the runtime namespace, /tmp for startContainer
    whose path resolves in the container)."""
    b = ctx.bundle(process or ["sh", "-c", "echo process >> /tmp/order; "
                               "exec sleep 1000"], readonly=False)
    host_dir = os.path.join(b.rootfs, "tmp")
    b.config["hooks"] = {
        name: [recorder(name, "/tmp" if name == "startContainer" else host_dir)]
        for name in HOOK_NAMES}
    return b, host_dir


def kill_if_sleeping(pid):
    """Teardown for a hook the runtime failed to abort."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if f.read().startswith(b"sleep\0"):
                os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass


def read_order(host_dir):
    try:
        with open(os.path.join(host_dir, "order")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def read_json(path):
    with open(path) as f:
        return json.load(f)


def run_through(ctx, rt, b, out, until="poststart"):
    """create, start, wait for ``until`` to record, kill, delete."""
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    ctx.start(cid)
    wait_until(lambda: os.path.exists(os.path.join(out, until + ".state")),
               what=until)
    wait_until(lambda: "process" in read_order(out), what="the process")
    assert rt("kill", cid, "KILL").rc == 0
    ctx.wait_status(cid, "stopped")
    assert rt("delete", cid).rc == 0, "delete failed"
    return cid, pid


def test_create_hooks_run_in_order_at_create(ctx, rt):
    b, out = recording_bundle(ctx)
    cid, _ = ctx.create(b)
    order = read_order(out)
    assert order[:3] == ["prestart", "createRuntime", "createContainer"]
    assert "startContainer" not in order and "process" not in order
    assert "poststop" not in order


def test_start_and_stop_hooks_order(ctx, rt):
    b, out = recording_bundle(ctx)
    run_through(ctx, rt, b, out)
    order = read_order(out)
    assert order[:3] == ["prestart", "createRuntime", "createContainer"]
    assert order.index("startContainer") < order.index("process")
    assert order[-1] == "poststop"
    assert [order.count(n) for n in HOOK_NAMES] == [1] * len(HOOK_NAMES)


@runc_deviates("runtime.md Lifecycle steps 8-9: poststart hooks run after "
               "the user-specified program is started; runc 1.1.5 runs them "
               "at the end of create")
def test_poststart_runs_after_start(ctx, rt):
    b, out = recording_bundle(ctx)
    cid, _ = ctx.create(b)
    assert "poststart" not in read_order(out)
    ctx.start(cid)
    wait_until(lambda: "poststart" in read_order(out), what="poststart")
    order = read_order(out)
    assert order.index("startContainer") < order.index("poststart")
    st = read_json(os.path.join(out, "poststart.state"))
    assert st["status"] == "running"


def test_hooks_receive_state_on_stdin(ctx, rt):
    b, out = recording_bundle(ctx)
    b.config["annotations"] = {"hook.test": "1"}
    cid, pid = run_through(ctx, rt, b, out)
    expected_status = {
        "prestart": {"creating", "created"},
        "createRuntime": {"creating", "created"},
        "createContainer": {"creating", "created"},
        "startContainer": {"created"},
        "poststart": {"created", "running"},
        "poststop": {"stopped"},
    }
    for name in HOOK_NAMES:
        st = read_json(os.path.join(out, name + ".state"))
        assert st["id"] == cid, name
        assert st["bundle"] == os.path.realpath(b.path), name
        assert st["ociVersion"], name
        assert st["status"] in expected_status[name], (name, st["status"])
        assert st.get("annotations") == {"hook.test": "1"}, name
    for name in ("prestart", "createRuntime", "poststart"):
        st = read_json(os.path.join(out, name + ".state"))
        assert st["pid"] == pid, name


@runc_deviates("runtime.md State: pid is the container process 'as seen by "
               "the host'; runc 1.1.5 gives createContainer and "
               "startContainer hooks the pid inside the container (1)")
def test_container_namespace_hooks_get_host_pid(ctx, rt):
    b, out = recording_bundle(ctx)
    cid, pid = run_through(ctx, rt, b, out)
    for name in ("createContainer", "startContainer"):
        st = read_json(os.path.join(out, name + ".state"))
        assert st["pid"] == pid, name


def test_hook_namespaces(ctx, rt):
    b, out = recording_bundle(ctx)
    cid, _ = ctx.create(b)
    container_mnt = ns_id(rt.state(cid)["pid"], "mnt")
    host_mnt = ns_id("self", "mnt")
    assert container_mnt != host_mnt
    ctx.start(cid)
    wait_until(lambda: os.path.exists(os.path.join(out, "poststart.mnt")),
               what="poststart")

    def mnt(name):
        with open(os.path.join(out, name + ".mnt")) as f:
            return f.read().strip()

    for name in ("prestart", "createRuntime", "poststart"):
        assert mnt(name) == host_mnt, name
    for name in ("createContainer", "startContainer"):
        assert mnt(name) == container_mnt, name


def test_hook_args_and_env(ctx, rt):
    b = ctx.bundle(["true"], readonly=False)
    out = os.path.join(ctx.tmp, "args")
    script = ('printf "%s|" "$0" "$1" "$FOO" "${HOME-unset}" > ' + out +
              '; tr "\\0" " " < /proc/$$/cmdline >> ' + out)
    b.config["hooks"] = {"createRuntime": [{
        "path": HOST_SH, "args": ["my-argv0", "-c", script, "zero", "one"],
        "env": ["FOO=bar baz"]}]}
    _, res = ctx.run(b)
    assert res.rc == 0, res
    with open(out) as f:
        text = f.read()
    fields = text.split("|")
    assert fields[:4] == ["zero", "one", "bar baz", "unset"], text
    assert fields[4].split()[0] == "my-argv0", text


def test_hook_timeout_fails_create(ctx, rt):
    b = ctx.bundle(SLEEP)
    pidfile = os.path.join(ctx.tmp, "hook.pid")
    b.config["hooks"] = {"prestart": [
        {"path": HOST_SH,
         "args": ["sh", "-c", 'echo $$ > "$0"; exec sleep 20', pidfile],
         "timeout": 1}]}
    t0 = time.monotonic()
    cid, res = ctx.create(b, check=False)
    elapsed = time.monotonic() - t0
    assert res.rc != 0, res
    assert elapsed < 8, "timeout not honoured (%.1fs)" % elapsed
    assert cid not in rt.ids()
    # config.md: the hook is aborted, not left running.
    with open(pidfile) as f:
        hook_pid = int(f.read())
    ctx.defer(kill_if_sleeping, hook_pid)
    wait_until(lambda: not pid_alive(hook_pid), timeout=3,
               what="the timed-out hook to be killed")


def test_hook_within_timeout_succeeds(ctx, rt):
    b = ctx.bundle(["true"])
    b.config["hooks"] = {"createRuntime": [
        {"path": HOST_SH, "args": ["sh", "-c", "sleep 0.1"], "timeout": 5}]}
    _, res = ctx.run(b)
    assert res.rc == 0, res


@pytest.mark.parametrize("hook", ["prestart", "createRuntime",
                                  "createContainer"])
def test_failing_create_hook_fails_create(ctx, rt, hook):
    b, out = recording_bundle(ctx)
    b.config["hooks"] = {hook: [{"path": HOST_SH,
                                 "args": ["sh", "-c", "exit 3"]}]}
    cid, res = ctx.create(b, check=False)
    assert res.rc != 0, res
    assert cid not in rt.ids()
    assert rt("state", cid).rc != 0
    # teardown checks processes, mounts and cgroups


def test_later_create_hooks_skipped_after_failure(ctx, rt):
    b, out = recording_bundle(ctx)
    b.config["hooks"]["createRuntime"] = [
        recorder("createRuntime", out),
        {"path": HOST_SH, "args": ["sh", "-c", "exit 1"]},
        recorder("second", out)]
    b.config["hooks"].pop("poststop")
    cid, res = ctx.create(b, check=False)
    assert res.rc != 0
    order = read_order(out)
    assert order == ["prestart", "createRuntime"], order


def test_failing_create_hook_runs_poststop(ctx, rt):
    b, out = recording_bundle(ctx)
    b.config["hooks"]["createRuntime"] = [
        {"path": HOST_SH, "args": ["sh", "-c", "exit 1"]}]
    cid, res = ctx.create(b, check=False)
    assert res.rc != 0
    # runtime.md Lifecycle: a failing create hook continues at step 12
    # (destroy), then step 13 runs the poststop hooks.
    assert read_order(out)[-1] == "poststop"


@runc_deviates("runtime.md Lifecycle step 7: a failing startContainer hook "
               "stops the container and continues at step 12 (destroyed); "
               "runc 1.1.5's start succeeds and leaves a stopped container")
def test_failing_start_container_hook_fails_start(ctx, rt):
    b = ctx.bundle(["sh", "-c", "touch /tmp/ran; exec sleep 1000"],
                   readonly=False)
    b.config["hooks"] = {"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "exit 2"]}]}
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    res = rt("start", cid)
    assert res.rc != 0, res
    time.sleep(0.1)
    assert not os.path.exists(os.path.join(b.rootfs, "tmp/ran"))
    assert not pid_alive(pid)
    assert cid not in rt.ids()


def test_failing_start_container_hook_does_not_run_process(ctx, rt):
    b = ctx.bundle(["sh", "-c", "touch /tmp/ran; exec sleep 1000"],
                   readonly=False)
    b.config["hooks"] = {"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "exit 2"]}]}
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    rt("start", cid)  # runc reports success here; see the test above
    wait_until(lambda: not pid_alive(pid), timeout=5, what="pid to go")
    assert not os.path.exists(os.path.join(b.rootfs, "tmp/ran"))
    assert rt.status(cid) in (None, "stopped")


@runc_deviates("runtime.md Lifecycle step 9: a failing poststart hook "
               "only logs a warning and the lifecycle continues; runc 1.1.5 "
               "runs poststart during create and fails create")
def test_failing_poststart_hook_only_warns(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.config["hooks"] = {"poststart": [
        {"path": HOST_SH, "args": ["sh", "-c", "exit 1"]}]}
    cid, _ = ctx.create(b)
    res = rt("start", cid)
    assert res.rc == 0, res
    assert rt.status(cid) == "running"


def test_failing_poststop_hook_only_warns(ctx, rt):
    b = ctx.bundle(["true"])
    b.config["hooks"] = {"poststop": [
        {"path": HOST_SH, "args": ["sh", "-c", "exit 1"]}]}
    cid, _ = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    res = rt("delete", cid)
    assert res.rc == 0, res
    assert cid not in rt.ids()


def test_run_runs_every_hook_once(ctx, rt):
    # run = create + start + wait + delete: each hook once, poststop last.
    b, out = recording_bundle(ctx, ["sh", "-c", "echo process >> /tmp/order"])
    cid, res = ctx.run(b)
    assert res.rc == 0, res
    order = read_order(out)
    assert sorted(order) == sorted(HOOK_NAMES + ("process",)), order
    assert order[:3] == ["prestart", "createRuntime", "createContainer"]
    assert order.index("startContainer") < order.index("process")
    assert order[-1] == "poststop"
    assert read_json(os.path.join(out, "poststop.state"))["id"] == cid
