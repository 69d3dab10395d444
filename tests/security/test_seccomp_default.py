"""The default seccomp profile (`servin-runc spec`, runtime/data/
seccomp-default.json) tried from inside a container, the way an attacker
would: each system call that Docker's default profile refuses to a
container without extra capabilities, made with harmless arguments by
``/probe sys`` (each call in a child of its own).

To tell the filter's refusal from the kernel's own EPERM, most tests run
the profile with its defaultErrnoRet changed to a marker errno (EHWPOISON,
which none of these calls returns by itself); one runs it as shipped.
With ``OCI_RUNTIME=runc`` the same profile is applied by runc.
"""

import copy
import errno

import pytest

from .conftest import parse_probe

pytestmark = pytest.mark.container

MARK = 133     # EHWPOISON (Python's errno module lacks the name)

# Escape and kernel-attack surface that the profile must refuse.
REFUSED = [
    "keyctl", "add_key", "request_key",            # the kernel keyring is not namespaced
    "kexec_load", "kexec_file_load", "reboot",
    "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "mount", "umount2", "pivot_root", "fsopen", "open_tree", "move_mount",
    "unshare-user", "unshare-mount", "clone-newuser", "setns",
    "open_by_handle_at",                            # the "shocker" escape
    "swapon", "acct", "quotactl", "settimeofday", "clock_settime", "iopl", "ioperm",
]
ALLOWED = ["getpid", "uname"]


def _profile(errno_ret=MARK):
    from servin.runtime._spec import default_seccomp
    prof = copy.deepcopy(default_seccomp())
    if errno_ret is not None:
        prof["defaultErrnoRet"] = errno_ret
    return prof


def _results(text):
    return {w[1]: w[2] for w in parse_probe(text) if w[0] == "sys"}


def _run_probe(ctx, names, seccomp):
    b = ctx.bundle(args=["/probe", "sys"] + names)
    if seccomp is not None:
        b.linux["seccomp"] = seccomp
    else:
        b.linux.pop("seccomp", None)
    _, res = ctx.run(b)
    assert res.rc == 0, res
    return _results(res.out)


def test_default_profile_refuses_escape_syscalls(ctx):
    got = _run_probe(ctx, REFUSED + ["clone3"] + ALLOWED, _profile())
    wrong = {n: got.get(n) for n in REFUSED if got.get(n) != "E%d" % MARK}
    assert not wrong, "not refused by the profile: %r" % wrong
    # clone3's flags are in memory seccomp can't read: ENOSYS makes libc
    # fall back to clone(2), whose namespace flags are filtered
    assert got["clone3"] == "E%d" % errno.ENOSYS
    assert all(got[n] == "ok" for n in ALLOWED), got


def test_without_the_profile_the_same_calls_go_through(ctx):
    """The control: the calls the profile refuses are not refused by the
    kernel here (root in the container, default capabilities), so the
    filter is what stops them above."""
    got = _run_probe(ctx, ["keyctl", "add_key", "unshare-user", "clone-newuser"], None)
    assert got == {"keyctl": "ok", "add_key": "ok", "unshare-user": "ok", "clone-newuser": "ok"}, got


def test_default_profile_as_shipped_answers_eperm(ctx):
    """What a program in the container sees: EPERM (clone3: ENOSYS)."""
    prof = _profile(errno_ret=None)
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == errno.EPERM
    got = _run_probe(ctx, ["keyctl", "unshare-user", "bpf", "clone3", "getpid"], prof)
    assert got == {"keyctl": "E1", "unshare-user": "E1", "bpf": "E1", "clone3": "E38", "getpid": "ok"}, got


def test_32bit_system_calls_are_filtered_too(ctx):
    """int $0x80 from a 64-bit process enters the i386 table: the profile
    lists SCMP_ARCH_X86, so the same allow list applies there."""
    got = _run_probe(ctx, ["getpid32", "keyctl32"], _profile())
    if got.get("getpid32") != "ok":
        pytest.skip("this kernel runs no i386 system calls (no IA32 emulation): %r" % got)
    assert got["keyctl32"] == "E%d" % MARK, got


def test_exec_processes_get_the_containers_filter(ctx):
    b = ctx.bundle(args=["sleep", "30"])
    b.linux["seccomp"] = _profile()
    cid, _ = ctx.run_detached(b)
    res = ctx.rt("exec", cid, "/probe", "sys", "keyctl", "unshare-user", "getpid")
    assert res.rc == 0, res
    assert _results(res.out) == {"keyctl": "E%d" % MARK, "unshare-user": "E%d" % MARK,
                                 "getpid": "ok"}, res
