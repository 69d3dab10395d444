"""containerd-shim-servin-v2 and servin-runc under a real containerd
(Debian's 1.6), via ctr.

Every test runs under three shim x runtime combinations (``h.COMBOS``), one
private containerd each (root, state, sockets in a temp dir; CRI off), with
a busybox image built at test time:

- ``servin-shim+runc``: our shim (``--runtime io.containerd.servin.v2``,
  found on PATH as ``containerd-shim-servin-v2``) driving runc;
- ``servin-shim+servin-runc``: our shim driving the servin-runc binary;
- ``servin-shim+in-process``: our shim calling servin.runtime's library in
  its own process (``SERVIN_SHIM_RUNTIME=servin.runtime``);
- ``runc-shim+servin-runc``: Debian's containerd-shim-runc-v2 driving
  servin-runc (``ctr run --runc-binary servin-runc --runc-root PRIVATE``:
  ctr 1.6 turns these into the runc options' BinaryName and Root).

Under our shim the runtime is pinned with ``SERVIN_SHIM_RUNTIME``; one
test names the binary through the runtime options (BinaryName) instead.  A scenario that needs a
runtime command servin-runc's ``--help`` does not list yet (exec, pause,
ps, update ...) skips saying so.  The last test checks that nothing is
left: no shim, no mount, no runtime state.
"""
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shim_harness as h  # noqa: E402

why = h.missing()
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")


@pytest.fixture(scope="module", params=list(h.COMBOS))
def ctd(request):
    why = h.combo_missing(request.param)
    if why:
        pytest.skip(why)
    c = h.Containerd(combo=request.param)
    try:
        c.start()
        c.import_busybox()
        yield c
    finally:
        c.stop()


@pytest.fixture(autouse=True)
def _clean_after_failure(request, ctd):
    """A failed test's containers must not fail the tests after it."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ctd.cleanup_tasks()


def need(ctd, *commands):
    """Skip unless the OCI runtime has ``commands``."""
    missing = ctd.missing_commands(*commands)
    if missing:
        pytest.skip(f"{ctd.oci_name} has no {'/'.join(missing)} command yet "
                    f"(`{ctd.oci_name} --help` does not list it)")


def our_shim_only(ctd, why):
    if not ctd.our_shim:
        pytest.skip(f"containerd-shim-servin-v2 only: {why}")


def task_status(ctd, id):
    for line in ctd.ctr("tasks", "ls").stdout.decode().splitlines()[1:]:
        parts = line.split()
        if parts and parts[0] == id:
            return parts[2]
    return None


def wait_status(ctd, id, want, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if task_status(ctd, id) == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{id}: status {task_status(ctd, id)}, wanted {want}")


class Events:
    """``ctr events`` in the background; the /tasks/* records of one container.

    Subscribed for sure before the test goes on: a namespace label change is
    made until its /namespaces/update event shows up.
    """

    def __init__(self, ctd):
        self.p = subprocess.Popen([h.CTR, "-a", ctd.sock, "events"], stdout=subprocess.PIPE)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        deadline = time.time() + 10
        i = 0
        while time.time() < deadline:
            i += 1
            ctd.ctr("namespaces", "label", ctd.namespace, f"servin-probe={i}")
            time.sleep(0.05)
            if any(b"/namespaces/update" in line for line in self.lines):
                return
        raise AssertionError("ctr events did not subscribe")

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def records(self, id):
        """[(topic, event JSON)] of the container, in arrival order."""
        time.sleep(0.3)
        self.p.terminate()
        self.p.wait(10)
        self.t.join(5)
        got = []
        for line in b"".join(self.lines).decode().splitlines():
            parts = line.split(None, 6)
            if len(parts) == 7 and parts[5].startswith("/tasks/") and f'"{id}"' in parts[6]:
                got.append((parts[5], json.loads(parts[6])))
        return got

    def topics(self, id):
        return [t for t, _ in self.records(id)]


def test_foreground_run_exit_code_and_output(ctd):
    r = ctd.ctr(*ctd.run_args("--rm", h.IMAGE, "fg1", "sh", "-c", "echo hello; echo oops >&2; exit 3"),
                check=False)
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"hello\n"
    assert b"oops" in r.stderr


def test_container_process_has_default_signal_dispositions(ctd):
    """SIGPIPE and SIGXFSZ are not ignored in the container (`yes | head -1`
    must end `yes` by SIGPIPE).  Python ignores both at startup; runc's
    container gets them at their defaults (CPython's subprocess restores
    them for its children the same way)."""
    r = ctd.ctr(*ctd.run_args("--rm", h.IMAGE, "sig1", "grep", "SigIgn", "/proc/self/status"))
    ignored = int(r.stdout.split()[1], 16)
    bad = [sig for sig in (signal.SIGPIPE, signal.SIGXFSZ) if ignored & (1 << (sig - 1))]
    if bad and ctd.oci_name != "runc":
        pytest.xfail(f"servin-runc bug (reported): SigIgn {ignored:#x} in the container — the C "
                     "child keeps the SIG_IGN of SIGPIPE/SIGXFSZ its Python parent set; it must "
                     "reset them to SIG_DFL before execve")
    assert not bad, r.stdout


def test_foreground_stdin_reaches_the_container(ctd):
    our_shim_only(ctd, "containerd-shim-runc-v2 holds the stdin FIFO open for writing and ctr run "
                       "sends no CloseIO, so `cat` never sees EOF (the same with runc)")
    r = ctd.ctr(*ctd.run_args("--rm", h.IMAGE, "fg2", "sh", "-c", "cat; echo done"), input=b"via stdin\n")
    assert r.stdout == b"via stdin\ndone\n"


def test_detached_metrics_kill_delete(ctd):
    ev = Events(ctd)
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "d0", "sleep", "60"))
    wait_status(ctd, "d0", "RUNNING")
    assert "d0" in ctd.runtime_list()            # the combination's runtime runs it
    if ctd.our_shim:
        [bundle] = [b for b in ctd.bundles() if b.endswith("/d0")]
        with open(os.path.join(bundle, "servin-shim.conf")) as f:
            want = "servin.runtime" if ctd.oci_name == "servin.runtime" else ctd.oci
            assert f"binary={want}\n" in f.read()
    m = ctd.ctr("tasks", "metrics", "d0").stdout.decode()
    assert "pids.current" in m and ("memory.usage_in_bytes" in m or "memory.usage" in m), m
    ctd.ctr("tasks", "kill", "d0")                   # SIGTERM: sleep as pid 1 ignores it
    time.sleep(0.3)
    assert task_status(ctd, "d0") == "RUNNING"
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "d0")
    wait_status(ctd, "d0", "STOPPED")
    r = ctd.ctr("tasks", "delete", "d0")
    ctd.ctr("containers", "delete", "d0")
    assert task_status(ctd, "d0") is None
    recs = ev.records("d0")
    assert [t for t, _ in recs] == ["/tasks/create", "/tasks/start", "/tasks/exit",
                                    "/tasks/delete"], recs
    assert recs[2][1].get("exit_status") == 137, recs


def test_detached_exec_pause_resume_metrics_kill_delete(ctd):
    need(ctd, "exec", "ps", "pause", "resume")
    ev = Events(ctd)
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "d1", "sh", "-c", "while true; do sleep 1; done"))
    wait_status(ctd, "d1", "RUNNING")

    r = ctd.ctr("tasks", "exec", "--fifo-dir", ctd.fifo_dir, "--exec-id", "e1", "d1",
                "sh", "-c", "echo from exec; exit 5", check=False)
    assert (r.returncode, r.stdout) == (5, b"from exec\n")

    ps = ctd.ctr("tasks", "ps", "d1").stdout.decode().split()
    assert len(ps) >= 3          # header (2 words) + at least the init

    ctd.ctr("tasks", "pause", "d1")
    wait_status(ctd, "d1", "PAUSED")
    ctd.ctr("tasks", "resume", "d1")
    wait_status(ctd, "d1", "RUNNING")

    m = ctd.ctr("tasks", "metrics", "d1").stdout.decode()
    assert "pids.current" in m and ("memory.usage_in_bytes" in m or "memory.usage" in m), m

    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "d1")
    wait_status(ctd, "d1", "STOPPED")
    ctd.ctr("tasks", "delete", "d1")
    ctd.ctr("containers", "delete", "d1")
    assert task_status(ctd, "d1") is None

    got = ev.topics("d1")
    # containerd's documented order for this life.
    assert got == ["/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                   "/tasks/exit", "/tasks/paused", "/tasks/resumed", "/tasks/exit",
                   "/tasks/delete"], got


def test_exec_processes_carry_their_id_and_can_be_killed(ctd):
    need(ctd, "exec", "ps")
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "d2", "sleep", "60"))
    wait_status(ctd, "d2", "RUNNING")
    p = subprocess.Popen([h.CTR, "-a", ctd.sock, "-n", ctd.namespace, "tasks", "exec", "--fifo-dir",
                          ctd.fifo_dir, "--exec-id", "long", "d2", "sleep", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        pids = ctd.ctr("tasks", "ps", "d2").stdout.decode()
        if "long" in pids:
            break
        time.sleep(0.1)
    assert "long" in pids, pids           # exec processes carry their exec id
    ctd.ctr("tasks", "kill", "--exec-id", "long", "-s", "SIGTERM", "d2")
    assert p.wait(10) == 128 + signal.SIGTERM
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "d2")
    wait_status(ctd, "d2", "STOPPED")
    ctd.ctr("tasks", "delete", "d2")
    ctd.ctr("containers", "delete", "d2")


def test_init_exit_takes_execs_down_and_reports_them_first(ctd):
    need(ctd, "exec")
    ev = Events(ctd)
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "d3", "sleep", "60"))
    wait_status(ctd, "d3", "RUNNING")
    ctd.ctr("tasks", "exec", "-d", "--fifo-dir", ctd.fifo_dir, "--exec-id", "bg", "d3", "sleep", "60")
    t0 = time.time()
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "d3")
    wait_status(ctd, "d3", "STOPPED")
    assert time.time() - t0 < 3
    ctd.ctr("tasks", "delete", "d3")
    ctd.ctr("containers", "delete", "d3")
    got = ev.records("d3")
    exits = [e.get("id") for t, e in got if t == "/tasks/exit"]
    assert exits == ["bg", "d3"], got          # the exec's exit first
    assert got[-1][0] == "/tasks/delete", got


def run_in_pty(cmd, rows, cols, timeout=20, during=None):
    """Run ``cmd`` on a new pty of rows x cols; ``during()`` runs meanwhile."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = during() if during else None
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                d = os.read(master, 4096)
            except OSError:
                break
            if not d:
                break
            out += d
        elif p.poll() is not None:
            break
    os.close(master)
    if during:
        return p.wait(10), out, seen
    return p.wait(10), out


def winsize_of(ctd, id):
    """(rows, cols) of the container's stdin terminal, read through /proc."""
    deadline = time.time() + 10
    while time.time() < deadline:
        line = [x for x in ctd.ctr("tasks", "ls").stdout.decode().splitlines()[1:]
                if x.split()[:1] == [id]]
        if line and line[0].split()[2] == "RUNNING":
            pid = int(line[0].split()[1])
            fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NOCTTY)
            try:
                rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
            finally:
                os.close(fd)
            return rows, cols
        time.sleep(0.05)
    return None


def test_tty_container(ctd):
    cmd = [h.CTR, "-a", ctd.sock, "-n", ctd.namespace] + ctd.run_args(
        "--rm", "-t", h.IMAGE, "tty1", "sh", "-c", "tty; sleep 1; exit 7")
    code, out, size = run_in_pty(cmd, 33, 101, during=lambda: winsize_of(ctd, "tty1"))
    assert code == 7, out
    assert b"/dev/pts/" in out, out
    # ctr sends ResizePty with its own window size; the container's pty has it.
    assert size == (33, 101), size
    assert b"console resize" not in out, out


def test_tty_exec_in_detached_container(ctd):
    need(ctd, "exec")
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "tty2", "sleep", "60"))
    wait_status(ctd, "tty2", "RUNNING")
    cmd = [h.CTR, "-a", ctd.sock, "-n", ctd.namespace, "tasks", "exec", "--fifo-dir", ctd.fifo_dir,
           "-t", "--exec-id", "t1", "tty2", "sh", "-c", "tty; exit 4"]
    code, out = run_in_pty(cmd, 24, 80)
    assert code == 4, out
    assert b"/dev/pts/" in out and b"console resize" not in out, out
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "tty2")
    wait_status(ctd, "tty2", "STOPPED")
    ctd.ctr("tasks", "delete", "tty2")
    ctd.ctr("containers", "delete", "tty2")


def test_two_containers_of_a_pod_share_one_shim(ctd):
    before = set(ctd.shim_pids())
    for n in ("p1", "p2"):
        ctd.ctr(*ctd.run_args("-d", "--annotation", "io.kubernetes.cri.sandbox-id=pod-a",
                              h.IMAGE, n, "sleep", "60"))
    new = set(ctd.shim_pids()) - before
    assert len(new) == 1, new
    addrs = set()
    for b in ctd.bundles():
        if os.path.basename(b) in ("p1", "p2"):
            with open(os.path.join(b, "address")) as f:
                addrs.add(f.read())
    assert len(addrs) == 1
    shim = new.pop()
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "p1")
    wait_status(ctd, "p1", "STOPPED")
    ctd.ctr("tasks", "delete", "p1")
    assert shim in ctd.shim_pids()        # still serving p2
    # More pod members come and go: the shim's fds don't grow.
    fds = len(os.listdir(f"/proc/{shim}/fd"))
    for n in ("p3", "p4", "p5"):
        ctd.ctr(*ctd.run_args("--rm", "--annotation", "io.kubernetes.cri.sandbox-id=pod-a",
                              h.IMAGE, n, "sh", "-c", "echo x; echo y >&2"))
    if not ctd.missing_commands("exec"):
        ctd.ctr("tasks", "exec", "--fifo-dir", ctd.fifo_dir, "--exec-id", "x1", "p2", "true")
    assert len(os.listdir(f"/proc/{shim}/fd")) <= fds
    wait_status(ctd, "p2", "RUNNING")
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "p2")
    wait_status(ctd, "p2", "STOPPED")
    ctd.ctr("tasks", "delete", "p2")
    for n in ("p1", "p2"):
        ctd.ctr("containers", "delete", n)
    deadline = time.time() + 5
    while shim in ctd.shim_pids() and time.time() < deadline:
        time.sleep(0.05)
    assert shim not in ctd.shim_pids()


def test_pod_shim_runs_execs_and_containers_concurrently(ctd, request):
    """Three exec streams into two pod members and a fourth member run
    meanwhile, all through one shim: every call returns, with its output.

    ctr gives up output it has not read yet when it deletes the process, and
    its FIFO reader can open late; our shim reports an exit only once the
    output has been read (docs/shim.md, "Output and exits")."""
    if not ctd.our_shim:
        request.applymarker(pytest.mark.xfail(strict=False, reason=(
            "containerd-shim-runc-v2 opens an exec's output FIFOs only after `runc exec` "
            "returned and reports the exit without waiting for ctr to read the output: "
            "ctr 1.6 loses an exec's stdout about 1 run in 10 under load, with runc "
            "too (docs/shim.md)")))
    need(ctd, "exec")
    pod = ["--annotation", "io.kubernetes.cri.sandbox-id=pod-c"]
    for n in ("c1", "c2"):
        ctd.ctr(*ctd.run_args("-d", *pod, h.IMAGE, n, "sleep", "60"))
    for n in ("c1", "c2"):
        wait_status(ctd, n, "RUNNING")
    errors = []

    def execs(cid, k):
        for i in range(4):
            r = ctd.ctr("tasks", "exec", "--fifo-dir", ctd.fifo_dir, "--exec-id", f"x{k}-{i}", cid,
                        "sh", "-c", "echo hi; exit 2", check=False, timeout=20)
            if (r.returncode, r.stdout) != (2, b"hi\n"):
                errors.append((cid, k, i, r.returncode, r.stdout, r.stderr))

    def runs():
        for i in range(3):
            r = ctd.ctr(*ctd.run_args("--rm", *pod, h.IMAGE, f"c3-{i}", "echo", "out"), check=False,
                        timeout=20)
            if r.stdout != b"out\n":
                errors.append(("run", i, r.returncode, r.stdout, r.stderr))

    def guard(fn, *a):
        try:
            fn(*a)
        except subprocess.TimeoutExpired as e:
            errors.append(("timeout", e.cmd[-6:]))

    ts = [threading.Thread(target=guard, args=(execs, "c1", 0)),
          threading.Thread(target=guard, args=(execs, "c2", 1)),
          threading.Thread(target=guard, args=(execs, "c1", 2)),
          threading.Thread(target=guard, args=(runs,))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    assert errors == []
    for n in ("c1", "c2"):
        ctd.ctr("tasks", "kill", "-s", "SIGKILL", n)
    for n in ("c1", "c2"):
        wait_status(ctd, n, "STOPPED")
        ctd.ctr("tasks", "delete", n)
        ctd.ctr("containers", "delete", n)


def test_binary_name_option_drives_the_runtime(ctd):
    our_shim_only(ctd, "BinaryName from --runtime-config-path (runtimeoptions.v1)")
    log = os.path.join(ctd.dir, "wrap.log")
    wrap = os.path.join(ctd.dir, "runc-wrap")
    with open(wrap, "w") as f:
        f.write(f'#!/bin/sh\necho "$@" >> {log}\nexec {ctd.oci} "$@"\n')
    os.chmod(wrap, 0o755)
    conf = os.path.join(ctd.dir, "runtime.toml")
    with open(conf, "w") as f:
        f.write(f'BinaryName = "{wrap}"\n')
    r = ctd.ctr(*ctd.run_args("--rm", "--runtime-config-path", conf, h.IMAGE, "bn1", "echo", "via wrapper"))
    assert r.stdout == b"via wrapper\n"
    with open(log) as f:
        calls = [line.split() for line in f]
    verbs = [c[c.index("--log-format") + 2] for c in calls]
    assert verbs[:2] == ["create", "start"] and "delete" in verbs, verbs
    assert all(c[0] == "--root" and not c[1].startswith("/run/") for c in calls)


def test_shim_killed_is_cleaned_up_by_delete_action(ctd):
    before = set(ctd.shim_pids())
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "crash1", "sleep", "60"))
    wait_status(ctd, "crash1", "RUNNING")
    init = int(ctd.ctr("tasks", "ls").stdout.decode().split("crash1")[1].split()[0])
    [shim] = set(ctd.shim_pids()) - before
    os.kill(shim, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{init}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{init}")    # `delete` force-deleted the container
    ctd.ctr("tasks", "delete", "crash1", check=False)
    ctd.ctr("containers", "delete", "crash1")
    assert not any(m.endswith("/crash1/rootfs") for m in ctd.mounts())


def _swap_on():
    with open("/proc/swaps") as f:
        return len(f.read().splitlines()) > 1


@pytest.mark.skipif(_swap_on(), reason="swap is on: a tmpfs over the memory limit may swap, not OOM")
def test_oom_kill_publishes_task_oom_before_exit(ctd):
    ev = Events(ctd)
    # containerd's runc shim starts watching for OOM after `start` returns:
    # an OOM in the first milliseconds can beat it on a loaded machine
    # (seen once in a full run with servin-runc under it), hence the sleep
    r = ctd.ctr(*ctd.run_args("--rm", "--memory-limit", str(16 << 20), h.IMAGE, "oom1", "sh", "-c",
                              "sleep 1; dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null; "
                              "exit 9"),
                check=False, timeout=30)
    got = ev.topics("oom1")
    assert r.returncode == 9, r.stderr
    assert "/tasks/oom" in got, got
    assert got.index("/tasks/oom") < got.index("/tasks/exit"), got


def test_unimplemented_rpc_is_reported_as_not_implemented(ctd):
    our_shim_only(ctd, "the runc shim implements Checkpoint by running `runc checkpoint`")
    need(ctd, "pause", "resume")         # ctr pauses the task around a checkpoint
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "ck1", "sleep", "60"))
    wait_status(ctd, "ck1", "RUNNING")
    r = ctd.ctr("tasks", "checkpoint", "ck1", check=False)
    assert r.returncode != 0 and b"not implemented" in r.stderr, r.stderr
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "ck1")
    wait_status(ctd, "ck1", "STOPPED")
    ctd.ctr("tasks", "delete", "ck1")
    ctd.ctr("containers", "delete", "ck1")


def test_update_resources_through_the_task_api(ctd):
    """ctr 1.6 has no `task update`: call the shim's Update directly."""
    need(ctd, "update")
    shim_pb2 = pytest.importorskip("servin.shim.proto.shim_pb2")
    from servin.shim._server import Client
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "up1", "sleep", "60"))
    wait_status(ctd, "up1", "RUNNING")
    bundle = [b for b in ctd.bundles() if b.endswith("/up1")][0]
    with open(os.path.join(bundle, "address")) as f:
        addr = f.read().strip()[len("unix://"):]
    cli = Client(addr)
    try:
        req = shim_pb2.UpdateTaskRequest(id="up1")
        req.resources.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
        req.resources.value = b'{"memory": {"limit": 67108864}, "pids": {"limit": 99}}'
        cli.call("containerd.task.v2.Task", "Update", req)
        st = cli.call("containerd.task.v2.Task", "State", shim_pb2.StateRequest(id="up1"),
                      shim_pb2.StateResponse)
        pid = st.pid
        stats = cli.call("containerd.task.v2.Task", "Stats", shim_pb2.StatsRequest(id="up1"),
                         shim_pb2.StatsResponse)
    finally:
        cli.close()
    assert stats.stats.type_url.startswith("io.containerd.cgroups.v")
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.strip().split(":", 2) for line in f]
    v1 = {c: p for _, cs, p in lines for c in cs.split(",")}
    if "pids" in v1:
        with open(f"/sys/fs/cgroup/pids{v1['pids']}/pids.max") as f:
            assert f.read().strip() == "99"
    if "memory" in v1:
        with open(f"/sys/fs/cgroup/memory{v1['memory']}/memory.limit_in_bytes") as f:
            assert int(f.read()) == 67108864
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):      # cgroup v2 only
        d = "/sys/fs/cgroup" + v1[""]
        with open(d + "/memory.max") as f:
            assert int(f.read()) == 67108864
        with open(d + "/pids.max") as f:
            assert f.read().strip() == "99"
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "up1")
    wait_status(ctd, "up1", "STOPPED")
    ctd.ctr("tasks", "delete", "up1")
    ctd.ctr("containers", "delete", "up1")


def test_containerd_restart_reconnects_to_the_shim(ctd):
    need(ctd, "exec")
    ctd.ctr(*ctd.run_args("-d", h.IMAGE, "rs1", "sleep", "60"))
    wait_status(ctd, "rs1", "RUNNING")
    shims = set(ctd.shim_pids())
    ctd.restart()
    assert set(ctd.shim_pids()) == shims            # the shim outlived containerd
    wait_status(ctd, "rs1", "RUNNING")
    r = ctd.ctr("tasks", "exec", "--fifo-dir", ctd.fifo_dir, "--exec-id", "x", "rs1", "echo", "still here")
    assert r.stdout == b"still here\n"
    ctd.ctr("tasks", "kill", "-s", "SIGKILL", "rs1")
    wait_status(ctd, "rs1", "STOPPED")
    ctd.ctr("tasks", "delete", "rs1")
    ctd.ctr("containers", "delete", "rs1")


def test_nothing_left_behind(ctd):
    deadline = time.time() + 5
    while ctd.shim_pids() and time.time() < deadline:
        time.sleep(0.1)
    assert ctd.shim_pids() == []
    assert ctd.mounts() == []
    for root in h._runc_roots(ctd.dir):
        assert os.listdir(root) == [], root
    assert ctd.ctr("tasks", "ls", "-q").stdout.strip() == b""
