"""exec: a new process in a running container (runc exec): its exit
status, namespaces and cgroups, the flags that shape the process (--user,
--env, --cwd, --cap, --no-new-privs, --process), a tty through
--console-socket, a user namespace, and refusal on a paused or stopped
container."""

import json
import os

from .oci import ConsoleSocket, USER_GID, USER_UID, ns_id, pid_alive, wait_until

SLEEP = ["sleep", "1000"]


def running(ctx, args=SLEEP, **kw):
    b = ctx.bundle(args, **kw)
    cid, _ = ctx.run_detached(b)
    return cid, b


def exec_ok(rt, cid, *args, flags=()):
    res = rt("exec", *flags, cid, *args)
    assert res.rc == 0, res
    return res.out


def status_fields(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def test_exec_exit_code_passes_through(ctx, rt):
    cid, _ = running(ctx)
    assert rt("exec", cid, "sh", "-c", "exit 7").rc == 7
    assert rt("exec", cid, "true").rc == 0


def test_exec_killed_by_signal_is_128_plus_signal(ctx, rt):
    cid, _ = running(ctx)
    assert rt("exec", cid, "sh", "-c", "kill -9 $$").rc == 128 + 9


def test_exec_output_and_args(ctx, rt):
    cid, _ = running(ctx)
    out = exec_ok(rt, cid, "sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "x", "one two", "-e", "")
    assert out == "[one two]\n[-e]\n[]\n"


def test_exec_options_stop_at_the_command(ctx, rt):
    # "-c" after the id belongs to the command, not to exec
    cid, _ = running(ctx)
    assert exec_ok(rt, cid, "sh", "-c", "echo ok") == "ok\n"


def test_exec_joins_every_namespace_and_the_cgroups(ctx, rt):
    cid, _ = running(ctx)
    init = rt.state(cid)["pid"]
    types = ["pid", "net", "ipc", "uts", "mnt"]
    out = exec_ok(rt, cid, "sh", "-c", "for t in %s; do readlink /proc/self/ns/$t; done; "
                  "cat /proc/self/cgroup; echo $$" % " ".join(types))
    lines = out.splitlines()
    assert lines[:len(types)] == [ns_id(init, t) for t in types]
    with open("/proc/%d/cgroup" % init) as f:
        assert lines[len(types):-1] == f.read().splitlines()
    assert int(lines[-1]) > 1          # a pid in the container's pid namespace
    assert exec_ok(rt, cid, "hostname") == "runc\n"


def test_exec_sees_the_container_rootfs(ctx, rt):
    cid, b = running(ctx, readonly=False)
    with open(os.path.join(b.rootfs, "marker"), "w") as f:
        f.write("inside\n")
    assert exec_ok(rt, cid, "cat", "/marker") == "inside\n"


def test_exec_user_env_cwd(ctx, rt):
    cid, _ = running(ctx)
    res = rt("exec", "--user", "%d:%d" % (USER_UID, USER_GID), "--env", "FOO=bar",
             "--env", "TERM=dumb", "--cwd", "/tmp", cid, "sh", "-c",
             'id -u; id -g; echo "$FOO $TERM"; pwd; env | grep -c ^TERM=')
    assert res.rc == 0, res
    # --env adds to the container's env; a repeated key replaces it
    assert res.out.splitlines() == [str(USER_UID), str(USER_GID), "bar dumb", "/tmp", "1"]


def test_exec_additional_gids(ctx, rt):
    cid, _ = running(ctx)
    res = rt("exec", "-u", "%d:%d" % (USER_UID, USER_GID), "-g", "10", "-g", "100", cid, "id", "-G")
    assert res.rc == 0, res
    assert sorted(res.out.split()) == sorted([str(USER_GID), "10", "100"])


def test_exec_inherits_the_container_process_config(ctx, rt):
    cid, b = running(ctx)
    st = status_fields(exec_ok(rt, cid, "cat", "/proc/self/status"))
    # base config: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE
    assert int(st["CapEff"], 16) == (1 << 29) | (1 << 5) | (1 << 10)
    assert st["NoNewPrivs"] == "1"
    limits = exec_ok(rt, cid, "cat", "/proc/self/limits")
    line = [x for x in limits.splitlines() if x.startswith("Max open files")][0]
    assert line.split()[3:5] == ["1024", "1024"]


def test_exec_cap_adds_a_capability(ctx, rt):
    cid, _ = running(ctx)
    st = status_fields(exec_ok(rt, cid, "cat", "/proc/self/status", flags=("--cap", "CAP_NET_ADMIN")))
    assert int(st["CapEff"], 16) & (1 << 12)
    assert int(st["CapBnd"], 16) & (1 << 12)


def test_exec_no_new_privs_flag(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.process["noNewPrivileges"] = False
    cid, _ = ctx.run_detached(b)
    assert status_fields(exec_ok(rt, cid, "cat", "/proc/self/status"))["NoNewPrivs"] == "0"
    st = status_fields(exec_ok(rt, cid, "cat", "/proc/self/status", flags=("--no-new-privs",)))
    assert st["NoNewPrivs"] == "1"


def test_exec_process_json(ctx, rt):
    cid, b = running(ctx)
    proc = dict(b.process, args=["sh", "-c", 'echo "$A"; pwd; id -u'], env=["PATH=/bin", "A=from-json"],
                cwd="/tmp", user={"uid": USER_UID, "gid": USER_GID})
    path = os.path.join(ctx.tmp, "process.json")
    with open(path, "w") as f:
        json.dump(proc, f)
    res = rt("exec", "--process", path, cid)
    assert res.rc == 0, res
    assert res.out.splitlines() == ["from-json", "/tmp", str(USER_UID)]


def test_exec_missing_command_fails(ctx, rt):
    cid, _ = running(ctx)
    res = rt("exec", cid, "no-such-program")
    assert res.rc != 0
    assert "no-such-program" in res.err
    assert rt.status(cid) == "running"


def test_exec_detach_and_pid_file(ctx, rt):
    cid, _ = running(ctx)
    pid_file = os.path.join(ctx.tmp, "exec.pid")
    out_path = os.path.join(ctx.tmp, "exec.out")
    with open(out_path, "wb") as out:
        res = rt("exec", "-d", "--pid-file", pid_file, cid, "sh", "-c", "echo started; sleep 1000",
                 stdout=out, stderr=out)
    assert res.rc == 0, res
    with open(pid_file) as f:
        pid = int(f.read())
    assert pid_alive(pid)
    init = rt.state(cid)["pid"]
    with open("/proc/%d/cgroup" % pid) as a, open("/proc/%d/cgroup" % init) as b:
        assert a.read() == b.read()
    wait_until(lambda: open(out_path).read() == "started\n", what="the detached process's output")


def test_exec_tty_through_console_socket(ctx, rt):
    cid, _ = running(ctx)
    sock = ConsoleSocket(os.path.join(ctx.short, "exec-console.sock"))
    try:
        out_path = os.path.join(ctx.tmp, "exec-tty.out")
        with open(out_path, "wb") as out:
            res = rt("exec", "-d", "-t", "--console-socket", sock.path, cid,
                     "sh", "-c", "tty; echo tty-done", stdout=out, stderr=out)
        assert res.rc == 0, res
        text = sock.read_all()
    finally:
        sock.close()
    lines = [x.strip() for x in text.splitlines()]
    assert lines[0].startswith("/dev/pts/")
    assert "tty-done" in lines


def test_exec_into_a_user_namespace(ctx, rt, require_namespace):
    require_namespace("user")
    b = ctx.bundle(SLEEP, parent=ctx.short)
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.process["oomScoreAdj"] = 100
    cid, _ = ctx.run_detached(b)
    init = rt.state(cid)["pid"]
    out = exec_ok(rt, cid, "sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map; "
                  "cat /proc/self/oom_score_adj")
    lines = out.splitlines()
    assert lines[0] == ns_id(init, "user")
    assert lines[1] == "0"
    assert lines[2].split() == ["0", "200000", "65536"]
    assert lines[3] == "100"
    res = rt("exec", "-u", "1000:1000", cid, "id", "-u")
    assert res.rc == 0, res
    assert res.out == "1000\n"


def test_exec_into_a_paused_container_fails(ctx, rt):
    cid, _ = running(ctx)
    assert rt("pause", cid).rc == 0
    res = rt("exec", cid, "true")
    assert res.rc != 0
    assert "pause" in res.err.lower()
    assert rt("resume", cid).rc == 0
    assert rt("exec", cid, "true").rc == 0


def test_exec_into_a_stopped_container_fails(ctx, rt):
    b = ctx.bundle(["true"])
    cid, _ = ctx.run_detached(b)
    ctx.wait_status(cid, "stopped")
    res = rt("exec", cid, "true")
    assert res.rc != 0
    assert res.err.strip()


def test_exec_into_a_missing_container_fails(ctx, rt):
    res = rt("exec", "oci-it-no-such-container", "true")
    assert res.rc != 0
    assert "does not exist" in res.err


def test_exec_applies_the_container_seccomp_filter(ctx, rt, features):
    if not (((features or {}).get("linux") or {}).get("seccomp") or {}).get("enabled"):
        import pytest
        pytest.skip("runtime features: seccomp not enabled")
    b = ctx.bundle(SLEEP, readonly=False)
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                          "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                        "errnoRet": 1}]}
    cid, _ = ctx.run_detached(b)
    res = rt("exec", cid, "mkdir", "/tmp/denied")
    assert res.rc != 0
    assert "not permitted" in res.err
    assert not os.path.exists(os.path.join(b.rootfs, "tmp/denied"))
    assert "Seccomp:\t2" in exec_ok(rt, cid, "cat", "/proc/self/status")


def test_exec_preserve_fds(ctx, rt):
    cid, _ = running(ctx)
    r, w = os.pipe()
    try:
        os.write(w, b"through fd 3\n")
        os.close(w)
        w = -1
        import subprocess
        proc = subprocess.run(rt.argv(["exec", "--preserve-fds", "1", cid, "cat", "/proc/self/fd/3"]),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                              close_fds=False, preexec_fn=lambda: os.dup2(r, 3))
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert proc.returncode == 0, proc
    assert proc.stdout == b"through fd 3\n"


def test_exec_tty_proxied_in_the_foreground(ctx, rt):
    # the runtime runs on a terminal of ours (runc needs one for -t
    # without --console-socket) and proxies the container's pty to it
    import fcntl
    import pty
    import subprocess
    import termios
    cid, _ = running(ctx)
    master, slave = pty.openpty()

    def on_our_tty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(rt.argv(["exec", "-t", cid, "sh", "-c", "tty; echo proxied; exit 3"]),
                                stdin=slave, stdout=slave, stderr=slave, preexec_fn=on_our_tty)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=10) == 3
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    text = out.decode(errors="replace").replace("\r", "")
    assert "/dev/pts/" in text
    assert "proxied" in text

