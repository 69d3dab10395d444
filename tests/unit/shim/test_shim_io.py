"""The shim's stdio copies against real FIFOs (no root): output is never lost
to a reader that opens late, and a process's output is read before its exit
is reported (ProcessIO.flush).  containerd's clients open their FIFO ends in
goroutines that can lag, and give up unread output once the process is
deleted."""
import fcntl
import os
import select
import threading
import time

import pytest

pytest.importorskip("servin.shim")

from servin.shim import _io  # noqa: E402


@pytest.fixture
def fifo(tmp_path):
    path = str(tmp_path / "stdout")
    os.mkfifo(path)
    return path


def _read_all(fd, timeout=5):
    """Read to EOF (blocking or not); what came if ``timeout`` passed first."""
    out = b""
    deadline = time.monotonic() + timeout
    p = select.poll()
    p.register(fd, select.POLLIN)
    while time.monotonic() < deadline:
        if not p.poll(50):
            continue
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not data:
            return out
        out += data
    return out


def _accmode(fd):
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE


def test_output_fifo_waits_for_a_reader_that_opens_late(fifo):
    got = {}

    def late_reader():
        time.sleep(0.1)
        fd = os.open(fifo, os.O_RDONLY)         # blocks until the shim's end opens
        got["data"] = _read_all(fd)
        os.close(fd)

    t = threading.Thread(target=late_reader)
    t.start()
    fd = _io._open_output(fifo, time.monotonic() + 5)
    assert _accmode(fd) == os.O_WRONLY         # the reader's end, not a read-write hold
    os.write(fd, b"hi\n")
    os.close(fd)
    t.join(5)
    assert got["data"] == b"hi\n"


def test_no_reader_in_time_holds_the_fifo_read_write(fifo):
    fd = _io._open_output(fifo, time.monotonic() + 0.05)
    try:
        assert _accmode(fd) == os.O_RDWR
    finally:
        os.close(fd)


def test_output_of_an_exited_process_waits_in_the_fifo_for_a_late_reader(fifo, monkeypatch):
    monkeypatch.setattr(_io, "READER_WAIT", 0.02)
    io = _io.ProcessIO(stdout=fifo)
    stdin, stdout, stderr = io.child_stdio()
    assert (stdin, stderr) == (None, None)
    os.write(stdout, b"written before anyone reads\n")
    io.started()                               # the process's end is closed: EOF
    time.sleep(0.2)                            # the copy reached EOF meanwhile
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert _read_all(r) == b"written before anyone reads\n"
    finally:
        os.close(r)
        io.close()


def test_flush_returns_once_the_reader_took_the_output(fifo):
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    io = _io.ProcessIO(stdout=fifo)
    _, stdout, _ = io.child_stdio()
    lingering = os.dup(stdout)                 # a writer that outlives the process
    try:
        os.write(stdout, b"x" * 1000)
        io.started()
        assert not io.flush(0.2)               # in the FIFO, unread
        read = []
        threading.Timer(0.1, lambda: read.append(os.read(r, 4096))).start()
        t0 = time.monotonic()
        assert io.flush(5)
        assert read == [b"x" * 1000] and time.monotonic() - t0 >= 0.05
    finally:
        os.close(lingering)
        io.close()
        os.close(r)


def test_flush_does_not_wait_for_a_reader_that_went_away(fifo):
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    io = _io.ProcessIO(stdout=fifo)
    _, stdout, _ = io.child_stdio()
    lingering = os.dup(stdout)
    try:
        os.write(stdout, b"lost\n")
        io.started()
        time.sleep(0.1)
        os.close(r)                            # the client gave up
        t0 = time.monotonic()
        assert io.flush(5)
        assert time.monotonic() - t0 < 1
    finally:
        os.close(lingering)
        io.close()


def test_close_releases_fds_of_a_process_that_never_started(fifo, monkeypatch):
    monkeypatch.setattr(_io, "READER_WAIT", 0.02)
    before = set(os.listdir("/proc/self/fd"))
    io = _io.ProcessIO(stdout=fifo, stderr=fifo)
    io.child_stdio()
    io.close()                                 # e.g. the runtime's create failed
    assert set(os.listdir("/proc/self/fd")) == before
