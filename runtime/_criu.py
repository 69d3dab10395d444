"""checkpoint and restore through CRIU's command line (runc's commands of
the same names and flags).

CRIU is run as a program (``criu dump|pre-dump|restore ...``), not through
its RPC (``criu swrk`` + rpc.proto): the command line needs no generated
protobuf module and no socket protocol, every option runc sets over RPC has
a documented command-line twin, and the failure is the same either way -- an
exit status and a log file.  What only RPC gives (notifications in the
middle of a restore, the orphan pts master passed back as an fd) is done
differently here: the terminal is made external at dump and a new pty is
inherited at restore (criu.org "Inheriting FDs on restore", external TTYs).

The pure half -- option validation (CriuOptions.from_values), the criu
command lines (dump_argv, restore_argv), the external mounts and stdio keys
-- is unit-tested without root.  The other half runs criu:

    checkpoint(root, cid, opts)   images + descriptors.json + config.json +
                                  servin-checkpoint.json into --image-path;
                                  the container is destroyed after a full
                                  dump (not with --leave-running/--pre-dump)
    restore(root, cid, bundle, opts, ...)
                                  state dir + cgroups, the rootfs bound on
                                  <state>/criu-root, criu restore, state.json
                                  with the restored init's pid + start time

Errors (documented where the tree is, _errors.py; these add one class):

    CriuError(ServinError)        criu is missing, or exited non-zero; the
                                  message is one line with criu's exit status,
                                  the last error line of its log and the log
                                  path (.log)
"""
import json
import os
import shutil
import subprocess

from . import _state
from ._errors import ConfigError, InvalidState, ServinError

CGROUP_MODES = ("soft", "full", "strict", "ignore")
EMPTY_NS = {"network": "net"}     # runc accepts only the network namespace
NET_KEY = "extRootNetNS"          # runc's key for a joined network namespace
META = "servin-checkpoint.json"
DESCRIPTORS = "descriptors.json"


class CriuError(ServinError):
    """criu is not installed, or criu dump/restore failed (see .log)."""

    def __init__(self, msg, log=None):
        super().__init__(msg)
        self.log = log


# -- options (pure) -----------------------------------------------------

class CriuOptions:
    """The flags of runc checkpoint / restore, validated."""

    FIELDS = dict(image_path=None, work_path=None, parent_path=None, leave_running=False,
                  tcp_established=False, ext_unix_sk=False, shell_job=False, lazy_pages=False,
                  status_fd=-1, page_server=None, file_locks=False, pre_dump=False,
                  manage_cgroups_mode="soft", empty_ns=(), auto_dedup=False,
                  lsm_profile=None, lsm_mount_context=None)

    def __init__(self, **kw):
        for k, v in self.FIELDS.items():
            setattr(self, k, kw.pop(k, v))
        if kw:
            raise TypeError(f"unknown criu options {sorted(kw)}")

    @classmethod
    def from_values(cls, v):
        """From the CLI's parsed values; raises ConfigError naming the flag."""
        kw = {k: v[k] for k in cls.FIELDS if k in v and v[k] is not None}
        mode = kw.get("manage_cgroups_mode") or "soft"
        if mode not in CGROUP_MODES:
            raise ConfigError(f"--manage-cgroups-mode {mode!r}: must be one of {'|'.join(CGROUP_MODES)}")
        kw["manage_cgroups_mode"] = mode
        sfd = kw.get("status_fd", -1)
        try:
            kw["status_fd"] = int(sfd)
        except (TypeError, ValueError):
            raise ConfigError(f"--status-fd {sfd!r}: not an integer") from None
        ps = kw.get("page_server")
        if ps:
            addr, _, port = ps.rpartition(":")
            addr = addr[1:-1] if addr.startswith("[") and addr.endswith("]") else addr
            if not addr or not port:
                raise ConfigError(f"--page-server {ps!r}: use ADDRESS:PORT")
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"--page-server {ps!r}: invalid port number {port!r}")
            kw["page_server"] = (addr, int(port))
        empty = []
        for ns in kw.get("empty_ns") or ():
            if ns not in EMPTY_NS:
                raise ConfigError(f"--empty-ns {ns!r}: namespace is not supported (only network)")
            empty.append(ns)
        kw["empty_ns"] = tuple(empty)
        if kw.get("parent_path") and os.path.isabs(kw["parent_path"]):
            raise ConfigError(f"--parent-path {kw['parent_path']!r}: must be relative (to --image-path)")
        if kw.get("lsm_profile") and ":" not in kw["lsm_profile"]:
            raise ConfigError(f"--lsm-profile {kw['lsm_profile']!r}: use TYPE:NAME (apparmor:... or selinux:...)")
        return cls(**kw)


def default_image_path():
    """runc: ./checkpoint under the current directory."""
    return os.path.join(os.getcwd(), "checkpoint")


# -- the container's outside world as criu keys (pure) ------------------

def external_mounts(mounts, masked, is_file):
    """(dest, source) of every mount CRIU must not dump: bind mounts
    (their source is the host's) and masked files (bound from /dev/null).
    ``mounts`` are config.json mounts, ``masked`` linux.maskedPaths and
    ``is_file(path)`` says whether a masked path is a file in the
    container (a masked directory is a read-only tmpfs, dumped as is)."""
    out = []
    for m in mounts or ():
        opts = m.get("options") or ()
        if m.get("type") == "bind" or "bind" in opts or "rbind" in opts:
            dest = m.get("destination", "")
            dest = dest if dest.startswith("/") else "/" + dest
            out.append((os.path.normpath(dest), m.get("source", "")))
    for p in masked or ():
        if is_file(p):
            out.append((os.path.normpath(p), "/dev/null"))
    return out


def stdio_keys(fds):
    """fds: [(fd, readlink, st_mode, st_rdev, st_dev, mnt_id, st_ino)] of
    the init's stdio -> (dump externals, [(fd, restore key)]).

    A tty is made external (tty[rdev:dev]) and a new pty is inherited at
    restore; a pipe or socket (runc's descriptors.json) is inherited by its
    readlink name; any other file (a host file the runtime's caller gave,
    outside the container's mounts) is external as file[mnt_id:inode]."""
    import stat
    ext, keys = [], []
    for fd, link, mode, rdev, dev, mnt_id, ino in fds:
        if link.startswith("pipe:") or link.startswith("socket:"):
            keys.append((fd, link))
        elif stat.S_ISCHR(mode) and os.major(rdev) in (4, 5, 136, 137, 138, 139, 140, 141, 142, 143):
            key = "tty[%x:%x]" % (rdev, dev)
            if key not in ext:
                ext.append(key)
            keys.append((fd, key))
        elif mnt_id is not None:
            key = "file[%x:%x]" % (mnt_id, ino)
            if key not in ext:
                ext.append(key)
            keys.append((fd, key))
    return ext, keys


# -- command lines (pure) -------------------------------------------------

def _common(o, argv):
    if o.tcp_established:
        argv.append("--tcp-established")
    if o.ext_unix_sk:
        argv.append("--ext-unix-sk")
    if o.shell_job:
        argv.append("--shell-job")
    if o.file_locks:
        argv.append("--file-locks")
    if o.auto_dedup:
        argv.append("--auto-dedup")
    if o.lazy_pages:
        argv.append("--lazy-pages")


def dump_argv(criu, o, pid, images, work, rootfs, *, ext_mounts=(), externals=(), freezer=None,
              empty_net=False, net_ino=None):
    """criu dump (or pre-dump) of the tree under pid."""
    argv = [criu, "pre-dump" if o.pre_dump else "dump", "--tree", str(pid),
            "--images-dir", images, "--work-dir", work, "--log-file", "dump.log", "-v4",
            "--root", rootfs, "--manage-cgroups=" + o.manage_cgroups_mode]
    if freezer:
        argv += ["--freeze-cgroup", freezer]
    if o.leave_running and not o.pre_dump:
        argv.append("--leave-running")
    _common(o, argv)
    if o.status_fd >= 0:
        argv += ["--status-fd", str(o.status_fd)]
    if o.page_server:
        argv += ["--page-server", "--address", o.page_server[0], "--port", str(o.page_server[1])]
    if o.pre_dump or o.parent_path:
        argv.append("--track-mem")
    if o.parent_path:
        argv += ["--prev-images-dir", o.parent_path]
    for dest, _src in ext_mounts:
        argv += ["--external", f"mnt[{dest}]:{dest}"]
    for key in externals:
        argv += ["--external", key]
    if net_ino is not None:
        argv += ["--external", f"net[{net_ino}]:{NET_KEY}"]
    if empty_net or "network" in o.empty_ns:
        argv += ["--empty-ns", "net"]
    return argv


def restore_argv(criu, o, images, work, criu_root, pidfile, *, ext_mounts=(), inherit=(),
                 cgroup_roots=(), empty_net=False):
    """criu restore into criu_root; the restored init is our child
    (--restore-sibling) and criu returns once it runs (--restore-detached)."""
    argv = [criu, "restore", "--images-dir", images, "--work-dir", work, "--log-file", "restore.log",
            "-v4", "--root", criu_root, "--restore-detached", "--restore-sibling", "--pidfile", pidfile,
            "--manage-cgroups=" + o.manage_cgroups_mode]
    for ctrl, path in cgroup_roots:
        argv += ["--cgroup-root", f"{ctrl}:{path}" if ctrl else path]
    _common(o, argv)
    if o.lsm_profile:
        argv += ["--lsm-profile", o.lsm_profile]
    if o.lsm_mount_context:
        argv += ["--lsm-mount-context", o.lsm_mount_context]
    for dest, src in ext_mounts:
        argv += ["--external", f"mnt[{dest}]:{src}"]
    for fd, key in inherit:
        argv += ["--inherit-fd", f"fd[{fd}]:{key}"]
    if empty_net or "network" in o.empty_ns:
        argv += ["--empty-ns", "net"]
    return argv


def last_error(log_text):
    """The last error line of a criu log, without the timestamp; else its
    last line."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln.split(":", 1)[0]:
            break
    else:
        ln = lines[-1] if lines else ""
    if ln.startswith("(") and ")" in ln:
        ln = ln[ln.index(")") + 1:].strip()
    return ln


def failure_message(op, exit_code, log_path):
    try:
        with open(log_path, errors="replace") as f:
            why = last_error(f.read())
    except OSError:
        why = ""
    why = why or "no log"
    return f"{op}: criu {'dump' if op == 'checkpoint' else 'restore'} failed (exit {exit_code}): {why} (log: {log_path})"


# -- running criu -------------------------------------------------------

def find_criu(path=None):
    """The criu binary: runc's global --criu PATH, else criu on PATH."""
    if path:
        found = shutil.which(path) if os.sep not in path else path
        if found and os.access(found, os.X_OK) and os.path.isfile(found):
            return found
        raise CriuError(f"--criu {path}: not an executable")
    for c in (shutil.which("criu"), "/usr/sbin/criu", "/sbin/criu"):
        if c and os.access(c, os.X_OK):
            return c
    raise CriuError("criu not found: checkpoint/restore need CRIU (apt install criu)")


def _run_criu(op, argv, log_path, pass_fds=()):
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, pass_fds=tuple(pass_fds), check=False)
    except OSError as e:
        raise CriuError(f"{op}: run {argv[0]}: {e.strerror}") from None
    if proc.returncode != 0:
        if not os.path.exists(log_path) and proc.stderr.strip():
            why = last_error(proc.stderr.decode(errors="replace"))
            raise CriuError(f"{op}: criu {argv[1]} failed (exit {proc.returncode}): {why}", log_path)
        raise CriuError(failure_message(op, proc.returncode, log_path), log_path)


def _fd_info(pid, fd):
    path = f"/proc/{pid}/fd/{fd}"
    try:
        link = os.readlink(path)
        st = os.stat(path)
    except OSError:
        return None
    mnt_id = None
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("mnt_id:"):
                    mnt_id = int(line.split()[1])
    except OSError:
        pass
    return (fd, link, st.st_mode, st.st_rdev, st.st_dev, mnt_id, st.st_ino)


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.rename(tmp, path)


def _load_bundle_config(bundle):
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            raw = f.read()
        return raw, json.loads(raw)
    except (OSError, ValueError) as e:
        raise ConfigError(f"bundle {bundle}: config.json: {e}") from None


def _check_joined_namespaces(namespaces):
    for t, path in (namespaces or {}).items():
        if path and t != "network":
            raise ConfigError(f"linux.namespaces: the container joins the {t} namespace {path}; "
                              "checkpoint/restore support only a joined network namespace")


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


def checkpoint(root, cid, o, criu=None):
    """Dump the container's processes into o.image_path (made if missing).
    A criu failure leaves the container as it was (criu resumes it)."""
    from ._container import destroy
    c = _state.Container(root, cid)
    with c:
        c.load()
        status = c.status()
        if status not in (_state.RUNNING, _state.PAUSED):
            raise InvalidState(f"container {cid}: cannot checkpoint a container that is {status}")
        criu = find_criu(criu)
        if o.status_fd >= 0:
            try:
                os.fstat(o.status_fd)
            except OSError as e:
                raise ConfigError(f"--status-fd {o.status_fd}: {e.strerror}") from None
        d = c.data
        images = os.path.abspath(o.image_path or default_image_path())
        try:
            os.makedirs(images, 0o700, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--image-path {images}: {e.strerror}") from None
        if o.parent_path:
            real = os.path.join(images, o.parent_path)
            if not os.path.isdir(real):
                raise ConfigError(f"--parent-path {o.parent_path!r}: {real} is not a directory")
        work = os.path.abspath(o.work_path) if o.work_path else images
        os.makedirs(work, 0o700, exist_ok=True)
        raw, cfg = _load_bundle_config(d["bundle"])
        namespaces = d.get("namespaces") or {}
        _check_joined_namespaces(namespaces)
        pid = d["pid"]
        linux = cfg.get("linux") or {}

        def is_file(p):
            q = f"/proc/{pid}/root{p}"
            return os.path.exists(q) and not os.path.isdir(q)
        ext_mounts = [(dst, src) for dst, src in external_mounts(cfg.get("mounts"), linux.get("maskedPaths"), is_file)]
        fds = [i for i in (_fd_info(pid, n) for n in (0, 1, 2)) if i]
        externals, keys = stdio_keys(fds)
        net_ino = None
        if namespaces.get("network"):
            net_ino = os.stat(f"/proc/{pid}/ns/net").st_ino
        empty_net = "network" in namespaces and not namespaces.get("network")
        cg = d.get("cgroups") or {}
        freezer = os.path.dirname(d["freezer"]) if d.get("freezer") else None
        # beside the images, what restore needs (runc writes descriptors.json)
        _write_json(os.path.join(images, DESCRIPTORS), [f[1] for f in fds])
        with open(os.path.join(images, "config.json"), "wb") as f:
            f.write(raw)
        _write_json(os.path.join(images, META), {
            "id": cid, "bundle": d["bundle"], "rootfs": d.get("rootfs", ""), "pid": pid,
            "ext_mounts": ext_mounts, "stdio": keys, "net": NET_KEY if net_ino else None,
            "empty_net": empty_net, "cgroups_path": cg.get("path", ""),
            "terminal": bool((cfg.get("process") or {}).get("terminal")),
        })
        argv = dump_argv(criu, o, pid, images, work, d.get("rootfs") or "/", ext_mounts=ext_mounts,
                         externals=externals, freezer=freezer, empty_net=empty_net, net_ino=net_ino)
        pass_fds = [o.status_fd] if o.status_fd >= 0 else []
        _run_criu("checkpoint", argv, os.path.join(work, "dump.log"), pass_fds)
        if not (o.leave_running or o.pre_dump):
            destroy(c)       # runc: the container is gone after a full dump
    return images


def _read_meta(images):
    if not os.path.isdir(images):
        raise ConfigError(f"--image-path {images}: no such directory")
    if not os.path.exists(os.path.join(images, "inventory.img")):
        raise ConfigError(f"--image-path {images}: not a checkpoint (no inventory.img)")
    try:
        with open(os.path.join(images, META)) as f:
            return json.load(f)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        raise ConfigError(f"--image-path {images}: {META}: {e}") from None
    # images from runc: descriptors.json only
    meta = {"stdio": [], "ext_mounts": None}
    try:
        with open(os.path.join(images, DESCRIPTORS)) as f:
            meta["stdio"] = [(i, k) for i, k in enumerate(json.load(f))
                             if k.startswith("pipe:") or k.startswith("socket:")]
    except (OSError, ValueError):
        pass
    return meta


def cgroup_roots(cg):
    """--cgroup-root values that put the restored tasks into the
    container's cgroups: one path when every hierarchy has the same."""
    roots = []
    for h in cg.hs:
        d = cg.dirs.get(h.dirname)
        if not d:
            continue
        rel = os.path.relpath(d, h.mountpoint)
        path = os.path.normpath(os.path.join(h.root, rel))
        roots.append(("" if h.version == 2 else h.name, path))
    paths = {p for _, p in roots}
    if len(paths) == 1:
        return [("", paths.pop())]
    return roots


def restore(root, cid, bundle, o, *, console_socket=None, pid_file=None, detach=False,
            no_subreaper=False, criu=None):
    """Restore a container from o.image_path; returns the exit status
    (0 when detached).  On failure nothing is left: state dir, cgroups,
    the rootfs bind, processes."""
    from . import _container, _plan
    _state.validate_id(cid)
    images = os.path.abspath(o.image_path or default_image_path())
    meta = _read_meta(images)
    criu = find_criu(criu)
    bundle = os.path.abspath(bundle or ".")
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle}: not a directory")
    cfg = _plan.load_config(bundle)
    plan = _plan.build(cfg, bundle, cid, seccomp_cache=os.path.join(root, ".seccomp-cache"))
    plan.close_fds()
    _check_joined_namespaces(plan.namespaces)
    if plan.terminal and not console_socket:
        raise ConfigError("process.terminal is true: --console-socket is required to restore it")
    if console_socket and not plan.terminal:
        raise ConfigError("--console-socket given but process.terminal is false")
    if pid_file and os.path.isdir(pid_file):
        raise ConfigError(f"--pid-file {pid_file}: is a directory")
    if not detach and not no_subreaper:
        _container._native().set_subreaper()

    ext_mounts = meta.get("ext_mounts")
    if ext_mounts is None:
        ext_mounts = external_mounts(cfg.get("mounts"), (cfg.get("linux") or {}).get("maskedPaths"),
                                     lambda p: not os.path.isdir(os.path.join(plan.rootfs, p.lstrip("/"))))
    work = os.path.abspath(o.work_path) if o.work_path else images
    container = _state.Container.make(root, cid)
    criu_root = os.path.join(container.dir, "criu-root")
    mounted = False
    opened = []
    pid = -1
    cg = None
    try:
        from ._cgroups import manager_for
        cg = manager_for(plan.cgroups_path, cid)
        cg.create()
        cg.apply(plan.resources)
        os.mkdir(criu_root, 0o700)
        _container._native().bind_mount(plan.rootfs, criu_root)
        mounted = True
        inherit = []
        for fd, key in meta.get("stdio") or ():
            if key.startswith("tty["):
                continue
            inherit.append((fd, key))
        tty_keys = sorted({k for _, k in meta.get("stdio") or () if k.startswith("tty[")})
        master = -1
        if tty_keys:
            master, slave = os.openpty()
            opened += [master, slave]
            inherit += [(slave, k) for k in tty_keys]
        if meta.get("net"):
            path = plan.namespaces.get("network")
            if not path:
                raise ConfigError("the checkpoint joined an existing network namespace: "
                                  "linux.namespaces needs a network entry with a path to restore it")
            nfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened.append(nfd)
            inherit.append((nfd, meta["net"]))
        os.makedirs(work, 0o700, exist_ok=True)
        pidfile = os.path.join(container.dir, "criu.pid")
        argv = restore_argv(criu, o, images, work, criu_root, pidfile, ext_mounts=ext_mounts,
                            inherit=inherit, cgroup_roots=cgroup_roots(cg),
                            empty_net=bool(meta.get("empty_net")))
        pass_fds = [fd for fd, _ in inherit if fd > 2]
        _run_criu("restore", argv, os.path.join(work, "restore.log"), pass_fds)
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.unlink(pidfile)
        start_time, _ = _state.proc_start_time(pid)
        if start_time is None:
            raise CriuError(f"restore: the restored init {pid} is gone")
        if o.manage_cgroups_mode == "ignore":
            # criu left the tasks in its own (our) cgroups
            for p in _descendants(pid):
                cg.add(p)
        if master >= 0 and console_socket:
            _send_console(console_socket, master)
        data = {
            "ociVersion": cfg.get("ociVersion", _container.OCI_VERSION),
            "id": cid, "pid": pid, "init_start": start_time, "bundle": bundle,
            "rootfs": plan.rootfs, "created": _container._now(), "owner": "",
            "annotations": plan.annotations, "creating": False, "cgroups": cg.to_state(),
            "freezer": cg.freezer_state_file(),
            "hooks": {k: plan.hooks[k] for k in ("poststart", "poststop") if k in plan.hooks},
            "namespaces": dict(plan.namespaces), "net_devices": {}, "restored": images,
        }
        container.save(data)
        if pid_file:
            _container._write_pid_file(pid_file, pid)
    except BaseException:
        for fd in opened:
            os.close(fd)
        opened = []
        if mounted:
            _umount(criu_root)
            mounted = False
        _rmdir(criu_root)
        _container._abort(container, pid, -1, cg)
        raise
    finally:
        for fd in opened:
            os.close(fd)
        if mounted:
            _umount(criu_root)
            _rmdir(criu_root)
    if detach:
        container.unlock()
        return 0
    container.unlock()

    class _Fg:
        pass
    fg = _Fg()
    fg.pid, fg.pty = pid, -1
    code = _container._wait_foreground(fg)
    with container:
        container.load()
        _container.destroy(container)
    return code


def _umount(path):
    from servin import _native
    try:
        _native.umount(path)
    except OSError:
        pass


def _rmdir(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


def _send_console(path, master):
    import array
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        s.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [master]))])
    except OSError as e:
        raise ConfigError(f"--console-socket {path}: {e.strerror}") from None
    finally:
        s.close()
