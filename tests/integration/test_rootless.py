"""Rootless: the runtime run by a non-root user (docs/runtime.md, "Rootless").

A user ``srvrootless<pid>`` with a 65536-id range in /etc/subuid and
/etc/subgid (useradd's, else one we add) is made for this module and
removed afterwards (user and lines).  Every runtime command runs as that user (``setpriv``), on a
bundle it owns and with ``--root`` under a directory it owns (runc needs
that too), so the same cases run against runc as the control.
"""

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from . import oci

USER = "srvrootless"
RANGE = 65536


def _strip_lines(path, user):
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return
    keep = [line for line in lines if not line.startswith(user + ":")]
    if keep != lines:
        with open(path, "w") as f:
            f.writelines(keep)


def _sub_range(path, user):
    """The user's first range in /etc/subuid or /etc/subgid: (base, count)."""
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] == user and parts[1].isdigit() and parts[2].isdigit():
                    return int(parts[1]), int(parts[2])
    except FileNotFoundError:
        pass
    return None


def _free_base():
    """The first id above every range in /etc/subuid and /etc/subgid."""
    top = 300000
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        top = max(top, int(parts[1]) + int(parts[2]))
        except FileNotFoundError:
            pass
    return top


def _remove_user(name):
    subprocess.run(["userdel", name], capture_output=True)
    # userdel drops the user's subordinate ids; these are only what it missed
    for path in ("/etc/subuid", "/etc/subgid"):
        _strip_lines(path, name)


def _user_pids(uid):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                # a zombie waits for the host's init to reap it: not ours
                if os.stat("/proc/" + name).st_uid == uid and oci.pid_alive(int(name)):
                    pids.append(int(name))
            except FileNotFoundError:
                pass
    return pids


def _describe(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        return "%s (state %s, ppid %s)" % (cmd, st[0], st[1])
    except OSError:
        return "gone"


class User:
    def __init__(self, name, uid, gid, base):
        self.name, self.uid, self.gid, self.base = name, uid, gid, base


@pytest.fixture(scope="module")
def user():
    """A user of our own (a per-run name: runs of this file may overlap),
    with the subuid/subgid range useradd allocates (or one we add)."""
    if os.geteuid() != 0:
        pytest.skip("making a test user needs root")
    for tool in ("useradd", "userdel", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip("%s missing" % tool)
    if shutil.which("newuidmap") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "uidmap"],
                       capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if shutil.which("newuidmap") is None:
            pytest.skip("newuidmap missing (apt install uidmap)")
    name = "%s%d" % (USER, os.getpid())
    for attempt in range(20):     # /etc/passwd may be locked by another useradd
        p = subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name],
                           capture_output=True, text=True)
        if p.returncode == 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail("useradd %s: %s" % (name, p.stderr.strip()))
    try:
        import pwd
        pw = pwd.getpwnam(name)
        ranges = [_sub_range(path, name) for path in ("/etc/subuid", "/etc/subgid")]
        if all(r and r[1] >= RANGE for r in ranges) and ranges[0][0] == ranges[1][0]:
            base = ranges[0][0]
        else:
            base = _free_base()
            for path in ("/etc/subuid", "/etc/subgid"):
                with open(path, "a") as f:
                    f.write("%s:%d:%d\n" % (name, base, RANGE))
        yield User(name, pw.pw_uid, pw.pw_gid, base)
    finally:
        _remove_user(name)


class RootlessCtx:
    """A bundle, a --root and an XDG_RUNTIME_DIR owned by the user, and
    the runtime run as that user."""

    def __init__(self, binary, user, rootfs_template):
        self.binary = binary
        self.user = user
        self.top = tempfile.mkdtemp(prefix="servin-rootless-", dir="/tmp")
        os.chmod(self.top, 0o755)
        self.bundle = os.path.join(self.top, "bundle")
        self.root = os.path.join(self.top, "state")
        self.xdg = os.path.join(self.top, "xdg")
        os.mkdir(self.bundle)
        os.mkdir(self.xdg, 0o700)
        oci.clone_rootfs(rootfs_template, os.path.join(self.bundle, "rootfs"))
        for dirpath, dirnames, filenames in os.walk(self.top):
            os.chown(dirpath, user.uid, user.gid)
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                if os.path.islink(p) or os.path.isdir(p):
                    os.lchown(p, user.uid, user.gid)
        self.ids = []

    def env(self):
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": self.top, "XDG_RUNTIME_DIR": self.xdg, "LANG": "C.UTF-8"}

    def argv(self, *args, root=True):
        return (["setpriv", "--reuid", str(self.user.uid), "--regid", str(self.user.gid),
                 "--init-groups", "--", self.binary]
                + (["--root", self.root] if root else []) + list(args))

    def __call__(self, *args, root=True, timeout=oci.COMMAND_TIMEOUT, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.run(self.argv(*args, root=root), cwd=self.bundle, env=self.env(),
                           timeout=timeout, **kw)
        out = p.stdout.decode(errors="replace") if p.stdout else ""
        err = p.stderr.decode(errors="replace") if p.stderr else ""
        return oci.Result(self.argv(*args, root=root), p.returncode, out, err)

    def new_id(self):
        cid = "rl%d-%d" % (os.getpid(), len(self.ids))
        self.ids.append(cid)
        return cid

    @property
    def config_path(self):
        return os.path.join(self.bundle, "config.json")

    def spec(self):
        res = self("spec", "--rootless")
        assert res.rc == 0, res
        with open(self.config_path) as f:
            return json.load(f)

    def write(self, cfg):
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        os.chown(self.config_path, self.user.uid, self.user.gid)

    def cleanup(self):
        leaks = []
        for root, extra in ((self.root, True), (os.path.join(self.xdg, "servin"), False),
                            (os.path.join(self.xdg, "runc"), False)):
            for cid in self.ids:
                if os.path.exists(os.path.join(root, cid)):
                    self("--root", root, "delete", "--force", cid, root=False)
                    leaks.append("state of %s in %s" % (cid, root))
        deadline = time.monotonic() + 5
        while _user_pids(self.user.uid) and time.monotonic() < deadline:
            for pid in _user_pids(self.user.uid):
                leaks.append("process %d of %s: %s" % (pid, self.user.name, _describe(pid)))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for cid in self.ids:
            for d in _cgroup_dirs(cid):
                leaks.append("cgroup " + d)
        shutil.rmtree(self.top, ignore_errors=True)
        return sorted(set(leaks))


def _cgroup_dirs(cid):
    found = []
    base = "/sys/fs/cgroup"
    for ctl in os.listdir(base):
        for sub in ("servin/" + cid, cid, "user.slice/" + cid):
            d = os.path.join(base, ctl, sub)
            if os.path.isdir(d):
                found.append(d)
    return found


@pytest.fixture
def rl(runtime_binary, user, rootfs_template):
    c = RootlessCtx(runtime_binary, user, rootfs_template)
    yield c
    leaks = c.cleanup()
    if leaks:
        pytest.fail("left behind after teardown:\n  " + "\n  ".join(leaks), pytrace=False)


def _run_on_pty(argv, env, cwd, timeout=oci.COMMAND_TIMEOUT):
    """Run argv with a pty as its stdio; return (exit status, output)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                             start_new_session=True)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
            elif p.poll() is not None:
                break
        rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, out.decode(errors="replace").replace("\r\n", "\n")


def test_spec_rootless_runs_as_is(rl):
    """`spec --rootless` by the user, only process.args changed: container
    root is the user, through a one-line map; terminal as written (a pty)."""
    cfg = rl.spec()
    assert {"type": "user"} in cfg["linux"]["namespaces"]
    cfg["process"]["args"] = ["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                              "cat /proc/self/setgroups"]
    rl.write(cfg)
    cid = rl.new_id()
    rc, out = _run_on_pty(rl.argv("run", cid), rl.env(), rl.bundle)
    assert rc == 0, out
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0] == ["0"] and lines[1] == ["0"], out
    assert ["0", str(rl.user.uid), "1"] in lines, out
    assert ["0", str(rl.user.gid), "1"] in lines, out
    assert ["deny"] in lines, out
    assert not os.path.exists(os.path.join(rl.root, cid))


def test_lifecycle_as_user(rl):
    """run -d, state, list, kill, delete with the user's --root; nothing
    is left: state, process, cgroup."""
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sleep", "60"]
    rl.write(cfg)
    cid = rl.new_id()
    log = os.path.join(rl.top, "out")
    with open(log, "wb") as f:
        res = rl("run", "-d", cid, stdout=f, stderr=f)
    assert res.rc == 0, open(log).read()
    st = json.loads(rl("state", cid).out)
    assert st["status"] == "running"
    pid = st["pid"]
    with open("/proc/%d/uid_map" % pid) as f:
        assert f.read().split() == ["0", str(rl.user.uid), "1"]
    assert os.stat("/proc/%d" % pid).st_uid == rl.user.uid
    res = rl("list", "-q")
    assert res.rc == 0 and res.out.split() == [cid], res
    res = rl("exec", cid, "id", "-u")
    assert res.rc == 0 and res.out.strip() == "0", res
    res = rl("kill", cid, "KILL")
    assert res.rc == 0, res
    oci.wait_until(lambda: json.loads(rl("state", cid).out)["status"] == "stopped",
                   what="the container to stop")
    res = rl("delete", cid)
    assert res.rc == 0, res
    assert rl("list", "-q").out.split() == []
    assert not oci.pid_alive(pid)
    assert os.listdir(rl.root) in ([],) or all(n.startswith(".") for n in os.listdir(rl.root))
    assert _cgroup_dirs(cid) == []


def _range_config(rl):
    u = rl.user
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u.uid, "size": 1},
                                   {"containerID": 1, "hostID": u.base, "size": RANGE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": u.gid, "size": 1},
                                   {"containerID": 1, "hostID": u.base, "size": RANGE}]
    return cfg


def test_subuid_range_with_newuidmap(rl):
    """A map beyond the user's own id goes through newuidmap/newgidmap
    (ranges from /etc/subuid, /etc/subgid): a non-root container user."""
    cfg = _range_config(rl)
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["process"]["args"] = ["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"]
    rl.write(cfg)
    res = rl("run", rl.new_id())
    assert res.rc == 0, res
    lines = [line.split() for line in res.out.splitlines()]
    assert lines[0] == ["1000"] and lines[1] == ["1000"], res
    assert lines[2:] == [["0", str(rl.user.uid), "1"], ["1", str(rl.user.base), str(RANGE)],
                         ["0", str(rl.user.gid), "1"], ["1", str(rl.user.base), str(RANGE)]], res


@oci.runc_deviates("config.md process.user.additionalGids: runc 1.1.5 refuses any additional "
                   "group when rootless ('cannot set any additional groups in a rootless container'), "
                   "even with a gid range mapped by newgidmap")
def test_additional_gids_with_newgidmap(rl):
    """With gids mapped by newgidmap, setgroups stays allowed: additionalGids work."""
    cfg = _range_config(rl)
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [100]}
    cfg["process"]["args"] = ["id", "-G"]
    rl.write(cfg)
    res = rl("run", rl.new_id())
    assert res.rc == 0, res
    assert sorted(res.out.split()) == ["100", "1000"], res


def test_additional_gids_with_own_gid_only(rl):
    """With only the user's own gid mapped, setgroups is denied: an
    additionalGids entry is a clear error, and nothing is left behind."""
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [0]}
    cfg["process"]["args"] = ["true"]
    rl.write(cfg)
    cid = rl.new_id()
    res = rl("run", cid)
    assert res.rc != 0, res
    assert "additional" in res.err.lower(), res
    assert not os.path.exists(os.path.join(rl.root, cid))


def test_default_root_is_xdg_runtime_dir(rl):
    """Without --root, state lives under $XDG_RUNTIME_DIR (servin:
    servin/, runc: runc/)."""
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sleep", "60"]
    rl.write(cfg)
    cid = rl.new_id()
    with open(os.path.join(rl.top, "out"), "wb") as f:
        res = rl("run", "-d", cid, root=False, stdout=f, stderr=f)
    assert res.rc == 0, res
    sub = "runc" if oci.is_runc(rl.binary) else "servin"
    assert os.path.isdir(os.path.join(rl.xdg, sub, cid))
    res = rl("delete", "--force", cid, root=False)
    assert res.rc == 0, res
    assert not os.path.exists(os.path.join(rl.xdg, sub, cid))


def test_resources_without_delegation(rl):
    """linux.resources with no cgroup delegated: servin warns and runs
    without them (docs/runtime.md, Rootless)."""
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["linux"]["resources"] = {"pids": {"limit": 100}}
    rl.write(cfg)
    res = rl("run", rl.new_id())
    if oci.is_runc(rl.binary):
        assert res.rc != 0, res
        pytest.xfail("runc 1.1.5 fails: 'cannot set pids limit: container could not join or "
                     "create cgroup' (cgroup v1, nothing delegated)")
    assert res.rc == 0, res
    assert "linux.resources not applied" in res.err, res


def test_rlimit_above_current_is_a_clear_error(rl):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NOFILE hard limit is unlimited here")
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]
    rl.write(cfg)
    res = rl("run", rl.new_id())
    assert res.rc != 0
    if not oci.is_runc(rl.binary):
        assert "RLIMIT_NOFILE" in res.err and "rootless" in res.err, res


@pytest.mark.parametrize("netns", [True, False], ids=["netns", "host-net"])
def test_root_spec_with_a_user_namespace(rl, netns):
    """The root `spec` (sysfs, devpts gid=5, a device cgroup rule) plus a
    user namespace mapping the user's ids, run by the user: sysfs mounts
    in the container's own network namespace; without one, /sys is bound
    from the host instead."""
    cfg = oci.base_config(["sh", "-c", "id -u; grep -c . /proc/self/uid_map; ls /sys/kernel >/dev/null && echo sys"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    if not netns:
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
    for m in cfg["mounts"]:
        if m["destination"] == "/dev/pts":
            m["options"].remove("gid=5")    # gid 5 is not mapped
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": rl.user.uid, "size": 1}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": rl.user.gid, "size": 1}]
    rl.write(cfg)
    res = rl("run", rl.new_id())
    if oci.is_runc(rl.binary) and not netns and res.rc != 0:
        pytest.xfail("runc 1.1.5 does not fall back to binding /sys: %s" % res.err.strip()[-200:])
    assert res.rc == 0, res
    assert res.out.split() == ["0", "1", "sys"], res


def test_default_root_without_xdg_runtime_dir(rl):
    """XDG_RUNTIME_DIR unset: servin-runc keeps rootless state in
    /tmp/servin-<uid> (0700, the user's) and refuses one it does not own."""
    if oci.is_runc(rl.binary):
        pytest.skip("runc falls back to /run/runc, which tests must not touch")
    path = "/tmp/servin-%d" % rl.user.uid
    env = dict(rl.env())
    del env["XDG_RUNTIME_DIR"]
    if os.path.lexists(path):
        pytest.skip("%s exists already" % path)
    try:
        os.mkdir(path, 0o700)     # owned by root: refused
        p = subprocess.run(rl.argv("list", root=False), env=env, capture_output=True, text=True,
                           timeout=oci.COMMAND_TIMEOUT)
        assert p.returncode == 1 and path in p.stderr and "XDG_RUNTIME_DIR" in p.stderr, p
        os.rmdir(path)
        p = subprocess.run(rl.argv("list", root=False), env=env, capture_output=True, text=True,
                           timeout=oci.COMMAND_TIMEOUT)
        assert p.returncode == 0, p
        st = os.lstat(path)
        assert st.st_uid == rl.user.uid and st.st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _cgroup_mounts():
    seen, out = set(), []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _, opts = right.split()[:3]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            key = "2" if fstype == "cgroup2" else ",".join(
                o for o in opts.split(",") if o not in ("rw", "ro") and ("=" not in o or o.startswith("name=")))
            if key not in seen:
                seen.add(key)
                out.append(left.split()[4])
    return out


@pytest.fixture
def delegated(rl):
    """A cgroup subtree per hierarchy owned by the user (what systemd's
    Delegate=yes gives), with a leaf ``rt`` for the runtime itself: cgroup
    v2 lets a user move a process only below a common ancestor it owns."""
    top = "srvrl-%d" % os.getpid()
    made = []
    for mnt in _cgroup_mounts():
        for d in (os.path.join(mnt, top), os.path.join(mnt, top, "rt")):
            os.mkdir(d)
            made.append(d)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if os.path.exists(os.path.join(d, name)):
                    with open(os.path.join(os.path.dirname(d), name)) as src:
                        value = src.read().strip()
                    with open(os.path.join(d, name), "w") as dst:
                        dst.write(value)
            os.chown(d, rl.user.uid, rl.user.gid)
            for name in ("cgroup.procs", "tasks", "cgroup.subtree_control"):
                if os.path.exists(os.path.join(d, name)):
                    os.chown(os.path.join(d, name), rl.user.uid, rl.user.gid)
    leaves = [d for d in made if d.endswith("/rt")]

    def enter():
        for d in leaves:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    try:
        yield "/" + top, enter
    finally:
        leftovers = []
        for d in sorted(made, key=len, reverse=True):
            for sub in os.listdir(d):
                if os.path.isdir(os.path.join(d, sub)) and not sub == "rt":
                    leftovers.append(os.path.join(d, sub))
                    try:
                        os.rmdir(os.path.join(d, sub))
                    except OSError:
                        pass
            deadline = time.monotonic() + 5
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        leftovers.append(d)
                        break
                    time.sleep(0.02)
        assert not leftovers, "cgroups left behind: %s" % leftovers


def test_delegated_cgroups_are_used(rl, delegated):
    """With the cgroup tree delegated to the user, the container gets its
    cgroup there and linux.resources is applied; delete removes it."""
    parent, enter = delegated
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sleep", "60"]
    cfg["linux"]["cgroupsPath"] = parent + "/c1"
    cfg["linux"]["resources"] = {"pids": {"limit": 50}}
    rl.write(cfg)
    cid = rl.new_id()
    with open(os.path.join(rl.top, "out"), "wb") as f:
        p = subprocess.run(rl.argv("run", "-d", cid), cwd=rl.bundle, env=rl.env(), stdin=subprocess.DEVNULL,
                           stdout=f, stderr=f, preexec_fn=enter, timeout=oci.COMMAND_TIMEOUT)
    assert p.returncode == 0, open(os.path.join(rl.top, "out")).read()
    pid = json.loads(rl("state", cid).out)["pid"]
    with open("/proc/%d/cgroup" % pid) as f:
        mine = [line.rstrip("\n").split(":", 2) for line in f]
    assert all(path == parent + "/c1" for _, _, path in mine), mine
    with open("/sys/fs/cgroup/pids%s/c1/pids.max" % parent) as f:
        assert f.read().strip() == "50"
    res = rl("delete", "--force", cid)
    assert res.rc == 0, res
    assert not os.path.exists("/sys/fs/cgroup/pids%s/c1" % parent)


@pytest.mark.parametrize("value", [500, -100])
def test_oom_score_adj(rl, value):
    """Raising oom_score_adj works rootless; lowering it below the
    runtime's own needs CAP_SYS_RESOURCE: a clear error, nothing left."""
    with open("/proc/self/oom_score_adj") as f:
        if int(f.read()) > value and value >= 0:
            pytest.skip("this test process already has oom_score_adj above %d" % value)
    cfg = rl.spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["oomScoreAdj"] = value
    cfg["process"]["args"] = ["cat", "/proc/self/oom_score_adj"]
    rl.write(cfg)
    cid = rl.new_id()
    res = rl("run", cid)
    if value >= 0:
        assert res.rc == 0 and res.out.strip() == str(value), res
    else:
        assert res.rc != 0, res
        if not oci.is_runc(rl.binary):
            assert "oomScoreAdj" in res.err and "rootless" in res.err, res
    assert not os.path.exists(os.path.join(rl.root, cid))
