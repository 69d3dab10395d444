"""A private containerd for the shim tests and the benchmark.

:class:`Containerd` writes a config.toml whose root, state, gRPC and ttrpc
sockets all live in one temp dir (CRI and the snapshotters that need more
than overlayfs are disabled), starts Debian's containerd on it, imports a
busybox image built here from /bin/busybox, and runs ``ctr`` against it.
Teardown kills what is left: tasks, shims (by the pids recorded in the
bundles), mounts under the temp dir, the namespace's cgroups.
"""
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
RUNC = shutil.which("runc") or "/usr/bin/runc"
IMAGE = "docker.io/servin/busybox:test"
SHIM = "containerd-shim-servin-v2"
RUNTIME = "io.containerd.servin.v2"
RUNC_SHIM = "io.containerd.runc.v2"
RUNC_SHIM_BINARY = "/usr/bin/containerd-shim-runc-v2"

# shim x OCI runtime combinations the containerd tests run under:
# name -> (containerd runtime (shim), OCI runtime: "runc", "servin-runc", or
# "servin.runtime" — the library in our shim's process).
COMBOS = {
    "servin-shim+runc": (RUNTIME, "runc"),
    "servin-shim+servin-runc": (RUNTIME, "servin-runc"),
    "servin-shim+in-process": (RUNTIME, "servin.runtime"),
    "runc-shim+servin-runc": (RUNC_SHIM, "servin-runc"),
}

APPLETS = ["sh", "echo", "cat", "sleep", "true", "false", "ls", "id", "hostname", "ps",
           "tty", "stty", "head", "wc", "env", "kill", "dd", "yes", "seq", "grep", "mount"]


def missing():
    """Why these tests can't run here, or None."""
    if os.geteuid() != 0:
        return "needs root (containerd, mounts, cgroups)"
    for path in (CONTAINERD, CTR, "/bin/busybox"):
        if not os.path.exists(path):
            return f"{path} is not installed"
    if not os.path.exists(RUNC):
        return "runc is not installed"
    if not shim_command():
        return f"{SHIM} is not installed (pip install the project)"
    return None


def servin_runc():
    """Path of servin-runc (beside the test's python, else on PATH), or None."""
    d = shim_command()
    if d and os.access(os.path.join(d, "servin-runc"), os.X_OK):
        return os.path.join(d, "servin-runc")
    return shutil.which("servin-runc")


def oci_binary(kind):
    """The binary for ``kind`` (for servin.runtime: servin-runc, to inspect its state)."""
    return RUNC if kind == "runc" else servin_runc()


def combo_missing(combo):
    """Why ``combo`` can't run here, or None."""
    shim, kind = COMBOS[combo]
    if shim == RUNC_SHIM and not os.path.exists(RUNC_SHIM_BINARY):
        return f"{RUNC_SHIM_BINARY} is not installed"
    if oci_binary(kind) is None:
        return f"{kind} is not installed"
    return None


_COMMANDS = {}


def runtime_commands(binary):
    """The commands ``binary --help`` lists (runc: COMMANDS:, servin-runc: commands:)."""
    if binary not in _COMMANDS:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        cmds, inside = set(), False
        for line in out.splitlines():
            if line.strip().lower() == "commands:":
                inside = True
            elif inside and line[:1] in (" ", "\t") and line.strip():
                cmds.add(line.split()[0].rstrip(","))
            elif inside and line.strip():
                inside = False
        _COMMANDS[binary] = cmds
    return _COMMANDS[binary]


def shim_command():
    """Directory holding containerd-shim-servin-v2 (to put on containerd's PATH)."""
    import sys
    here = os.path.dirname(os.path.abspath(sys.executable))
    for d in [here] + os.environ.get("PATH", "").split(os.pathsep):
        if d and os.access(os.path.join(d, SHIM), os.X_OK):
            return d
    return None


# -- image ------------------------------------------------------------------------

def _tar_add(tf, name, data=None, mode=0o755, type=tarfile.REGTYPE, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    ti.type = type
    ti.linkname = linkname
    ti.mtime = 0
    if data is not None:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)


def busybox_oci_tar(path, busybox="/bin/busybox", name=IMAGE):
    """Write an OCI image-layout tar of a one-layer busybox image."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root"):
            _tar_add(tf, d, type=tarfile.DIRTYPE)
        with open(busybox, "rb") as f:
            _tar_add(tf, "bin/busybox", f.read())
        for a in APPLETS:
            _tar_add(tf, f"bin/{a}", type=tarfile.SYMTYPE, linkname="busybox")
        _tar_add(tf, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        _tar_add(tf, "etc/group", b"root:x:0:\n", 0o644)
    layer = layer.getvalue()
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}],
    }).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": "test"}}],
    }).encode()
    with tarfile.open(path, "w") as tf:
        _tar_add(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644)
        _tar_add(tf, "index.json", index, 0o644)
        _tar_add(tf, "blobs", type=tarfile.DIRTYPE)
        _tar_add(tf, "blobs/sha256", type=tarfile.DIRTYPE)
        for digest, blob in ((layer_digest, layer), (config_digest, config),
                             (manifest_digest, manifest)):
            _tar_add(tf, "blobs/sha256/" + digest.split(":")[1], blob, 0o644)
    return path


# -- containerd -------------------------------------------------------------------

class Containerd:
    """A private containerd; ``combo`` (a key of :data:`COMBOS`) says which shim
    ``run_args`` asks for and which OCI runtime that shim drives."""

    def __init__(self, shim_dir=None, env=None, namespace=None, combo="servin-shim+runc"):
        self.dir = tempfile.mkdtemp(prefix="srvctd-", dir="/tmp")
        self.combo = combo
        self.shim_runtime, kind = COMBOS[combo]
        self.oci = oci_binary(kind) or kind
        self.oci_name = kind
        # The runc shim's --root (ctr --runc-root): private, never /run/containerd/runc.
        self.oci_root = os.path.join(self.dir, "runc-root")
        self.sock = os.path.join(self.dir, "c.sock")
        self.namespace = namespace or f"servin-test-{os.getpid()}"
        self.fifo_dir = os.path.join(self.dir, "fifo")
        self.shim_dir = shim_dir or shim_command()
        self.extra_env = dict(env or {})
        if self.shim_runtime == RUNTIME:
            # Each pinned: the shim's own default (servin-runc's binary, or
            # in-process once servin-runc's features say so) is a unit test.
            pin = {"runc": self.oci, "servin-runc": self.oci}.get(kind, kind)
            self.extra_env.setdefault("SERVIN_SHIM_RUNTIME", pin)
        self.proc = None
        self.log_path = os.path.join(self.dir, "containerd.log")

    def config(self):
        d = self.dir
        return f"""version = 2
root = "{d}/root"
state = "{d}/state"
plugin_dir = ""
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{self.sock}"

[ttrpc]
  address = "{self.sock}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"""

    def restart(self):
        """Stop containerd (not its shims) and start it again on the same state."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()
        self.proc = None
        return self.start()

    def start(self):
        os.makedirs(self.fifo_dir, exist_ok=True)
        cfg = os.path.join(self.dir, "config.toml")
        with open(cfg, "w") as f:
            f.write(self.config())
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([self.shim_dir, env.get("PATH", "/usr/bin:/bin")])
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CONTAINERD, "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("containerd exited:\n" + self.read_log())
            if os.path.exists(self.sock) and self.ctr("version", check=False).returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("containerd did not come up:\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def ctr(self, *args, check=True, input=None, timeout=60, stdin=None):
        cmd = [CTR, "-a", self.sock, "-n", self.namespace] + list(args)
        r = subprocess.run(cmd, capture_output=True, input=input, timeout=timeout,
                           stdin=stdin if input is None else None)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} -> {r.returncode}\nstdout: "
                                 f"{r.stdout.decode(errors='replace')}\nstderr: "
                                 f"{r.stderr.decode(errors='replace')}")
        return r

    def import_busybox(self):
        tar = busybox_oci_tar(os.path.join(self.dir, "busybox.tar"))
        self.ctr("images", "import", "--all-platforms", tar)
        return IMAGE

    @property
    def our_shim(self):
        return self.shim_runtime == RUNTIME

    def runtime_args(self):
        """``ctr run`` flags choosing the shim and, for the runc shim, the binary."""
        if self.our_shim:
            return ["--runtime", RUNTIME]
        return ["--runtime", RUNC_SHIM, "--runc-binary", self.oci, "--runc-root", self.oci_root]

    def run_args(self, *extra):
        return ["run"] + self.runtime_args() + ["--fifo-dir", self.fifo_dir] + list(extra)

    def runtime_root(self):
        """The OCI runtime's --root for this namespace (both shims make it private)."""
        if self.our_shim:
            return os.path.join(self.dir, "state", "io.containerd.runtime.v2.task", ".servin",
                                self.namespace)
        return os.path.join(self.oci_root, self.namespace)

    def runtime_list(self):
        """Container ids ``<oci runtime> --root ... list -q`` knows."""
        r = subprocess.run([self.oci, "--root", self.runtime_root(), "list", "-q"],
                           capture_output=True, text=True, timeout=30)
        return r.stdout.split()

    def missing_commands(self, *commands):
        """Those of ``commands`` the OCI runtime's --help does not list."""
        if self.oci_name != "servin-runc":
            return []
        have = runtime_commands(self.oci)
        return [c for c in commands if c not in have]

    # -- inspection -------------------------------------------------------------------
    def bundles(self):
        base = os.path.join(self.dir, "state", "io.containerd.runtime.v2.task", self.namespace)
        try:
            return [os.path.join(base, b) for b in os.listdir(base) if not b.startswith(".")]
        except OSError:
            return []

    def shim_pids(self):
        """Pids of shim processes started for this containerd (any runtime)."""
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                with open(f"/proc/{p}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if not any(b"containerd-shim" in c or b"servin.shim._daemon" in c for c in cmd):
                continue
            if (self.sock + ".ttrpc").encode() in env or self.sock.encode() in b" ".join(cmd):
                pids.append(int(p))
        return pids

    def runtime_pids(self):
        """Processes whose command line names our temp dir (stuck runtime calls)."""
        me = os.getpid()
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == me:
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if self.dir.encode() in f.read():
                        out.append(int(p))
            except OSError:
                pass
        return out

    def mounts(self):
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if self.dir in line.split()[4]]

    def cgroups(self):
        found = []
        for ctrl in os.listdir("/sys/fs/cgroup"):
            p = os.path.join("/sys/fs/cgroup", ctrl, self.namespace)
            if os.path.isdir(p):
                found.append(p)
        p = os.path.join("/sys/fs/cgroup", self.namespace)
        if os.path.isdir(p) and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            found.append(p)
        return found

    # -- teardown ---------------------------------------------------------------------
    def cleanup_tasks(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        r = self.ctr("tasks", "ls", "-q", check=False)
        for t in r.stdout.decode().split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", t, check=False)
        for t in r.stdout.decode().split():
            self.ctr("tasks", "delete", "-f", t, check=False, timeout=20)
        r = self.ctr("containers", "ls", "-q", check=False)
        for c in r.stdout.decode().split():
            self.ctr("containers", "delete", c, check=False)

    def stop(self):
        try:
            self.cleanup_tasks()
        except Exception:
            pass
        pids = self.shim_pids()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids + self.shim_pids() + self.runtime_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Containers whose shim is gone: runtime state under the private roots.
        for root in _runc_roots(self.dir):
            for cid in os.listdir(root):
                subprocess.run([self.oci, "--root", root, "delete", "--force", cid],
                               capture_output=True, timeout=30)
        for m in sorted(self.mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for cg in self.cgroups():
            _kill_cgroup(cg)
            _rmdir_tree(cg)
        if hasattr(self, "log"):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _runc_roots(top):
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        if "state.json" in filenames:
            out.append(os.path.dirname(dirpath))
            dirnames[:] = []
    return sorted(set(out))


def _kill_cgroup(path):
    for dirpath, _, filenames in os.walk(path):
        if "cgroup.procs" in filenames:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    time.sleep(0.1)


def _rmdir_tree(path):
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
