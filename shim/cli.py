"""``containerd-shim-servin-v2``: the runtime v2 shim binary.

containerd runs it as::

    containerd-shim-servin-v2 -namespace NS -address SOCK -publish-binary BIN \\
        -id ID [-bundle DIR] [-debug] start|delete

with the bundle as working directory and ``TTRPC_ADDRESS`` in the
environment.

- ``start`` starts (or, for containers of one pod, reuses) the long-lived
  shim, writes ``address`` in the bundle and prints ``unix://SOCKET``.
  Containers whose config.json carries the annotation
  ``io.kubernetes.cri.sandbox-id`` share the shim of that sandbox.
- ``delete`` cleans up after a shim that died: force-deletes the container
  in the runtime, unmounts the rootfs, prints a ``DeleteResponse``.
- ``-v`` prints the version; ``-info`` prints what the shim is, as JSON.

Every error ends here: one line on stderr, exit status 1.
"""
import os
import sys

__all__ = ["main"]

VERSION = "0.1.0"
NAME = "containerd-shim-servin-v2"
GROUP_ANNOTATIONS = ("io.kubernetes.cri.sandbox-id",)


class UsageError(Exception):
    pass


def parse(argv):
    """Go ``flag`` style: -name value, -name=value, --name, bool -debug."""
    flags = {"namespace": "", "address": "", "publish-binary": "", "id": "", "bundle": "",
             "socket": "", "debug": False, "v": False, "info": False}
    bools = {"debug", "v", "info"}
    action = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and a != "-":
            name = a.lstrip("-")
            value = None
            if "=" in name:
                name, value = name.split("=", 1)
            if name not in flags:
                raise UsageError(f"flag provided but not defined: -{name}")
            if name in bools:
                flags[name] = value is None or value.lower() in ("1", "true")
            else:
                if value is None:
                    i += 1
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: -{name}")
                    value = argv[i]
                flags[name] = value
        elif action is None:
            action = a
        else:
            raise UsageError(f"unexpected argument {a!r}")
        i += 1
    return flags, action


def socket_path(address, namespace, group):
    """The shim's socket: beside containerd's own socket, named by a hash.

    Like containerd's runc shim (``<state>/s/<sha256>``), but under the
    directory of the containerd socket in use, so a private containerd
    gets private shim sockets.  The hash is cut to 32 hex digits to stay
    well under the 108-byte limit of a unix socket path.
    """
    try:
        from _sha256 import sha256      # no OpenSSL load on the start path
    except ImportError:
        from hashlib import sha256
    d = os.path.join(os.path.dirname(os.path.abspath(address or "/run/containerd/x")), "s")
    h = sha256(f"{address}|{namespace}|{group}".encode()).hexdigest()[:32]
    return os.path.join(d, h)


def group_id(bundle, id):
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            raw = f.read()
    except OSError:
        return id
    if not any(k.encode() in raw for k in GROUP_ANNOTATIONS):
        return id                       # the common case: no JSON parsing
    import json
    try:
        ann = json.loads(raw).get("annotations") or {}
    except ValueError:
        return id
    for key in GROUP_ANNOTATIONS:
        if ann.get(key):
            return ann[key]
    return id


def _alive(path):
    import _socket as socket     # the C module: socket.py imports enum, selectors (~5 ms)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def action_start(flags):
    import _socket as socket     # the C module: socket.py imports enum, selectors (~5 ms)
    bundle = flags["bundle"] or os.getcwd()
    id = flags["id"]
    if not id:
        raise UsageError("-id is required")
    path = socket_path(flags["address"], flags["namespace"], group_id(bundle, id))
    address = "unix://" + path
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    if os.path.exists(path):
        if _alive(path):
            # The pod's shim is already there: share it.
            _write_file(os.path.join(bundle, "address"), address)
            sys.stdout.write(address)
            return 0
        os.unlink(path)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    os.chmod(path, 0o600)
    lsock.listen(128)
    if os.path.abspath(os.getcwd()) != os.path.abspath(bundle):
        os.chdir(bundle)
    if sys.flags.no_site and sys.flags.isolated:
        pid = _fork_daemon(lsock, flags, path)
    else:
        pid = _spawn_daemon(lsock, flags, path)
    lsock.close()
    _write_file(os.path.join(bundle, "shim.pid"), str(pid))
    _write_file(os.path.join(bundle, "address"), address)
    sys.stdout.write(address)
    sys.stdout.flush()
    return 0


def _daemon_args(lsock, flags, path):
    return (lsock.fileno(), flags["namespace"], flags["address"], flags["publish-binary"], path,
            bool(flags["debug"]))


def _fork_daemon(lsock, flags, path):
    """The long-lived shim as a fork of this process.

    Only when this process is lean — started by the shim's own launcher
    (python -I -S: no site, no .pth files, no console-script ``re``) — so
    the daemon carries nothing it would not import itself, and saves an
    interpreter start (~8 ms of every container's start).  The child is in
    its own session with stdio on /dev/null (containerd reads the bundle's
    log FIFO instead); it is never waited for: it outlives us.
    """
    args = _daemon_args(lsock, flags, path)
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        _few_arenas()
        from ._daemon import run
        run(*args)
    finally:
        os._exit(1)


def _few_arenas():
    """mallopt(M_ARENA_MAX, 1): the shim's threads mostly wait; each arena costs RSS.
    (MALLOC_ARENA_MAX in the environment is read at the first malloc: too late here.)"""
    try:
        import ctypes
        ctypes.CDLL(None).mallopt(-8, 1)        # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _spawn_daemon(lsock, flags, path):
    """The long-lived shim as a new ``python -S`` (no site: it carries only
    what it imports), for a start run through pip's console-script wrapper."""
    import servin.shim
    paths = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(servin.shim.__file__))))]
    env = dict(os.environ)
    # Few malloc arenas: the shim's threads mostly wait; each arena costs RSS.
    env.setdefault("MALLOC_ARENA_MAX", "1")
    env["PYTHONPATH"] = os.pathsep.join(paths + [x for x in env.get("PYTHONPATH", "").split(os.pathsep) if x])
    code = ("import sys; from servin.shim._daemon import run; "
            "run(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] == '1')")
    fd, ns, address, publish, path, debug = _daemon_args(lsock, flags, path)
    args = [sys.executable, "-S", "-c", code, str(fd), ns, address, publish, path, "1" if debug else "0"]
    devnull = os.open(os.devnull, os.O_RDWR)
    os.set_inheritable(fd, True)
    # The shim's own session; stdio on /dev/null (containerd reads the
    # bundle's log FIFO instead).  Never waited: it outlives us.
    pid = os.posix_spawn(sys.executable, args, env, setsid=True, setsigmask=(),
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                       (os.POSIX_SPAWN_DUP2, devnull, 1),
                                       (os.POSIX_SPAWN_DUP2, devnull, 2)])
    os.close(devnull)
    return pid


def action_delete(flags):
    import time
    from ._bundle import read_runtime_config
    from ._messages import DeleteResponse
    bundle = flags["bundle"] or os.getcwd()
    id = flags["id"]
    conf = read_runtime_config(bundle)
    # Only what is left: a runtime state dir for the id, a mount on rootfs.
    if conf.get("binary") and os.path.exists(os.path.join(conf.get("root", ""), id)):
        from ._errors import ShimError
        from ._reaper import Reaper
        from ._runtime import make_runtime
        rt = make_runtime(conf["binary"], conf["root"], Reaper(),
                          log_path=os.path.join(bundle, "log.json"))
        try:
            rt.delete(id, force=True)
        except ShimError as e:
            sys.stderr.write(f"{NAME}: delete: {e}\n")
    rootfs = os.path.join(bundle, "rootfs")
    if os.path.ismount(rootfs):
        from . import _mount
        try:
            _mount.unmount_all(rootfs)
        except OSError as e:
            sys.stderr.write(f"{NAME}: delete: {e}\n")
    r = DeleteResponse(exit_status=128 + 9)
    r.exited_at.FromNanoseconds(time.time_ns())
    sys.stdout.buffer.write(r.SerializeToString())
    sys.stdout.flush()
    return 0


def action_info():
    import json
    print(json.dumps({"name": NAME, "version": VERSION,
                      "runtime_default": os.environ.get("SERVIN_SHIM_RUNTIME",
                                                        "servin-runc|servin.runtime (in-process, once "
                                                        "servin-runc reports it)|runc"),
                      "features": ["task-api-v2", "in-process-runtime", "tty", "exec", "pause",
                                   "stats-cgroup-v1",
                                   "stats-cgroup-v2", "oom-events", "pod-grouping"],
                      "not_implemented": ["Checkpoint"]}, indent=2))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, action = parse(argv)
        if flags["v"]:
            print(f"{NAME}:\n  Version:  {VERSION}\n  Python:   {sys.version.split()[0]}")
            return 0
        if flags["info"]:
            return action_info()
        if action == "start":
            return action_start(flags)
        if action == "delete":
            return action_delete(flags)
        raise UsageError(f"unknown action {action!r} (start or delete)" if action
                         else "an action is required: start or delete")
    except UsageError as e:
        sys.stderr.write(f"{NAME}: {e}\n")
        return 2
    except Exception as e:
        sys.stderr.write(f"{NAME}: {e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
