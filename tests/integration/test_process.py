"""The container process (config.md "Process"): args, env, cwd, user,
umask, rlimits, oomScoreAdj, noNewPrivileges, terminal and stdio."""

import os
import re

from .oci import ConsoleSocket, USER_GID, USER_UID, pid_alive, wait_until


def status_fields(text):
    """Parse /proc/self/status text into {field: value}."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def run_ok(ctx, b, **kw):
    _, res = ctx.run(b, **kw)
    assert res.rc == 0, res
    return res.out


def test_args_are_passed_verbatim(ctx):
    b = ctx.bundle(["sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "x",
                    "one two", "", "*", "$HOME"])
    assert run_ok(ctx, b) == "[one two]\n[]\n[*]\n[$HOME]\n"


def test_args0_resolved_on_path(ctx):
    b = ctx.bundle(["echo", "hello"])
    assert run_ok(ctx, b) == "hello\n"


def test_args0_absolute(ctx):
    b = ctx.bundle(["/bin/echo", "abs"])
    assert run_ok(ctx, b) == "abs\n"


def test_env(ctx):
    b = ctx.bundle(["env"])
    b.process["env"] = ["PATH=/bin", "FOO=bar", "EMPTY=", "SPACED=a b=c"]
    lines = run_ok(ctx, b).splitlines()
    for kv in ("PATH=/bin", "FOO=bar", "EMPTY=", "SPACED=a b=c"):
        assert kv in lines
    assert not any(line.startswith("TERM=") for line in lines)


def test_cwd(ctx):
    b = ctx.bundle(["pwd"])
    b.process["cwd"] = "/tmp"
    assert run_ok(ctx, b) == "/tmp\n"


def test_cwd_created_if_missing(ctx):
    # runc and crun create a missing cwd; the spec only requires it to be
    # absolute, so assert the observable result: the process runs there.
    b = ctx.bundle(["pwd"], readonly=False)
    b.process["cwd"] = "/work/dir"
    assert run_ok(ctx, b) == "/work/dir\n"


def test_root_user_by_default(ctx):
    b = ctx.bundle(["sh", "-c", "id -u; id -g"])
    assert run_ok(ctx, b).split() == ["0", "0"]


def test_user_uid_gid_additional_gids(ctx):
    b = ctx.bundle(["sh", "-c", "id; cat /proc/self/status"])
    b.process["user"] = {"uid": USER_UID, "gid": USER_GID,
                         "additionalGids": [10, 100]}
    out = run_ok(ctx, b)
    first, status = out.split("\n", 1)
    assert "uid=%d(user)" % USER_UID in first
    assert "gid=%d(user)" % USER_GID in first
    st = status_fields(status)
    assert st["Uid"].split() == [str(USER_UID)] * 4
    assert st["Gid"].split() == [str(USER_GID)] * 4
    assert set(st["Groups"].split()) == {"10", "100"}


def test_user_without_additional_gids_has_no_groups(ctx):
    b = ctx.bundle(["cat", "/proc/self/status"])
    b.process["user"] = {"uid": USER_UID, "gid": USER_GID}
    st = status_fields(run_ok(ctx, b))
    assert st["Uid"].split()[0] == str(USER_UID)
    # setgroups() must have dropped the runtime's own groups (root's 0).
    assert "0" not in st["Groups"].split()


def test_umask(ctx):
    b = ctx.bundle(["sh", "-c", "umask; grep Umask /proc/self/status; "
                    "touch /tmp/f; stat -c %a /tmp/f"], readonly=False)
    b.process["user"]["umask"] = 0o027
    out = run_ok(ctx, b).split()
    assert out[0] == "0027"
    assert out[1:3] == ["Umask:", "0027"]
    assert out[3] == "640"


def test_user_owns_files_it_creates(ctx):
    b = ctx.bundle(["sh", "-c", "touch /home/user/f"], readonly=False)
    b.process["user"] = {"uid": USER_UID, "gid": USER_GID}
    run_ok(ctx, b)
    st = os.stat(os.path.join(b.rootfs, "home/user/f"))
    assert (st.st_uid, st.st_gid) == (USER_UID, USER_GID)


def test_rlimit_nofile_lowered(ctx):
    b = ctx.bundle(["sh", "-c", "ulimit -n; ulimit -Hn; "
                    "grep 'Max open files' /proc/self/limits"])
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 300,
                             "hard": 500}]
    out = run_ok(ctx, b).splitlines()
    assert out[0] == "300" and out[1] == "500"
    assert out[2].split()[3:5] == ["300", "500"]


def test_rlimits_several(ctx):
    b = ctx.bundle(["cat", "/proc/self/limits"])
    b.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 256},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 4000, "hard": 5000},
    ]
    text = run_ok(ctx, b)
    assert re.search(r"^Max open files\s+256\s+256", text, re.M)
    assert re.search(r"^Max core file size\s+0\s+0", text, re.M)
    assert re.search(r"^Max processes\s+4000\s+5000", text, re.M)


def test_oom_score_adj(ctx):
    b = ctx.bundle(["cat", "/proc/self/oom_score_adj"])
    b.process["oomScoreAdj"] = 123
    assert run_ok(ctx, b).strip() == "123"


def test_no_new_privileges(ctx):
    b = ctx.bundle(["grep", "NoNewPrivs", "/proc/self/status"])
    b.process["noNewPrivileges"] = True
    assert run_ok(ctx, b).split() == ["NoNewPrivs:", "1"]


def test_no_new_privileges_off(ctx):
    b = ctx.bundle(["grep", "NoNewPrivs", "/proc/self/status"])
    b.process["noNewPrivileges"] = False
    assert run_ok(ctx, b).split() == ["NoNewPrivs:", "0"]


def test_capabilities_applied(ctx):
    b = ctx.bundle(["grep", "^Cap", "/proc/self/status"])
    st = status_fields(run_ok(ctx, b))
    # CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_AUDIT_WRITE(29)
    want = (1 << 5) | (1 << 10) | (1 << 29)
    for field in ("CapBnd", "CapEff", "CapPrm"):
        assert int(st[field], 16) == want, field
    # Ambient capabilities need the inheritable set too, which this config
    # leaves empty, so the kernel keeps the ambient set empty.
    assert int(st["CapAmb"], 16) == 0


# ----------------------------------------------------------------- stdio


def test_stdin_piped_to_foreground_process(ctx):
    b = ctx.bundle(["cat"])
    _, res = ctx.run(b, input="line one\nline two\n")
    assert res.rc == 0, res
    assert res.out == "line one\nline two\n"


def test_stdout_and_stderr_are_separate(ctx):
    b = ctx.bundle(["sh", "-c", "echo to-out; echo to-err >&2"])
    _, res = ctx.run(b)
    assert res.out == "to-out\n"
    assert "to-err" in res.err and "to-out" not in res.err


def test_detached_create_stdio_goes_to_runtime_stdio(ctx, rt):
    b = ctx.bundle(["sh", "-c", "echo from-container"])
    cid, _ = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    assert ctx.output(cid) == "from-container\n"


# -------------------------------------------------------------- terminal


def terminal_bundle(ctx, args):
    b = ctx.bundle(args)
    b.process["terminal"] = True
    return b


def test_terminal_console_socket(ctx, rt):
    b = terminal_bundle(ctx, ["sh", "-c", "tty; stty size; echo done"])
    b.process["consoleSize"] = {"height": 33, "width": 101}
    console = ConsoleSocket(os.path.join(ctx.short, "console.sock"))
    ctx.defer(console.close)
    cid, _ = ctx.create(b, None, "--console-socket", console.path)
    master = console.wait_master()
    assert os.isatty(master)
    ctx.start(cid)
    text = console.read_all()
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] in ("/dev/console", "/dev/pts/0"), text
    assert lines[1] == "33 101", text
    assert lines[2] == "done", text
    ctx.wait_status(cid, "stopped")


def test_terminal_stdin_from_master(ctx, rt):
    b = terminal_bundle(ctx, ["sh", "-c", "read x; echo got-$x"])
    console = ConsoleSocket(os.path.join(ctx.short, "console.sock"))
    ctx.defer(console.close)
    cid, _ = ctx.create(b, None, "--console-socket", console.path)
    master = console.wait_master()
    ctx.start(cid)
    os.write(master, b"hello\n")
    text = console.read_all()
    assert "got-hello" in text
    ctx.wait_status(cid, "stopped")


def test_terminal_without_console_socket_fails(ctx, rt):
    b = terminal_bundle(ctx, ["true"])
    cid, res = ctx.create(b, check=False)
    assert res.rc != 0
    assert "console" in res.err.lower() or "terminal" in res.err.lower()
    assert cid not in rt.ids()


def test_process_is_session_leader_with_terminal(ctx, rt):
    b = terminal_bundle(ctx, ["sleep", "1000"])
    console = ConsoleSocket(os.path.join(ctx.short, "console.sock"))
    ctx.defer(console.close)
    cid, _ = ctx.create(b, None, "--console-socket", console.path)
    console.wait_master()
    ctx.start(cid)
    pid = rt.state(cid)["pid"]
    assert pid_alive(pid)
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields: state ppid pgrp session tty_nr
    assert int(fields[3]) == pid, "not a session leader"
    assert int(fields[4]) != 0, "no controlling terminal"
    wait_until(lambda: os.readlink("/proc/%d/fd/0" % pid).startswith(
        "/dev/pts/"), what="stdin on a pty")


def test_signals_start_at_their_defaults(ctx):
    """No signal ignored or blocked in the container's process (Python, the
    runtime, ignores SIGPIPE and SIGXFSZ; that must not leak through exec)."""
    b = ctx.bundle(["cat", "/proc/self/status"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    fields = dict(line.split(":\t", 1) for line in res.out.splitlines() if ":\t" in line)
    assert int(fields["SigIgn"], 16) == 0, fields["SigIgn"]
    assert int(fields["SigBlk"], 16) == 0, fields["SigBlk"]
