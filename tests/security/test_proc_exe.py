"""CVE-2019-5736 class: a process in the container opens the runtime's
executable (or the host interpreter) through /proc/<pid>/exe or
/proc/<pid>/fd of a runtime process that is in the container's
namespaces, and writes to it once that process has exec'd.

servin's init is cloned by servin-init, a static executable that the
runtime runs from a sealed memfd copy (csrc/spawn.c): between ``create``
and ``start`` /proc/<init>/exe is that memfd, and /proc/<init>/fd holds
the fds the container is given.  A process that can see the init is one
in the same PID namespace: a second container that shares the first one's
PID namespace (a pod with a shared PID namespace), or ``exec``.

So that a failure would show the real exposure without risking the host's
interpreter (and without ETXTBSY from other Python processes hiding it),
the runtime under test runs from a private copy of the interpreter, which
nothing else executes once ``start`` has returned.  The host's
interpreter, the runtime binary and the installed servin-init are checked
unchanged too.
"""

import errno
import hashlib
import os
import shutil
import sys

import pytest

from integration import oci

from .conftest import parse_probe

pytestmark = pytest.mark.container


def _sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _private_runtime(tmp, runtime_binary, is_runc):
    """(binary to run, files it executes): servin-runc from a copy of the
    interpreter; runc as it is."""
    if is_runc:
        real = os.path.realpath(runtime_binary)
        return runtime_binary, [real]
    import servin
    site = os.path.dirname(list(servin.__path__)[0])
    d = os.path.join(tmp, "rt")
    os.makedirs(d)
    interp = os.path.join(d, "python3")
    shutil.copy2(os.path.realpath(sys.executable), interp)
    wrapper = os.path.join(d, "servin-runc")
    with open(wrapper, "w") as f:
        f.write("#!%s\nimport sys\nsys.path.insert(0, %r)\n"
                "from servin.runtime.cli import main\nsys.exit(main())\n" % (interp, site))
    os.chmod(wrapper, 0o755)
    return wrapper, [interp]


def _attack(ctx, tmp, is_runc, attacker_caps=()):
    """Container A runs the attacker (probe scan); container B joins A's PID
    namespace and is created, probed, started, probed again.  Returns
    (probe lines, protected {(dev, ino): path}, hashes before)."""
    shared = os.path.join(tmp, "shared")
    os.makedirs(shared)
    # a CAP_SYS_PTRACE attacker may ptrace the init anyway (and opening
    # the init's exec.fifo would start it early): it only goes for the exe
    a = ctx.bundle(args=["/probe", "scan", "/shared"] + (["exe-only"] if attacker_caps else []))
    a.add_mount("/shared", "bind", shared, ["rbind", "rw"])
    for caps in a.process["capabilities"].values():
        caps.extend(attacker_caps)
    acid, _ = ctx.run_detached(a)
    oci.wait_until(lambda: os.path.exists(os.path.join(shared, "ready")), what="the attacker")
    apid = ctx.rt.state(acid)["pid"]

    b = ctx.bundle(args=["/bin/sleep", "5"])
    b.set_namespaces("network", "ipc", "uts", "mount", pid="/proc/%d/ns/pid" % apid)
    bcid, _ = ctx.create(b)
    assert ctx.rt.status(bcid) == "created"
    open(os.path.join(shared, "phase1"), "w").close()
    oci.wait_until(lambda: os.path.exists(os.path.join(shared, "phase1.done")), timeout=20,
                   what="the attacker's first pass")
    ctx.start(bcid)
    open(os.path.join(shared, "phase2"), "w").close()
    oci.wait_until(lambda: os.path.exists(os.path.join(shared, "phase2.done")), timeout=20,
                   what="the attacker's second pass")
    lines = parse_probe(ctx.output(acid))
    return lines, b


def _installed_init():
    """The installed servin-init (servin-runc runs a sealed copy of it)."""
    import servin
    for d in servin.__path__:
        p = os.path.join(d, "servin-init")
        if os.path.exists(p):
            return [p]
    return []


def _protected_files(executed, runtime_binary):
    files = sorted({*executed, *_installed_init(), os.path.realpath(sys.executable),
                    os.path.realpath(runtime_binary)})
    return files, {(os.stat(p).st_dev, os.stat(p).st_ino): p for p in files}


def _holes(lines, protected, root_st):
    """What the attacker got that it must not have."""
    def devino(w):
        kv = dict(x.split("=", 1) for x in w[4:] if "=" in x)
        if "dev" not in kv:
            return None
        return int(kv["dev"]), int(kv["ino"])

    holes = []
    for w in lines:
        if len(w) < 4 or w[3] != "ok":
            continue
        kind, what = w[0], w[2]
        di = devino(w)
        if kind in ("opath", "rdonly", "wronly") and what == "exe" and di in protected:
            holes.append("%s handle on /proc/%s/exe = host %s" % (kind, w[1], protected[di]))
        elif kind == "wronly":
            holes.append("/proc/%s/exe opened for writing" % w[1])
        elif kind == "reopen":
            holes.append("re-opened /proc/%s/exe for writing after exec (%s)"
                         % (w[1], protected.get(di, di)))
        elif kind == "opath" and what in ("root", "cwd") and di != (root_st.st_dev, root_st.st_ino):
            holes.append("/proc/%s/%s is a host directory (%s)" % (w[1], what, di))
        elif kind == "fdopen" and int(what[2:]) > 2:
            holes.append("opened the runtime's /proc/%s/fd/%s" % (w[1], what[2:]))
    return holes


def test_proc_exe_and_fds_of_a_created_init_are_unreachable(ctx, tmp_path, runtime_binary, is_runc):
    """The attacker has the default capabilities.  servin-runc's init is not
    dumpable until execve (csrc/child.c, PR_SET_DUMPABLE 0 first thing in
    srv_child): /proc/<init>/exe, fd/, cwd, root all fail with EACCES.
    Before that (ec705f4) this test got an O_PATH handle on the
    interpreter, re-opened it for writing after start, and opened the
    init's exec.fifo."""
    tmp = str(tmp_path)
    binary, executed = _private_runtime(tmp, runtime_binary, is_runc)
    ctx.rt = oci.Runtime(binary, ctx.rt.root)
    files, protected = _protected_files(executed, runtime_binary)
    before = {p: _sha(p) for p in files}

    lines, b = _attack(ctx, tmp, is_runc)
    pids = [int(w[1]) for w in lines if w[0] == "pid"]
    assert pids, "the attacker saw no other process: %r" % lines
    assert ["phase2", "done"] in lines, lines
    holes = _holes(lines, protected, os.stat(b.rootfs))
    assert {p: _sha(p) for p in files} == before, "a host executable changed"
    assert not holes, "\n".join(holes) + "\n--- probe:\n" + "\n".join(" ".join(w) for w in lines)


def test_host_executable_is_not_writable_by_a_ptrace_capable_container(request, ctx, tmp_path,
                                                                      runtime_binary, is_runc):
    """An attacker with CAP_SYS_PTRACE (a privileged container without a
    user namespace) passes the dumpable check: it may read the init's
    /proc entries, and ptrace it, by design.  It must still not get a
    writable handle on a host executable: runc's init runs from a sealed
    memfd copy of runc, servin-runc's from a sealed memfd copy of
    servin-init (csrc/spawn.c).  Before that (when the init was a fork of
    the runtime) this test re-opened the host interpreter for writing."""
    tmp = str(tmp_path)
    binary, executed = _private_runtime(tmp, runtime_binary, is_runc)
    ctx.rt = oci.Runtime(binary, ctx.rt.root)
    files, protected = _protected_files(executed, runtime_binary)
    before = {p: _sha(p) for p in files}
    lines, _b = _attack(ctx, tmp, is_runc, ("CAP_SYS_PTRACE",))
    assert ["phase2", "done"] in lines, lines
    writable = [w for w in lines if w[0] in ("wronly", "reopen") and len(w) > 3 and w[3] == "ok"]
    assert {p: _sha(p) for p in files} == before, "a host executable changed"
    assert not writable, "\n".join(" ".join(w) for w in lines)


EXECS = 8


def test_proc_exe_and_fds_of_an_exec_are_unreachable(ctx, tmp_path, runtime_binary, is_runc):
    """``exec`` joins a running container: servin-init (from its sealed
    memfd) joins the PID namespace and clones the process, which appears in
    the container before its execve.  The attacker probes every pid the
    moment it appears.  Until the child drops to the container's
    capabilities, microseconds before execve, the attacker's capabilities
    are not a superset of its own, so even a dumpable child is out of
    reach; not dumpable, it is out of reach throughout."""
    tmp = str(tmp_path)
    binary, executed = _private_runtime(tmp, runtime_binary, is_runc)
    ctx.rt = oci.Runtime(binary, ctx.rt.root)
    files, protected = _protected_files(executed, runtime_binary)
    before = {p: _sha(p) for p in files}
    shared = os.path.join(tmp, "shared")
    os.makedirs(shared)
    a = ctx.bundle(args=["/probe", "hunt", "/shared"])
    a.add_mount("/shared", "bind", shared, ["rbind", "rw"])
    acid, _ = ctx.run_detached(a)
    oci.wait_until(lambda: os.path.exists(os.path.join(shared, "ready")), what="the attacker")
    for _ in range(EXECS):
        res = ctx.rt("exec", acid, "/bin/true")
        assert res.rc == 0, res
    for name in ("stop", "phase2"):
        open(os.path.join(shared, name), "w").close()
    oci.wait_until(lambda: os.path.exists(os.path.join(shared, "phase2.done")), timeout=20,
                   what="the attacker")
    lines = parse_probe(ctx.output(acid))
    pids = [int(w[1]) for w in lines if w[0] == "pid"]
    # a process may come and go between two passes over /proc under load
    assert len(pids) >= EXECS // 2, "the attacker saw %d processes: %r" % (len(pids), lines)
    holes = _holes(lines, protected, os.stat(a.rootfs))
    assert {p: _sha(p) for p in files} == before, "a host executable changed"
    assert not holes, "\n".join(holes) + "\n--- probe:\n" + "\n".join(" ".join(w) for w in lines)


def test_created_init_runs_from_a_sealed_copy_not_a_host_file(ctx, runtime_binary, is_runc):
    """Seen from the host between ``create`` and ``start``: the init's
    executable cannot be written through /proc/<pid>/exe, even by the
    host's root.  servin-runc: it is a sealed memfd copy of servin-init, a
    different file from the host's interpreter, runtime and installed
    servin-init.  (runc 1.1.5 runs itself through a read-only bind mount:
    the same inode as /usr/sbin/runc, unwritable through that mount.)"""
    b = ctx.bundle(args=["/bin/true"])
    cid, _ = ctx.create(b)
    pid = ctx.rt.state(cid)["pid"]
    if not is_runc:
        assert os.readlink("/proc/%d/exe" % pid) == "/memfd:servin-init (deleted)"
        st = os.stat("/proc/%d/exe" % pid)
        host = {os.path.realpath(sys.executable), os.path.realpath(runtime_binary), *_installed_init()}
        assert not [p for p in host if (os.stat(p).st_dev, os.stat(p).st_ino) == (st.st_dev, st.st_ino)]
    fd = os.open("/proc/%d/exe" % pid, os.O_RDONLY)
    try:
        ctx.start(cid)
        # once the init has exec'd, a handle kept from before is re-opened
        # for writing (the CVE-2019-5736 move): the copy is sealed
        with pytest.raises(OSError) as e:
            wfd = os.open("/proc/self/fd/%d" % fd, os.O_WRONLY)
            try:
                os.write(wfd, b"\x7fELF")
            finally:
                os.close(wfd)
        assert e.value.errno in (errno.EPERM, errno.EACCES, errno.ETXTBSY, errno.EROFS), e.value
    finally:
        os.close(fd)


def test_not_dumpable_init_still_sets_oom_score_adj_in_a_user_namespace(ctx):
    """Root in a new user namespace, the init is not dumpable (a change of
    euid resets the flag anyway), so its /proc/self files belong to the
    host's root: the runtime writes oom_score_adj for it."""
    b = ctx.bundle(["sh", "-c", "cat /proc/self/oom_score_adj; id -u"], parent=ctx.short)
    b.linux["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        b.linux[key] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.process["oomScoreAdj"] = 100
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.split() == ["100", "0"]
