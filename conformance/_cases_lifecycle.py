"""runtime.md and runtime-linux.md: state, lifecycle, operations."""
import os
import time

from ._registry import case


def _pid_alive(pid, settle=0.0):
    """True when ``pid`` is a live process (a zombie counts as dead).
    With ``settle``, wait up to that long for it to die."""
    deadline = time.monotonic() + settle
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            alive = state not in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            alive = False
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _listed(t):
    """Container ids from ``list -q`` (not a spec operation: None when the
    runtime has no such command), else the entries of the state dir."""
    r = t.op("list", "-q")
    if r.rc == 0:
        return set(r.out.split())
    return {p for p in os.listdir(t.rt.root) if not p.startswith(".")}


def _created(t, *args):
    b = t.bundle(*(args or ("sleep", "30")))
    cid, _ = t.create(b)
    return b, cid


def _running(t):
    b, cid = _created(t)
    r = t.op("start", cid)
    t.check(r.ok, f"start failed: {r.err.strip()}")
    t.wait_status(cid, "running")
    return b, cid


def _stopped(t):
    b, cid = _created(t, "exit", "0")
    r = t.op("start", cid)
    t.check(r.ok, f"start failed: {r.err.strip()}")
    return b, cid, t.wait_status(cid, "stopped")


@case("state.unknown-id", "runtime.md#query-state", "MUST",
      "Attempting to query a container that does not exist MUST generate an error.")
def _(t):
    r = t.op("state", "sc-does-not-exist")
    t.check(r.rc != 0, f"state of an unknown id exited 0: {r.out[:200]!r}")


@case("state.missing-id", "runtime.md#query-state", "MUST",
      "This operation MUST generate an error if it is not provided the ID of a container.")
def _(t):
    r = t.op("state")
    t.check(r.rc != 0, "state without an id exited 0")


@case("state.fields", "runtime.md#state", "MUST",
      "The state MUST include ociVersion, id, status, pid (created/running on Linux) and bundle.")
def _(t):
    b, cid = _created(t)
    st = t.state(cid)
    t.check(st is not None, "state failed on a created container")
    for key in ("ociVersion", "id", "status", "pid", "bundle"):
        t.check(key in st, f"state lacks {key!r}: {st}")
    t.check(st["id"] == cid, f"state id {st['id']!r} != {cid!r}")
    t.check(isinstance(st["pid"], int) and st["pid"] > 0, f"pid is not a positive int: {st['pid']!r}")
    t.check(isinstance(st["ociVersion"], str) and st["ociVersion"].count(".") >= 2,
            f"ociVersion is not a SemVer string: {st['ociVersion']!r}")


@case("state.bundle-absolute", "runtime.md#state", "MUST",
      "bundle (string, REQUIRED) is the absolute path to the container's bundle directory.")
def _(t):
    b = t.bundle("sleep", "30")
    b.write()
    cid = t.new_id()
    parent = os.path.dirname(b.path)
    r = t.rt.run("create", "--bundle", os.path.basename(b.path), cid, cwd=parent,
                 out_path=os.path.join(b.path, f"create-{cid}"))
    t.check(r.ok, f"create with a relative --bundle failed: {r.err.strip()}")
    st = t.state(cid)
    t.check(st.get("bundle") == os.path.realpath(b.path),
            f"bundle {st.get('bundle')!r} != {os.path.realpath(b.path)!r}")


@case("state.pid-host", "runtime.md#state", "MUST",
      "pid is the ID of the container process, as seen by the host.")
def _(t):
    b, cid = _running(t)
    st = t.state(cid)
    pid = st["pid"]
    t.check(_pid_alive(pid), f"state pid {pid} is not a live host process")
    ours = os.stat("/proc/self/ns/pid").st_ino
    theirs = os.stat(f"/proc/{pid}/ns/pid").st_ino
    t.check(ours != theirs, f"pid {pid} is in the host's pid namespace: not the container process")
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv0 = f.read().split(b"\0")[0]
    t.check(argv0.endswith(b"servin-checker"), f"pid {pid} runs {argv0!r}, not the user program")


@case("state.annotations", "runtime.md#state", "MUST",
      "annotations contains the list of annotations associated with the container.")
def _(t):
    b = t.bundle("sleep", "30")
    b.config["annotations"] = {"org.servin.conformance": "yes", "com.example.key": "value"}
    cid, _ = t.create(b)
    st = t.state(cid)
    t.check(st.get("annotations") == b.config["annotations"],
            f"state annotations {st.get('annotations')!r} != {b.config['annotations']!r}")


@case("create.status-created", "runtime.md#create", "MUST",
      "Upon successful completion of create the status property of the container MUST be created.")
def _(t):
    b, cid = _created(t)
    st = t.state(cid)
    t.check(st and st.get("status") == "created", f"status after create: {st}")


@case("create.program-not-run", "runtime.md#lifecycle", "MUST",
      "While the resources requested MUST be created, the user-specified program MUST NOT be run at create.")
def _(t):
    out = t.tmpdir("out")
    b = t.bundle("touch", "/out/ran")
    b.add_bind(out, "/out")
    cid, _ = t.create(b)
    time.sleep(0.3)
    t.check(not os.path.exists(os.path.join(out, "ran")), "the program ran during create")
    r = t.op("start", cid)
    t.check(r.ok, f"start failed: {r.err.strip()}")
    t.wait_status(cid, "stopped")
    t.check(os.path.exists(os.path.join(out, "ran")), "the program did not run after start")


@case("create.duplicate-id", "runtime.md#create", "MUST",
      "If the ID provided is not unique, the implementation MUST generate an error and a new "
      "container MUST NOT be created.")
def _(t):
    b, cid = _created(t)
    st1 = t.state(cid)
    b2 = t.bundle("sleep", "30")
    _, r = t.create(b2, cid=cid, expect_ok=False)
    t.check(r.rc != 0, "a second create with the same id succeeded")
    st2 = t.state(cid)
    t.check(st2 and st2.get("pid") == st1.get("pid") and st2.get("bundle") == st1.get("bundle"),
            f"the first container changed: {st1} -> {st2}")


@case("create.missing-bundle", "runtime.md#create", "MUST",
      "create MUST generate an error if it is not provided a path to a bundle (here: a bundle "
      "directory without config.json).")
def _(t):
    empty = t.tmpdir("empty-bundle")
    cid = t.new_id()
    r = t.op("create", "--bundle", empty, cid)
    t.check(r.rc != 0, "create of a bundle without config.json succeeded")
    t.check(t.state(cid) is None, "a container exists after the failed create")


@case("create.missing-id", "runtime.md#create", "MUST",
      "create MUST generate an error if it is not provided the container ID; no container is made.")
def _(t):
    b = t.bundle("sleep", "30")
    b.write()
    before = _listed(t)
    r = t.op("create", "--bundle", b.path)
    after = _listed(t)
    t.check(r.rc != 0, "create without an id exited 0")
    t.check(before == after, f"containers after the failed create: {after}")


@case("create.config-changes-ignored", "runtime.md#lifecycle", "MUST",
      "Any updates to config.json after the create step MUST NOT affect the container.")
def _(t):
    b = t.bundle("env", "SERVIN_MARK")
    b.process["env"].append("SERVIN_MARK=original")
    cid, _ = t.create(b)
    b.process["env"][-1] = "SERVIN_MARK=changed"
    b.process["args"] = ["/bin/servin-checker", "env", "SERVIN_MARK", "uts"]
    b.config["hostname"] = "changed"
    b.write()
    r = t.op("start", cid)
    t.check(r.ok, f"start failed: {r.err.strip()}")
    t.wait_status(cid, "stopped")
    out = t.container_output(b, cid)
    t.check("env.SERVIN_MARK=original" in out, f"container output: {out!r}")


@case("create.error-leaves-nothing", "runtime.md#errors", "MUST",
      "Generating an error MUST leave the state of the environment as if the operation were "
      "never attempted.")
def _(t):
    b = t.bundle("all")
    b.config["mounts"].append({"destination": "/out", "type": "bind", "options": ["rbind"],
                               "source": os.path.join(t.workdir, "no-such-dir")})
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "create with a bind mount of a missing source succeeded")
    t.check(t.state(cid) is None, "the failed container still has a state")
    t.check(cid not in _listed(t), "the failed container is still listed")
    from . import _host
    left = _host.cgroup_dirs_named(cid)
    t.check(not left, f"cgroups left behind by the failed create: {left}")
    t.check(not any(cid in p for p in os.listdir(t.rt.root) if not p.startswith(".io-")),
            f"state left in --root: {os.listdir(t.rt.root)}")


@case("start.runs-program", "runtime.md#start", "MUST",
      "start MUST run the user-specified program as specified by process; status MUST then be running.")
def _(t):
    b, cid = _running(t)
    st = t.state(cid)
    t.check(st["status"] == "running", f"status after start: {st}")


@case("start.twice", "runtime.md#start", "MUST",
      "Attempting to start an already started container MUST have no effect and MUST generate an error.")
def _(t):
    b, cid = _running(t)
    pid = t.state(cid)["pid"]
    r = t.op("start", cid)
    t.check(r.rc != 0, "a second start succeeded")
    st = t.state(cid)
    t.check(st["status"] == "running" and st["pid"] == pid, f"the container changed: {st}")


@case("start.stopped", "runtime.md#start", "MUST",
      "Attempting to start a container that is not created (here: stopped) MUST generate an error.")
def _(t):
    b, cid, st = _stopped(t)
    r = t.op("start", cid)
    t.check(r.rc != 0, "start of a stopped container succeeded")
    st2 = t.state(cid)
    t.check(st2 and st2["status"] == "stopped", f"state after the failed start: {st2}")


@case("start.unknown-id", "runtime.md#start", "MUST",
      "Attempting to start a container that does not exist MUST generate an error.")
def _(t):
    r = t.op("start", "sc-does-not-exist")
    t.check(r.rc != 0, "start of an unknown id succeeded")


@case("start.missing-id", "runtime.md#start", "MUST",
      "start MUST generate an error if it is not provided the container ID.")
def _(t):
    r = t.op("start")
    t.check(r.rc != 0, "start without an id exited 0")


@case("kill.signal-delivered", "runtime.md#kill", "MUST",
      "kill MUST send the specified signal to the container process; once it is stopped the "
      "status MUST be stopped.")
def _(t):
    b, cid = _running(t)
    r = t.op("kill", cid, "KILL")
    t.check(r.ok, f"kill failed: {r.err.strip()}")
    t.wait_status(cid, "stopped")


@case("kill.sigterm-number", "runtime.md#kill", "MUST",
      "kill MUST send the specified signal (given by number, 15) to the container process.")
def _(t):
    # sh as pid 1 ignores SIGTERM unless it traps it.
    b = t.bundle("/bin/sh", "-c", "trap 'touch /out/term; exit 0' TERM; while :; do sleep 0.1; done")
    out = t.tmpdir("out")
    b.add_bind(out, "/out")
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "running")
    time.sleep(0.3)
    r = t.op("kill", cid, "15")
    t.check(r.ok, f"kill {cid} 15 failed: {r.err.strip()}")
    t.wait_status(cid, "stopped")
    t.check(os.path.exists(os.path.join(out, "term")), "the process did not see SIGTERM")


@case("kill.missing-id", "runtime.md#kill", "MUST",
      "kill MUST generate an error if it is not provided the container ID.")
def _(t):
    r = t.op("kill")
    t.check(r.rc != 0, "kill without an id exited 0")


@case("kill.stopped", "runtime.md#kill", "MUST",
      "Attempting to send a signal to a container that is not running MUST generate an error.")
def _(t):
    b, cid, st = _stopped(t)
    r = t.op("kill", cid, "KILL")
    t.check(r.rc != 0, "kill of a stopped container succeeded")
    st2 = t.state(cid)
    t.check(st2 and st2["status"] == "stopped", f"state after the failed kill: {st2}")


@case("kill.unknown-id", "runtime.md#kill", "MUST",
      "kill MUST generate an error for a container that does not exist.")
def _(t):
    r = t.op("kill", "sc-does-not-exist", "KILL")
    t.check(r.rc != 0, "kill of an unknown id succeeded")


@case("kill.stopped-status", "runtime.md#kill", "MUST",
      "When the process stops for any other reason than kill, the status MUST be stopped.")
def _(t):
    b, cid, st = _stopped(t)
    t.check(st["status"] == "stopped", f"{st}")


@case("delete.running", "runtime.md#delete", "MUST",
      "Attempting to delete a container whose process is still running MUST generate an error.")
def _(t):
    b, cid = _running(t)
    r = t.op("delete", cid)
    t.check(r.rc != 0, "delete of a running container succeeded")
    st = t.state(cid)
    t.check(st and st["status"] == "running", f"the container changed: {st}")


@case("delete.created", "runtime.md#delete", "MUST",
      "Attempting to delete a container that is not stopped (here: created, its process alive) "
      "MUST generate an error.")
def _(t):
    b, cid = _created(t)
    pid = t.state(cid)["pid"]
    r = t.op("delete", cid)
    st = t.state(cid)
    t.check(r.rc != 0, f"delete of a created container succeeded (pid {pid} "
            f"{'still alive' if _pid_alive(pid, 1) else 'killed'}, state now {st})")
    t.check(st and st["status"] == "created", f"the container changed: {st}")


@case("delete.stopped", "runtime.md#delete", "MUST",
      "Deleting a stopped container removes it: state MUST then error (the container does not exist).")
def _(t):
    b, cid, st = _stopped(t)
    r = t.op("delete", cid)
    t.check(r.ok, f"delete failed: {r.err.strip()}")
    t.check(t.state(cid) is None, "state still answers after delete")


@case("delete.unknown-id", "runtime.md#delete", "MUST",
      "Attempting to delete a container that does not exist MUST generate an error.")
def _(t):
    r = t.op("delete", "sc-does-not-exist")
    t.check(r.rc != 0, "delete of an unknown id succeeded")


@case("delete.resources", "runtime.md#delete", "MUST",
      "Deleting a container MUST delete the resources created during create (state, cgroup, processes).")
def _(t):
    b = t.bundle("/bin/sh", "-c", "sleep 30 & exit 0")  # leaves a child that init's exit kills
    b.remove_namespace("pid")
    b.set_namespace("pid")
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "stopped")
    r = t.op("delete", cid)
    t.check(r.ok, f"delete failed: {r.err.strip()}")
    from . import _host
    left = _host.cgroup_dirs_named(cid)
    t.check(not left, f"cgroups left after delete: {left}")
    t.check(not _pid_alive(pid, settle=2), f"init pid {pid} still alive 2s after delete")
    t.check(t.state(cid) is None, "state still answers after delete")


@case("delete.keeps-foreign", "runtime.md#delete", "MUST",
      "Resources associated with the container but not created by it (a joined namespace, a "
      "bind-mounted directory) MUST NOT be deleted.")
def _(t):
    holder_b = t.bundle("sleep", "60")
    hid, _ = t.create(holder_b)
    hpid = t.state(hid)["pid"]
    data = t.tmpdir("data")
    with open(os.path.join(data, "keep"), "w") as f:
        f.write("x")
    b = t.bundle("exit", "0")
    b.set_namespace("network", f"/proc/{hpid}/ns/net")
    b.add_bind(data, "/out")
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "stopped")
    t.check(t.op("delete", cid).ok, "delete failed")
    t.check(os.path.exists(os.path.join(data, "keep")), "the bind-mounted source was emptied")
    t.check(_pid_alive(hpid) and os.path.exists(f"/proc/{hpid}/ns/net"),
            "the joined network namespace's holder is gone")
    st = t.state(hid)
    t.check(st and st["status"] == "created", f"the other container changed: {st}")


@case("delete.id-reusable", "runtime.md#delete", "MAY",
      "Once a container is deleted its ID MAY be used by a subsequent container.")
def _(t):
    b, cid, st = _stopped(t)
    t.check(t.op("delete", cid).ok, "delete failed")
    b2 = t.bundle("exit", "0")
    _, r = t.create(b2, cid=cid, expect_ok=False)
    t.check(r.ok, f"create with a reused id failed: {r.err.strip()}")


@case("delete.missing-id", "runtime.md#delete", "MUST",
      "delete MUST generate an error if it is not provided the container ID.")
def _(t):
    r = t.op("delete")
    t.check(r.rc != 0, "delete without an id exited 0")


@case("linux.fds", "runtime-linux.md#file-descriptors", "MUST",
      "By default only stdin, stdout and stderr are kept open for the application.")
def _(t):
    b = t.bundle("fds")
    rep = t.run_ok(b)
    fds = rep.get("fds", "").split(",")
    t.check(fds == ["0", "1", "2"], f"open descriptors in the container: {rep.get('fds')}")


@case("linux.dev-symlinks", "runtime-linux.md#dev-symbolic-links", "MUST",
      "Runtimes MUST create /dev/fd -> /proc/self/fd, /dev/stdin, /dev/stdout, /dev/stderr.")
def _(t):
    want = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
            "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}
    args = []
    for p in want:
        args += ["readlink", p]
    rep = t.run_ok(t.bundle(*args))
    for p, target in want.items():
        got = rep.get(f"readlink.{p}")
        t.check(got == target, f"{p} -> {got!r}, want {target!r}")


@case("kill.created", "runtime.md#kill", "MUST",
      "kill of a created container (neither stopped nor unknown) MUST send the signal: with "
      "SIGKILL the container becomes stopped.")
def _(t):
    b, cid = _created(t)
    r = t.op("kill", cid, "KILL")
    t.check(r.ok, f"kill of a created container failed: {r.err.strip()}")
    t.wait_status(cid, "stopped")


@case("state.running-then-stopped", "runtime.md#state", "MUST",
      "status is running while the program runs and stopped once it has exited.")
def _(t):
    b = t.bundle("sleep", "1")
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    st = t.state(cid)
    t.check(st and st["status"] == "running", f"status right after start: {st}")
    st = t.wait_status(cid, "stopped", timeout=10)
    t.check(st["id"] == cid, f"{st}")
