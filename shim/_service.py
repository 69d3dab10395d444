"""The containerd.task.v2.Task service: the shim's 17 RPCs.

One :class:`TaskService` per shim process serves one or more containers
(containers of one pod share a shim).  It owns the containers' processes
(:mod:`._process`), their events (:mod:`._events`) and their exits
(:mod:`._reaper`); the low-level runtime is behind :mod:`._runtime`.

Ordering: each container has a lock held across a lifecycle step and the
queuing of its event, and exits are handled under the same lock, so
containerd sees TaskCreate < TaskStart < TaskExit < TaskDelete (and
TaskExecAdded < TaskExecStarted < the exec's TaskExit) even for a process
that exits at once.  A process's exit is reported (Wait, TaskExit) only
after its output has been read from the FIFOs (:meth:`ProcessIO.flush`).
"""
import os
import threading

from . import _messages as pb
from . import _mount
from ._errors import AlreadyExists, InvalidArgument, NotFound, NotImplementedRPC
from ._events import pack_any
from ._io import DRAIN_WAIT, ProcessIO
from ._process import STOPPED, Exec, Init, check
from ._runtime import default_binary, make_runtime
from ._bundle import write_runtime_config
from ._server import Method

ev = pb

__all__ = ["TaskService", "SERVICE", "VERSION"]

SERVICE = "containerd.task.v2.Task"
VERSION = "0.1.0"
EMPTY = pb.Empty


def _ts(msg, when):
    if when:
        msg.FromNanoseconds(int(when * 1e9))


class Container:
    def __init__(self, id, bundle, init, rootfs_mounted, runtime):
        self.id = id
        self.bundle = bundle
        self.init = init
        self.execs = {}
        self.rootfs_mounted = rootfs_mounted
        self.runtime = runtime
        self.lock = threading.RLock()
        self.oom_stop = None
        self.oom_cgroup = None          # {hierarchy: dir} of the init's cgroup
        self.oom_seen = 0

    def process(self, exec_id):
        if not exec_id:
            return self.init
        p = self.execs.get(exec_id)
        if p is None:
            raise NotFound(f"exec {exec_id!r} of container {self.id!r} not found")
        return p


class TaskService:
    def __init__(self, reaper, publisher, namespace, on_empty_shutdown, log=None):
        self.reaper = reaper
        self.publisher = publisher
        self.namespace = namespace
        self.on_empty_shutdown = on_empty_shutdown
        self.log = log or (lambda m: None)
        self.containers = {}
        self.lock = threading.Lock()
        self._default_binary = None

    # -- helpers ------------------------------------------------------------------
    def methods(self):
        rpc = {
            "State": (pb.StateRequest, self.state),
            "Create": (pb.CreateTaskRequest, self.create),
            "Start": (pb.StartRequest, self.start),
            "Delete": (pb.DeleteRequest, self.delete),
            "Pids": (pb.PidsRequest, self.pids),
            "Pause": (pb.PauseRequest, self.pause),
            "Resume": (pb.ResumeRequest, self.resume),
            "Checkpoint": (pb.CheckpointTaskRequest, self.checkpoint),
            "Kill": (pb.KillRequest, self.kill),
            "Exec": (pb.ExecProcessRequest, self.exec),
            "ResizePty": (pb.ResizePtyRequest, self.resize_pty),
            "CloseIO": (pb.CloseIORequest, self.close_io),
            "Update": (pb.UpdateTaskRequest, self.update),
            "Wait": (pb.WaitRequest, self.wait),
            "Stats": (pb.StatsRequest, self.stats),
            "Connect": (pb.ConnectRequest, self.connect),
            "Shutdown": (pb.ShutdownRequest, self.shutdown),
        }
        methods = {name: Method(t, fn) for name, (t, fn) in rpc.items()}
        methods["Shutdown"].after = self._after_shutdown
        return methods

    def _get(self, id):
        with self.lock:
            c = self.containers.get(id)
        if c is None:
            raise NotFound(f"container {id!r} not found")
        return c

    def _options(self, req):
        """(binary, root, no_pivot, no_new_keyring) from the create options."""
        binary = root = None
        no_pivot = no_keyring = False
        opts = req.options
        if opts.type_url:
            name = opts.type_url.rsplit("/", 1)[-1]
            if name == "containerd.runc.v1.Options":
                o = pb.RuncOptions.FromString(opts.value)
                binary = o.binary_name or None
                root = o.root or None
                no_pivot, no_keyring = o.no_pivot_root, o.no_new_keyring
            elif name == "runtimeoptions.v1.Options":
                o = pb.RuntimeOptions.FromString(opts.value)
                conf = _read_config(o.config_path, o.config_body)
                binary = conf.get("BinaryName") or conf.get("binary_name")
                root = conf.get("Root") or conf.get("root")
            else:
                raise InvalidArgument(f"unsupported runtime options type {opts.type_url!r}")
        # Private to this containerd: beside its task bundles (a hidden dir,
        # which containerd skips when it reloads bundles).
        private = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(req.bundle))),
                               ".servin")
        if binary is None:
            if self._default_binary is None:
                os.makedirs(private, mode=0o711, exist_ok=True)
                self._default_binary = default_binary(self.reaper, private)
            binary = self._default_binary
        if root is None:
            root = os.path.join(private, self.namespace)
        return binary, root, no_pivot, no_keyring

    # -- lifecycle ----------------------------------------------------------------------
    def create(self, req):
        if req.checkpoint or req.parent_checkpoint:
            raise NotImplementedRPC("checkpoint/restore is not implemented")
        with self.lock:
            if req.id in self.containers:
                raise AlreadyExists(f"container {req.id!r} already exists")
            self.containers[req.id] = None          # reserve the id
        try:
            return self._create(req)
        except BaseException:
            with self.lock:
                self.containers.pop(req.id, None)
            raise

    def _create(self, req):
        binary, root, no_pivot, no_keyring = self._options(req)
        os.makedirs(root, mode=0o711, exist_ok=True)
        write_runtime_config(req.bundle, binary, root)
        runtime = make_runtime(binary, root, self.reaper,
                               log_path=os.path.join(req.bundle, "log.json"))
        rootfs = os.path.join(req.bundle, "rootfs")
        mounted = False
        if len(req.rootfs):
            os.makedirs(rootfs, exist_ok=True)
            _mount.mount_all(req.rootfs, rootfs)
            mounted = True
        io = ProcessIO(req.stdin, req.stdout, req.stderr, req.terminal)
        init = Init(req.id, io, runtime, req.bundle, req.bundle, no_pivot, no_keyring)
        c = Container(req.id, req.bundle, init, mounted, runtime)
        try:
            with c.lock:
                init.create()
                with self.lock:
                    self.containers[req.id] = c
                e = ev.TaskCreate(container_id=req.id, bundle=req.bundle, checkpoint=req.checkpoint,
                                  pid=init.pid)
                e.rootfs.extend(req.rootfs)
                e.io.stdin, e.io.stdout, e.io.stderr = req.stdin, req.stdout, req.stderr
                e.io.terminal = req.terminal
                self.publisher.publish(e)
                self.reaper.monitor(init.pid, lambda pid, code, when: self._exited(c, init, code, when))
        except BaseException:
            if mounted:
                _mount.unmount_all(rootfs)
            raise
        self._watch_oom(c)
        return pb.CreateTaskResponse(pid=init.pid)

    def start(self, req):
        c = self._get(req.id)
        with c.lock:
            p = c.process(req.exec_id)
            p.start()
            if req.exec_id:
                self.publisher.publish(ev.TaskExecStarted(container_id=c.id, exec_id=req.exec_id,
                                                          pid=p.pid))
                self.reaper.monitor(p.pid, lambda pid, code, when: self._exited(c, p, code, when))
            else:
                self.publisher.publish(ev.TaskStart(container_id=c.id, pid=p.pid))
        return pb.StartResponse(pid=p.pid)

    def _exited(self, c, p, code, when):
        # Called from the reaper (the main thread): the work is done in a
        # thread so it can wait for the container's lock.
        threading.Thread(target=self._handle_exit, args=(c, p, code, when), daemon=True).start()

    def _handle_exit(self, c, p, code, when):
        if p is c.init:
            # Exec processes go down with the init, as with containerd's runc
            # shim, and their exits are published first.  Not under the lock:
            # their own exit handlers need it.  (Their pids can't be reused:
            # they are our unreaped children.)
            execs = [x for x in list(c.execs.values()) if x.pid and not x.exited]
            for x in execs:
                try:
                    os.kill(x.pid, 9)
                except OSError:
                    pass
            for x in execs:
                x.wait(2.0 + DRAIN_WAIT)
        # containerd's client learns of the exit from Wait or TaskExit and then
        # deletes the process, giving up the output it has not read: report
        # the exit only once the process's output has been read.
        p.io.flush(DRAIN_WAIT)
        with c.lock:
            self._check_oom(c)
            p.set_exited(code, when)
            e = ev.TaskExit(container_id=c.id, id=p.id or c.id, pid=p.pid, exit_status=code)
            _ts(e.exited_at, when)
            self.publisher.publish(e)

    def delete(self, req):
        c = self._get(req.id)
        with c.lock:
            p = c.process(req.exec_id)
            if req.exec_id:
                p.delete()
                del c.execs[req.exec_id]
                return _delete_response(p)
            started = p.pid and p.state != STOPPED
            p.delete()
            for x in c.execs.values():       # not deleted by the client: free their fds
                x.io.close()
            if started and not p.exited:
                p.wait(2.0)
            if not p.exited:
                p.set_exited(128 + 9, _now())
            self.reaper.forget(p.pid)
            if c.oom_stop:
                c.oom_stop.set()
            if c.rootfs_mounted:
                try:
                    _mount.unmount_all(os.path.join(c.bundle, "rootfs"))
                except OSError as e:
                    self.log(f"delete {c.id}: {e}")
            e = ev.TaskDelete(container_id=c.id, pid=p.pid, exit_status=p.exit_status, id=c.id)
            _ts(e.exited_at, p.exited_at)
            self.publisher.publish(e)
        with self.lock:
            self.containers.pop(c.id, None)
        return _delete_response(p)

    def exec(self, req):
        c = self._get(req.id)
        with c.lock:
            if req.exec_id in c.execs:
                raise AlreadyExists(f"exec {req.exec_id!r} already exists")
            if not req.exec_id:
                raise InvalidArgument("exec id is required")
            spec = req.spec.value        # the OCI process, JSON, passed through
            if not spec.lstrip().startswith(b"{"):
                raise InvalidArgument("exec spec is not a JSON object")
            io = ProcessIO(req.stdin, req.stdout, req.stderr, req.terminal)
            check("exec", c.init.state)
            c.execs[req.exec_id] = Exec(c.id, req.exec_id, io, c.init, spec)
            self.publisher.publish(ev.TaskExecAdded(container_id=c.id, exec_id=req.exec_id))
        return EMPTY()

    # -- queries ------------------------------------------------------------------------
    def state(self, req):
        c = self._get(req.id)
        p = c.process(req.exec_id)
        r = pb.StateResponse(id=p.id or c.id, bundle=c.bundle, pid=p.pid, status=max(p.state, 0),
                             stdin=p.io.stdin, stdout=p.io.stdout, stderr=p.io.stderr,
                             terminal=p.io.terminal, exit_status=p.exit_status, exec_id=p.id)
        _ts(r.exited_at, p.exited_at)
        return r

    def wait(self, req):
        c = self._get(req.id)
        p = c.process(req.exec_id)
        p.wait()
        r = pb.WaitResponse(exit_status=p.exit_status)
        _ts(r.exited_at, p.exited_at)
        return r

    def pids(self, req):
        c = self._get(req.id)
        pids = c.runtime.ps(c.id)
        by_pid = {x.pid: x.id for x in c.execs.values() if x.pid}
        r = pb.PidsResponse()
        for pid in pids:
            info = r.processes.add(pid=pid)
            if pid in by_pid:
                pack_any(info.info, pb.ProcessDetails(exec_id=by_pid[pid]))
        return r

    def stats(self, req):
        c = self._get(req.id)
        if not c.init.pid or c.init.exited:
            raise NotFound(f"container {c.id!r} is not running")
        from . import _cgroups
        try:
            name, data = _cgroups.metrics(c.init.pid)
        except OSError as e:
            raise NotFound(f"no cgroup for container {c.id!r}: {e}") from None
        r = pb.StatsResponse()
        r.stats.type_url = name
        r.stats.value = data
        return r

    def connect(self, req):
        with self.lock:
            c = self.containers.get(req.id)
        return pb.ConnectResponse(shim_pid=os.getpid(), task_pid=c.init.pid if c else 0,
                                  version=VERSION)

    # -- control ------------------------------------------------------------------------
    def kill(self, req):
        c = self._get(req.id)
        with c.lock:
            c.process(req.exec_id).kill(req.signal, req.all)
        return EMPTY()

    def pause(self, req):
        c = self._get(req.id)
        with c.lock:
            c.init.pause()
            self.publisher.publish(ev.TaskPaused(container_id=c.id))
        return EMPTY()

    def resume(self, req):
        c = self._get(req.id)
        with c.lock:
            c.init.resume()
            self.publisher.publish(ev.TaskResumed(container_id=c.id))
        return EMPTY()

    def resize_pty(self, req):
        c = self._get(req.id)
        c.process(req.exec_id).resize(req.width, req.height)
        return EMPTY()

    def close_io(self, req):
        c = self._get(req.id)
        if req.stdin:
            c.process(req.exec_id).close_io()
        return EMPTY()

    def update(self, req):
        c = self._get(req.id)
        check("update", c.init.state)
        path = os.path.join(c.bundle, "update-resources.json")
        with open(path, "wb") as f:
            f.write(req.resources.value or b"{}")
        try:
            c.runtime.update(c.id, path)
        finally:
            os.unlink(path)
        return EMPTY()

    def checkpoint(self, req):
        raise NotImplementedRPC("checkpoint is not implemented by the servin shim")

    def shutdown(self, req):
        with self.lock:
            if self.containers and not req.now:
                return EMPTY()
            self._exiting = True
        return EMPTY()

    def _after_shutdown(self):
        # The reply is on the wire: exit now (containerd waits for the
        # connection to close before it goes on).
        if getattr(self, "_exiting", False):
            self.on_empty_shutdown()

    # -- OOM --------------------------------------------------------------------------------
    def _watch_oom(self, c):
        """Publish TaskOOM when the container's cgroup records an OOM kill.

        The cgroup's OOM-kill counter (v1 memory.oom_control, v2
        memory.events) is compared with the last value seen: once a second
        while the container runs, and when its init exits — before TaskExit,
        while the cgroup still exists — so an OOM-killed container always
        gets its TaskOOM, first.
        """
        from . import _cgroups
        try:
            c.oom_cgroup = _cgroups.cgroup_dirs(c.init.pid)
            c.oom_seen = _cgroups.oom_kill_count(c.oom_cgroup)
        except OSError:
            c.oom_cgroup = None
            return
        stop = threading.Event()
        c.oom_stop = stop

        def watch():
            while not stop.wait(1.0) and not c.init.exited:
                with c.lock:
                    self._check_oom(c)

        threading.Thread(target=watch, daemon=True, name="oom").start()

    def _check_oom(self, c):
        """Called with c.lock held."""
        if getattr(c, "oom_cgroup", None) is None:
            return
        from . import _cgroups
        try:
            n = _cgroups.oom_kill_count(c.oom_cgroup)
        except OSError:
            return
        if n > c.oom_seen:
            c.oom_seen = n
            self.publisher.publish(ev.TaskOOM(container_id=c.id))


def _delete_response(p):
    r = pb.DeleteResponse(pid=p.pid, exit_status=p.exit_status)
    _ts(r.exited_at, p.exited_at)
    return r


def _now():
    import time
    return time.time()


def _read_config(path, body=""):
    """BinaryName/Root from a runtime config file (TOML, or JSON)."""
    text = body
    if path:
        with open(path) as f:
            text = f.read()
    if not text.strip():
        return {}
    if text.lstrip().startswith("{"):
        import json
        return json.loads(text)
    import tomllib
    return tomllib.loads(text)
