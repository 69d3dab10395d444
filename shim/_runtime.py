"""The seam between the shim and the low-level OCI runtime.

:class:`OCIRuntime` is the one interface the shim's process layer drives
(STYLE.md item 11).  :class:`RuntimeBinary` implements it by running a
runc-compatible binary (runc, crun, servin-runc ...) with its own private
``--root``; the in-process implementation over the ``servin.runtime``
library (:mod:`._inproc`) provides the same methods; :func:`make_runtime`
picks one.

Errors: every failed call raises :class:`~servin.shim._errors.RuntimeFailed`
whose message is the runtime's last ``"level":"error"`` JSON log line (what
containerd's runc shim reports too) or, failing that, its stderr.
"""
import os

from ._errors import NotFound, RuntimeFailed

__all__ = ["OCIRuntime", "RuntimeBinary", "make_runtime", "default_binary"]


class OCIRuntime:
    """What the shim needs from a low-level runtime.  ``stdio`` is a tuple of
    three fds (or None each) to hand the process; ``console_socket`` the path
    of a unix socket that receives the pty master when a terminal is asked.
    """

    name = "abstract"

    def create(self, id, bundle, pid_file, stdio, console_socket=None, no_pivot=False,
               no_new_keyring=False):
        raise NotImplementedError

    def start(self, id):
        raise NotImplementedError

    def exec(self, id, process_json_path, pid_file, stdio, console_socket=None):
        """Start an extra process in the container, detached."""
        raise NotImplementedError

    def kill(self, id, signal, all=False):
        raise NotImplementedError

    def pause(self, id):
        raise NotImplementedError

    def resume(self, id):
        raise NotImplementedError

    def delete(self, id, force=False):
        raise NotImplementedError

    def ps(self, id):
        """Pids of the container's processes."""
        raise NotImplementedError

    def state(self, id):
        """The runtime's state.json as a dict."""
        raise NotImplementedError

    def update(self, id, resources_json_path):
        raise NotImplementedError


# A runtime call that takes longer is killed and fails (never hang the shim).
TIMEOUT = 60.0


class RuntimeBinary(OCIRuntime):
    def __init__(self, binary, root, reaper, log_path=None, extra_global=()):
        self.binary = binary
        self.name = os.path.basename(binary)
        self.root = root
        self.reaper = reaper
        self.log_path = log_path
        self.extra_global = list(extra_global)

    def _args(self, *args):
        g = [self.binary, "--root", self.root]
        if self.log_path:
            g += ["--log", self.log_path, "--log-format", "json"]
        return g + self.extra_global + list(args)

    def _run(self, *args, stdio=None, timeout=TIMEOUT):
        try:
            if stdio is not None:
                code, out, err = self.reaper.run(self._args(*args), stdin=stdio[0],
                                                 stdout=stdio[1], stderr=stdio[2],
                                                 timeout=timeout)
            else:
                code, out, err = self.reaper.run(self._args(*args), capture=True,
                                                 timeout=timeout)
        except TimeoutError as e:
            raise RuntimeFailed(f"{self.name} {args[0]}: {e}") from None
        except OSError as e:
            raise RuntimeFailed(f"{self.name} {args[0]}: cannot run {self.binary}: {e}") from None
        if code != 0:
            msg = self._last_error() or err.decode(errors="replace").strip() \
                or f"{self.name} {args[0]} exited with status {code}"
            low = msg.lower()
            if "does not exist" in low or "not found" in low and "container" in low:
                raise NotFound(f"{self.name} {args[0]}: {msg}")
            raise RuntimeFailed(f"{self.name} {args[0]} failed: {msg}")
        return out

    def _last_error(self):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 16384))
                lines = f.read().splitlines()
        except OSError:
            return ""
        import json
        for line in reversed(lines):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("level") == "error":
                return str(rec.get("msg", ""))
        return ""

    def create(self, id, bundle, pid_file, stdio, console_socket=None, no_pivot=False,
               no_new_keyring=False):
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        if no_pivot:
            args.append("--no-pivot")
        if no_new_keyring:
            args.append("--no-new-keyring")
        self._run(*args, id, stdio=_fds(stdio))

    def start(self, id):
        self._run("start", id)

    def exec(self, id, process_json_path, pid_file, stdio, console_socket=None):
        args = ["exec", "--detach", "--process", process_json_path, "--pid-file", pid_file]
        if console_socket:
            args += ["--tty", "--console-socket", console_socket]
        self._run(*args, id, stdio=_fds(stdio))

    def kill(self, id, signal, all=False):
        args = ["kill"]
        if all:
            args.append("--all")
        self._run(*args, id, str(signal))

    def pause(self, id):
        self._run("pause", id)

    def resume(self, id):
        self._run("resume", id)

    def delete(self, id, force=False):
        args = ["delete"]
        if force:
            args.append("--force")
        self._run(*args, id)

    def ps(self, id):
        out = self._run("ps", "--format", "json", id)     # e.g. [1234,1240] or null
        return [int(p) for p in out.strip(b"[]null \n").split(b",") if p.strip()]

    def state(self, id):
        import json
        return json.loads(self._run("state", id))

    def update(self, id, resources_json_path):
        self._run("update", "--resources", resources_json_path, id)


def _fds(stdio):
    # None means /dev/null for the process (never the shim's own stdio).
    if stdio is None:
        return (None, None, None)
    return tuple(stdio)


SHIM_READY = "io.github.servin.containerd-shim"
# servin-runc's statement that its library may run inside the (threaded)
# shim: the C child forked from a threaded process must use raw syscalls
# only (glibc's setuid/setgid/setgroups wrappers wait for the parent's
# threads and can hang there).
IN_PROCESS_READY = "io.github.servin.shim-in-process"

# The runtime commands the shim's process layer runs (OCIRuntime's methods).
SHIM_NEEDS = ("create", "start", "state", "kill", "delete", "exec", "pause", "resume", "ps",
              "update")


def default_binary(reaper, cache_dir=None, in_process=None):
    """The runtime used when no option names one.

    ``$SERVIN_SHIM_RUNTIME`` if set; else, if ``servin-runc`` is on PATH and
    works for the shim, servin's runtime: in-process (``servin.runtime``,
    the library servin-runc runs, called by the shim itself) when its
    features also say ``IN_PROCESS_READY: "supported"`` and the shim can
    import the library, else the ``servin-runc`` binary; else ``runc``.
    Features are reported, not guessed (STYLE.md item 13): servin-runc must
    answer ``features`` (valid JSON, in time) and either say so in its
    annotations (``SHIM_READY: "supported"``) or list every command of
    :data:`SHIM_NEEDS` in ``--help``; ``SHIM_READY: "unsupported"`` rules it
    out.  The answer for one servin-runc build (path, size, mtime) is cached
    in ``cache_dir``, so only a shim's first container pays for the probe.
    ``in_process`` (None: when importable) is for tests.
    """
    env = os.environ.get("SERVIN_SHIM_RUNTIME")
    if env:
        return env
    path = _which("servin-runc")
    if path is None:
        return "runc"
    try:
        st = os.stat(path)
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return "runc"
    cache = os.path.join(cache_dir, "default-runtime") if cache_dir else None
    if cache:
        try:
            with open(cache) as f:
                k, _, v = f.read().partition("\n")
            if k == key:
                return v.strip() or "runc"
        except OSError:
            pass
    choice = "runc"
    ok, ann = _probe(path, reaper)
    if ok:
        if in_process is None:
            in_process = ann.get(IN_PROCESS_READY) == "supported" and _library_importable()
        choice = "servin.runtime" if in_process else path
    if cache:
        try:
            with open(cache + ".tmp", "w") as f:
                f.write(f"{key}\n{choice}\n")
            os.rename(cache + ".tmp", cache)
        except OSError:
            pass
    return choice


def works_under_shim(path, reaper):
    """Does the runtime at ``path`` report what the shim needs?"""
    return _probe(path, reaper)[0]


def _probe(path, reaper):
    """(works under the shim?, the annotations of its ``features``)."""
    import json
    try:
        code, out, _ = reaper.run([path, "features"], capture=True, timeout=10)
        if code != 0:
            return False, {}
        ann = json.loads(out).get("annotations") or {}
        if ann.get(SHIM_READY) == "supported":
            return True, ann
        if ann.get(SHIM_READY) == "unsupported":
            return False, ann
        code, out, _ = reaper.run([path, "--help"], capture=True, timeout=10)
    except (OSError, TimeoutError, ValueError, AttributeError):
        return False, {}
    return code == 0 and not set(SHIM_NEEDS) - help_commands(out.decode(errors="replace")), ann


def _library_importable():
    try:
        from servin.runtime import _container, _exec, _ops   # noqa: F401
    except ImportError:
        return False
    return True


def help_commands(text):
    """Command names listed under ``commands:`` (servin-runc) / ``COMMANDS:`` (runc)."""
    cmds, inside = set(), False
    for line in text.splitlines():
        if line.strip().lower() == "commands:":
            inside = True
        elif inside and line[:1] in (" ", "\t") and line.strip():
            cmds.add(line.split()[0].rstrip(","))
        elif inside and line.strip():
            inside = False
    return cmds


def _which(name):
    for d in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        p = os.path.join(d or ".", name)
        if os.access(p, os.X_OK) and not os.path.isdir(p):
            return p
    return None


def make_runtime(binary, root, reaper, log_path=None):
    """An :class:`OCIRuntime` for ``binary``: a runtime binary's path or name,
    or ``servin.runtime`` for the library in-process (:mod:`._inproc`)."""
    if binary == "servin.runtime":
        from ._inproc import InProcessRuntime
        return InProcessRuntime(root, reaper, log_path)
    return RuntimeBinary(binary, root, reaper, log_path)
