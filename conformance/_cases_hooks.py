"""config.md#posix-platform-hooks and the hook steps of runtime.md#lifecycle.

Every hook is a small sh script that appends one JSON line to a log:
its name, its mount and network namespaces, the command line of the pid
given in the state on its stdin, its arguments, one env var and the state
itself.  Host-side hooks use the host's /bin/sh and log to a host path;
startContainer hooks (resolved in the container) use the rootfs's busybox
sh and log through a bind mount at /hooklog.
"""
import json
import os
import time

from ._registry import case

SCRIPT = r"""#!/bin/sh
# usage: hook NAME LOG [EXIT [SLEEP]]
name=$1; log=$2; code=${3:-0}; nap=${4:-0}
state=$(cat | tr -d '\n')
pid=$(printf '%s' "$state" | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
cmd=""
if [ -n "$pid" ] && [ -r /proc/$pid/cmdline ]; then
    cmd=$(tr '\000' ' ' < /proc/$pid/cmdline)
fi
[ -n "$state" ] || state=null
printf '{"name":"%s","mnt":"%s","net":"%s","cmd":"%s","args":"%s","env":"%s","state":%s}\n' \
    "$name" "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/self/ns/net)" "$cmd" "$*" \
    "$SERVIN_HOOK_ENV" "$state" >> "$log"
[ "$nap" = 0 ] || exec sleep "$nap"
exit "$code"
"""


class Hooks:
    def __init__(self, t, bundle):
        self.t = t
        self.bundle = bundle
        self.dir = t.tmpdir("hooklog")
        self.log = os.path.join(self.dir, "log")
        self.host_script = os.path.join(t.workdir, "hook.sh")
        with open(self.host_script, "w") as f:
            f.write(SCRIPT)
        os.chmod(self.host_script, 0o755)
        inside = os.path.join(bundle.rootfs, "hooks", "hook.sh")
        with open(inside, "w") as f:
            f.write(SCRIPT)
        os.chmod(inside, 0o755)
        bundle.add_bind(self.dir, "/hooklog")
        bundle.config.setdefault("hooks", {})

    def add(self, kind, name=None, code=0, nap=0, timeout=None, env=None):
        name = name or kind
        if kind == "startContainer":
            h = {"path": "/bin/sh", "args": ["sh", "/hooks/hook.sh", name, "/hooklog/log",
                                             str(code), str(nap)]}
        else:
            h = {"path": self.host_script, "args": ["hook.sh", name, self.log, str(code), str(nap)]}
        if timeout is not None:
            h["timeout"] = timeout
        if env is not None:
            h["env"] = env
        self.bundle.config["hooks"].setdefault(kind, []).append(h)
        return h

    def entries(self):
        try:
            with open(self.log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"name": "?", "raw": line})
        return out

    def names(self):
        return [e["name"] for e in self.entries()]


ALL = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def _all_hooks(t, *args):
    b = t.bundle(*(args or ("sleep", "30")))
    h = Hooks(t, b)
    for kind in ALL:
        h.add(kind)
    return b, h


def _ns(path):
    return os.readlink(path)


@case("hooks.create-order", "runtime.md#lifecycle", "MUST",
      "prestart, createRuntime and createContainer hooks MUST be invoked, in that order, by "
      "create (steps 3-5); none of the start/stop hooks.")
def _(t):
    b, h = _all_hooks(t)
    cid, _ = t.create(b)
    t.check(h.names() == ["prestart", "createRuntime", "createContainer"],
            f"hooks run by create: {h.names()}")


@case("hooks.start-order", "runtime.md#lifecycle", "MUST",
      "startContainer then poststart hooks MUST be invoked by start (steps 7, 9); poststart "
      "before start returns.")
def _(t):
    b, h = _all_hooks(t)
    cid, _ = t.create(b)
    before = len(h.names())
    r = t.op("start", cid)
    t.check(r.ok, f"start failed: {r.err.strip()}")
    t.check(h.names()[before:] == ["startContainer", "poststart"],
            f"hooks run by start (when it returned): {h.names()[before:]}")


@case("hooks.poststop", "runtime.md#lifecycle", "MUST",
      "poststop hooks MUST be invoked after the container is deleted, before delete returns (step 13).")
def _(t):
    b, h = _all_hooks(t, "exit", "0")
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "stopped")
    before = len(h.names())
    r = t.op("delete", cid)
    t.check(r.ok, f"delete failed: {r.err.strip()}")
    t.check(h.names()[before:] == ["poststop"], f"hooks run by delete: {h.names()[before:]}")


@case("hooks.listed-order", "config.md#posix-platform-hooks", "MUST",
      "Hooks MUST be called in the listed order.")
def _(t):
    b = t.bundle("sleep", "30")
    h = Hooks(t, b)
    for n in ("first", "second", "third"):
        h.add("createRuntime", name=n)
    t.create(b)
    t.check(h.names() == ["first", "second", "third"], f"order: {h.names()}")


@case("hooks.state-stdin", "config.md#posix-platform-hooks", "MUST",
      "The state of the container MUST be passed to hooks over stdin (id, bundle, pid).")
def _(t):
    b, h = _all_hooks(t, "exit", "0")
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "stopped")
    t.check(t.op("delete", cid).ok, "delete failed")
    entries = h.entries()
    t.check(sorted(e["name"] for e in entries) == sorted(ALL),
            f"hooks run: {[e['name'] for e in entries]}")
    for e in entries:
        st = e.get("state")
        t.check(isinstance(st, dict), f"{e['name']}: no state on stdin")
        t.check(st.get("id") == cid, f"{e['name']}: state id {st.get('id')!r}")
        t.check(st.get("bundle") == os.path.realpath(b.path), f"{e['name']}: bundle {st.get('bundle')!r}")
        t.check("ociVersion" in st and "status" in st, f"{e['name']}: state lacks ociVersion/status: {st}")
        if e["name"] in ("prestart", "createRuntime", "poststart"):
            t.check(st.get("pid") == pid, f"{e['name']}: pid {st.get('pid')!r}, container pid {pid}")


@case("hooks.runtime-namespace", "config.md#posix-platform-hooks", "MUST",
      "prestart, createRuntime, poststart and poststop hooks MUST be called in the runtime namespace.")
def _(t):
    b, h = _all_hooks(t, "exit", "0")
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "stopped")
    t.check(t.op("delete", cid).ok, "delete failed")
    host_net = _ns("/proc/self/ns/net")
    for e in h.entries():
        if e["name"] in ("prestart", "createRuntime", "poststart", "poststop"):
            t.check(e["net"] == host_net, f"{e['name']} ran in network namespace {e['net']}, "
                                          f"the runtime's is {host_net}")


@case("hooks.createcontainer-namespace", "config.md#createcontainer-hooks", "MUST",
      "createContainer hooks MUST be executed in the container namespace (path resolved in the "
      "runtime namespace).")
def _(t):
    b, h = _all_hooks(t)
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    want = (_ns(f"/proc/{pid}/ns/mnt"), _ns(f"/proc/{pid}/ns/net"))
    e = [e for e in h.entries() if e["name"] == "createContainer"]
    t.check(e, f"createContainer did not run: {h.names()}")
    t.check((e[0]["mnt"], e[0]["net"]) == want,
            f"createContainer ran in mnt/net {e[0]['mnt']}/{e[0]['net']}, container has {want}")


@case("hooks.startcontainer-namespace", "config.md#startcontainer-hooks", "MUST",
      "startContainer hooks MUST be executed in the container namespace; the path MUST resolve "
      "in the container namespace.")
def _(t):
    b, h = _all_hooks(t)
    cid, _ = t.create(b)
    pid = t.state(cid)["pid"]
    want = (_ns(f"/proc/{pid}/ns/mnt"), _ns(f"/proc/{pid}/ns/net"))
    t.check(t.op("start", cid).ok, "start failed")
    e = [e for e in h.entries() if e["name"] == "startContainer"]
    t.check(e, f"startContainer did not run: {h.names()}")
    t.check((e[0]["mnt"], e[0]["net"]) == want,
            f"startContainer ran in mnt/net {e[0]['mnt']}/{e[0]['net']}, container has {want}")


@case("hooks.poststart-after-exec", "config.md#poststart", "MUST",
      "poststart hooks MUST be called after the user-specified process is executed.")
def _(t):
    b, h = _all_hooks(t)
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    e = [e for e in h.entries() if e["name"] == "poststart"]
    t.check(e, "poststart did not run")
    t.check("servin-checker sleep 30" in e[0]["cmd"],
            f"at poststart the container process runs {e[0]['cmd']!r}, not the user program")


@case("hooks.args-env", "config.md#posix-platform-hooks", "MUST",
      "Hook args and env have the same semantics as execv's argv and environ.")
def _(t):
    b = t.bundle("sleep", "30")
    h = Hooks(t, b)
    h.add("createRuntime", env=["SERVIN_HOOK_ENV=from-config", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
    t.create(b)
    e = h.entries()
    t.check(e, "the hook did not run")
    t.check(e[0]["env"] == "from-config", f"hook env SERVIN_HOOK_ENV={e[0]['env']!r}")
    t.check(e[0]["args"] == f"createRuntime {h.log} 0 0", f"hook args {e[0]['args']!r}")


def _fails_create(t, kind):
    out = t.tmpdir("out")
    b = t.bundle("touch", "/out/ran")
    b.add_bind(out, "/out")
    h = Hooks(t, b)
    h.add(kind, code=1)
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, f"create succeeded although a {kind} hook failed")
    st = t.state(cid)
    if st is not None:
        t.check(st.get("status") == "stopped", f"after the failed {kind} hook the container is {st}")
        t.op("start", cid)
    time.sleep(0.2)
    t.check(not os.path.exists(os.path.join(out, "ran")), "the user program ran")


for _kind, _step in (("prestart", 3), ("createRuntime", 4), ("createContainer", 5)):
    def _make(kind):
        return lambda t: _fails_create(t, kind)
    case(f"hooks.{_kind.lower()}-failure", "runtime.md#lifecycle", "MUST",
         f"If any {_kind} hook fails, the runtime MUST generate an error and stop the container "
         f"(step {_step}).")(_make(_kind))


@case("hooks.startcontainer-failure", "runtime.md#lifecycle", "MUST",
      "If any startContainer hook fails, the runtime MUST generate an error, stop the container "
      "(step 7); the user program is not run.")
def _(t):
    out = t.tmpdir("out")
    b = t.bundle("touch", "/out/ran")
    b.add_bind(out, "/out")
    h = Hooks(t, b)
    h.add("startContainer", code=1)
    cid, _ = t.create(b)
    r = t.op("start", cid)
    time.sleep(0.3)
    ran = os.path.exists(os.path.join(out, "ran"))
    st = t.state(cid)
    t.check(r.rc != 0, f"start succeeded although a startContainer hook failed (the user "
                       f"program {'ran' if ran else 'did not run'}; state {st and st.get('status')})")
    t.check(not ran, "the user program ran")
    t.check(st is None or st.get("status") == "stopped", f"container after the failure: {st}")


@case("hooks.failure-runs-poststop", "runtime.md#lifecycle", "MUST",
      "After a failing createRuntime hook the lifecycle continues at step 12: poststop hooks MUST "
      "be invoked (step 13).")
def _(t):
    b = t.bundle("sleep", "30")
    h = Hooks(t, b)
    h.add("createRuntime", code=1)
    h.add("poststop")
    cid, r = t.create(b, expect_ok=False)
    t.check(r.rc != 0, "create succeeded although the createRuntime hook failed")
    if t.state(cid) is not None:
        t.op("delete", cid)
    t.check("poststop" in h.names(), f"hooks run: {h.names()}")


@case("hooks.poststart-failure", "runtime.md#lifecycle", "MUST",
      "If a poststart hook fails the runtime MUST log a warning, but the remaining hooks and "
      "lifecycle continue as if the hook had succeeded (step 9).")
def _(t):
    b = t.bundle("sleep", "30")
    h = Hooks(t, b)
    h.add("poststart", name="failing", code=1)
    h.add("poststart", name="next")
    cid, _ = t.create(b)
    r = t.op("start", cid)
    st = t.state(cid)
    t.check(r.ok, f"start failed because of the poststart hook (exit {r.rc}; container {st})")
    t.check(h.names() == ["failing", "next"], f"poststart hooks run: {h.names()}")
    t.check(st and st["status"] == "running", f"container after start: {st}")


@case("hooks.poststop-failure", "runtime.md#lifecycle", "MUST",
      "If a poststop hook fails the runtime MUST log a warning, but the remaining hooks and "
      "lifecycle continue as if the hook had succeeded (step 13).")
def _(t):
    b = t.bundle("exit", "0")
    h = Hooks(t, b)
    h.add("poststop", name="failing", code=1)
    h.add("poststop", name="next")
    cid, _ = t.create(b)
    t.check(t.op("start", cid).ok, "start failed")
    t.wait_status(cid, "stopped")
    r = t.op("delete", cid)
    t.check(h.names() == ["failing", "next"], f"poststop hooks run: {h.names()} (delete exit {r.rc})")
    t.check(t.state(cid) is None, "the container still exists after delete")


@case("hooks.timeout", "config.md#posix-platform-hooks", "MUST",
      "timeout is the number of seconds before aborting the hook (a hung createRuntime hook "
      "with timeout 1 fails create).")
def _(t):
    b = t.bundle("sleep", "30")
    h = Hooks(t, b)
    h.add("createRuntime", nap=15, timeout=1)
    t0 = time.monotonic()
    cid, r = t.create(b, expect_ok=False)
    took = time.monotonic() - t0
    t.check(r.rc != 0, f"create succeeded although the hook outlived its timeout ({took:.1f}s)")
    t.check(took < 10, f"create took {took:.1f}s with a 1s hook timeout")
