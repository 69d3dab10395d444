"""Hooks run by the runtime itself, in the runtime's namespaces: prestart,
createRuntime, poststart and poststop (createContainer and startContainer
run inside the container, from the C side).

Each hook gets the container state JSON on stdin; `timeout` is honoured.
prestart/createRuntime failures fail the operation; poststart/poststop
failures are warnings (runtime-spec config.md, "Posix-platform Hooks").
"""
import os
import time

from . import _json

from ._errors import HookError


def run(kind, hooks, state, warn=None):
    """Run the hooks of one kind in order.  With warn (a callable), a
    failure is reported through it and the rest still run."""
    if not hooks:
        return
    data = _json.dumps(state).encode()
    for path, args, env, timeout in hooks:
        try:
            _run_one(kind, path, args, env, timeout, data)
        except HookError as e:
            if warn is None:
                raise
            warn(str(e))


def _run_one(kind, path, args, env, timeout, data):
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(path, args, dict(_env(env)),
                             file_actions=[(os.POSIX_SPAWN_DUP2, r, 0)], setsigmask=())
    except OSError as e:
        os.close(r)
        os.close(w)
        raise HookError(f"{kind} hook {path}: {e.strerror}") from None
    os.close(r)
    try:
        os.write(w, data)
    except OSError:
        pass            # the hook need not read its stdin
    os.close(w)
    status = _wait(pid, timeout)
    if status is None:
        raise HookError(f"{kind} hook {path} timed out after {timeout}s")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        what = f"signal {-code}" if code < 0 else f"status {code}"
        raise HookError(f"{kind} hook {path} failed with {what}")


def _env(env):
    for e in env:
        k, _, v = e.partition("=")
        yield k, v


def _wait(pid, timeout):
    if not timeout:
        return os.waitpid(pid, 0)[1]
    pidfd = os.pidfd_open(pid)
    try:
        import select
        ready = select.poll()
        ready.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not ready.poll(left * 1000):
                if time.monotonic() >= deadline:
                    os.kill(pid, 9)     # SIGKILL
                    os.waitpid(pid, 0)
                    return None
                continue
            return os.waitpid(pid, 0)[1]
    finally:
        os.close(pidfd)
