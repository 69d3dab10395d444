"""servin-init, the static program that clones a container's init
(csrc/init.c, csrc/wire.c).  The runtime runs it from a sealed memfd with
the plan in another memfd; these tests run the installed file directly
with what a wrong caller could give it.  Every container test exercises
the good path."""

import os
import socket
import subprocess

import pytest

servin = pytest.importorskip("servin")


def _init_path():
    for d in servin.__path__:
        p = os.path.join(d, "servin-init")
        if os.path.exists(p):
            return p
    pytest.skip("servin-init is not installed (run ./dev.sh setup)")


def test_run_by_hand_it_says_what_it_is_for():
    r = subprocess.run([_init_path()], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == "servin-init: started by servin's runtime only\n"


@pytest.mark.parametrize("plan", [b"", b"not a plan", b"SRVP" + b"\0" * 4096])
def test_a_plan_it_cannot_read_is_reported_on_the_sync_socket(plan):
    """A wrong plan (e.g. from another build of the extension) is refused
    with one message on the sync socket, the runtime's only channel."""
    from servin import _native
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = os.memfd_create("plan")
    os.write(fd, plan)
    with parent, child:
        r = subprocess.run([_init_path(), str(fd), str(child.fileno())], pass_fds=(fd, child.fileno()),
                           capture_output=True)
        os.close(fd)
        child.close()
        typ, err, payload, passfd = _native.recv(parent.fileno())
    assert r.returncode == 2 and r.stderr == b""
    assert typ == _native.MSG_ERROR and passfd == -1
    stage, _, msg = payload.rstrip(b"\0").partition(b"\0")
    assert stage == b"spawn"
    assert msg in (b"servin-init: no plan",
                   b"servin-init: the plan does not match this servin-init (reinstall servin)")
