"""events (runc's command): --stats prints one stats event with runc's
fields; without it stats come every --interval, and an "oom" event when
the memory limit kills a process of the container."""

import json
import os
import select
import subprocess
import time

from .oci import stricter_than_runc

SLEEP = ["sleep", "1000"]


class EventStream:
    """A running ``events`` command; lines() yields parsed events."""

    def __init__(self, ctx, *args):
        self.proc = subprocess.Popen(ctx.rt.argv(["events", *args]), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ctx.defer(self.stop)
        self.buf = b""

    def next(self, timeout):
        """The next event, or None on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def wait_for(self, typ, timeout):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            ev = self.next(deadline - time.monotonic())
            if ev is None:
                break
            seen.append(ev["type"])
            if ev["type"] == typ:
                return ev
        raise AssertionError("no %r event within %ss (saw %r)" % (typ, timeout, seen))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_events_stats_fields(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.linux["resources"]["memory"] = {"limit": 64 << 20}
    b.linux["resources"]["pids"] = {"limit": 100}
    cid, _ = ctx.run_detached(b)
    res = rt("events", "--stats", cid)
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert len(lines) == 1
    ev = json.loads(lines[0])
    assert ev["type"] == "stats"
    assert ev["id"] == cid
    data = ev["data"]
    for key in ("cpu", "memory", "pids", "blkio", "hugetlb"):
        assert key in data, key
    assert data["cpu"]["usage"]["total"] > 0
    assert isinstance(data["cpu"]["usage"].get("percpu", []), list)
    assert data["memory"]["usage"]["usage"] > 0
    assert data["memory"]["usage"]["limit"] == 64 << 20
    assert "raw" in data["memory"]
    assert data["pids"]["current"] == 1
    assert data["pids"]["limit"] == 100


def test_events_stats_every_interval(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    stream = EventStream(ctx, "--interval", "200ms", cid)
    for _ in range(3):
        ev = stream.next(5)
        assert ev is not None and ev["type"] == "stats" and ev["id"] == cid


@stricter_than_runc("runc 1.1 events keeps running (logging errors) after the container stops")
def test_events_end_when_the_container_stops(ctx, rt):
    cid, _ = ctx.run_detached(ctx.bundle(SLEEP))
    stream = EventStream(ctx, "--interval", "200ms", cid)
    assert stream.next(5)["type"] == "stats"
    assert rt("kill", cid, "KILL").rc == 0
    stream.proc.wait(timeout=2)
    assert stream.proc.returncode == 0


def test_events_oom(ctx, rt):
    # the shell waits for /tmp/go (written from the host), then tail
    # fills the memory limit and is OOM-killed; the init lives on
    b = ctx.bundle(["sh", "-c", "while [ ! -e /tmp/go ]; do usleep 20000; done; "
                    "tail /dev/zero; sleep 1000"])
    b.linux["resources"]["memory"] = {"limit": 32 << 20}
    if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        b.linux["resources"]["memory"]["swap"] = 32 << 20
    cid, _ = ctx.run_detached(b)
    stream = EventStream(ctx, "--interval", "1s", cid)
    time.sleep(0.5)             # runc prints its first stats only after an interval
    open(os.path.join(b.rootfs, "tmp/go"), "w").close()
    ev = stream.wait_for("oom", 20)
    assert ev["id"] == cid
    assert "data" not in ev or not ev["data"]
