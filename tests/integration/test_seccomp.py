"""linux.seccomp (config-linux.md "Seccomp"): actions, errnoRet, argument
conditions, the notify listener, and the default profile of `spec`."""
import json
import os
import socket
import threading

import pytest

from .oci import USER_UID, find_runtime, is_runc, runc_deviates

ARCH = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def seccomp_bundle(ctx, script, seccomp, nnp=True):
    b = ctx.bundle(["sh", "-c", script], readonly=False)
    b.process["noNewPrivileges"] = nnp
    b.linux["seccomp"] = seccomp
    return b


def test_errno_action_and_errno_ret(ctx):
    b = seccomp_bundle(ctx, "mkdir /tmp/a; echo rc=$?", {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCH,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]})
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert "rc=1" in res.out and "Function not implemented" in res.err
    assert not os.path.exists(os.path.join(b.rootfs, "tmp/a"))


def _default_allow_list():
    from servin.runtime._spec import default_seccomp
    names = set()
    for rule in default_seccomp()["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            names.update(rule["names"])
    names.add("clone")      # argument-filtered in the profile; plain here
    return sorted(names - {"mkdir", "mkdirat"})


def test_default_errno_ret(ctx):
    # the default action refuses with EXDEV whatever is not allowed
    b = seccomp_bundle(ctx, "mkdir /tmp/b; echo rc=$?", {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 18, "architectures": ARCH,
        "syscalls": [{"names": _default_allow_list(), "action": "SCMP_ACT_ALLOW"}]})
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert "rc=1" in res.out and "Invalid cross-device link" in res.err


def test_argument_condition(ctx):
    # personality(0xffffffff) (a query) is allowed, personality(8) refused
    b = seccomp_bundle(ctx, "setarch linux32 true; echo rc=$?", {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCH,
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]})
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert "rc=1" in res.out, res


def test_kill_process_action(ctx):
    # exec: the init itself makes the call (a forked mkdir would only kill the child)
    b = seccomp_bundle(ctx, "exec mkdir /tmp/c", {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCH,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    _, res = ctx.run(b)
    assert res.rc == 128 + 31, res          # SIGSYS
    assert not os.path.exists(os.path.join(b.rootfs, "tmp/c"))


def test_seccomp_without_no_new_privs(ctx):
    # loaded before capabilities are dropped, so it works without NNP
    b = seccomp_bundle(ctx, "grep NoNewPrivs /proc/self/status; mkdir /tmp/d; echo rc=$?", {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCH,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, nnp=False)
    b.process["user"] = {"uid": USER_UID, "gid": USER_UID}
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert "NoNewPrivs:\t0" in res.out and "rc=1" in res.out


@pytest.mark.parametrize("bad,needle", [
    ({"defaultAction": "SCMP_ACT_BOGUS"}, "SCMP_ACT_BOGUS"),
    pytest.param({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}]}, "errnoRet",
        marks=runc_deviates("config-linux.md Seccomp: errnoRet belongs to SCMP_ACT_ERRNO/TRACE; "
                            "runc 1.1.5 accepts it on ALLOW")),
    pytest.param({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}, "listenerPath",
        marks=runc_deviates("config-linux.md Seccomp: SCMP_ACT_NOTIFY sends the fd to listenerPath; "
                            "runc 1.1.5 accepts NOTIFY without one")),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}, "SCMP_ARCH_VAX"),
    pytest.param({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
        "index", marks=runc_deviates("config-linux.md Seccomp: args[].index is a syscall argument (0..5); "
                                     "runc 1.1.5 accepts 9")),
])
def test_invalid_seccomp_is_rejected(ctx, rt, bad, needle):
    b = seccomp_bundle(ctx, "true", bad)
    cid, res = ctx.run(b)
    assert res.rc == 1, res
    assert needle in res.err, res
    assert cid not in rt.ids()


def test_notify_listener_receives_fd_and_state(ctx, tmp_path):
    path = str(tmp_path / "listener.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            got["msg"] = json.loads(msg)
            got["fds"] = fds
            for fd in fds:
                got["fdlink"] = os.readlink(f"/proc/self/fd/{fd}")
                os.close(fd)     # closing the listener fd makes notified calls fail with ENOSYS

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    b = seccomp_bundle(ctx, "mkdir /tmp/e; echo rc=$?", {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCH, "listenerPath": path,
        "listenerMetadata": "hello",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]})
    cid, res = ctx.run(b)
    t.join(5)
    srv.close()
    assert res.rc == 0, res
    msg = got["msg"]
    assert msg["fds"] == ["seccompFd"] and msg["metadata"] == "hello"
    assert msg["state"]["id"] == cid and msg["pid"] > 0
    assert len(got["fds"]) == 1 and "seccomp" in got["fdlink"]


def test_default_spec_profile_blocks_escapes(ctx, tmp_path):
    """`servin-runc spec` carries a default profile as strong as Docker's."""
    if is_runc(find_runtime()):
        pytest.skip("runc's spec has no seccomp profile (a servin feature, not a spec rule)")
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    res = ctx.rt("spec", "--bundle", str(spec_dir))
    assert res.rc == 0, res
    sec = json.loads((spec_dir / "config.json").read_text())["linux"]["seccomp"]
    assert sec["defaultAction"] == "SCMP_ACT_ERRNO"
    b = seccomp_bundle(ctx, "unshare -m true; echo unshare=$?; "
                            "ls / >/dev/null && echo ls-ok", sec)
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert "unshare=1" in res.out and "ls-ok" in res.out
