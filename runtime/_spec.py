"""The default config.json: what ``servin-runc spec`` writes.

``default_spec()`` returns the same document ``runc spec`` (runc 1.1.5)
writes, as a fresh dict, with these deliberate differences:

- ``ociVersion`` is ``"1.2.0"`` (runc writes ``"1.0.2-dev"``): servin
  targets runtime-spec 1.2 and says so.
- ``hostname`` is ``"servin"`` (runc writes ``"runc"``).
- ``linux.seccomp`` is added when ``with_seccomp=True``: the profile in
  ``data/seccomp-default.json`` (see ``data/gen-seccomp.py`` for what it
  allows and why).  Off by default until the runtime applies seccomp.

Everything else -- process, capabilities, rlimits, mounts, masked and
read-only paths, namespaces, the device cgroup rule, and the rootless
rewrite -- is runc's, field for field, so a bundle made by either tool
runs the same way under both.

The rootless variant (``rootless=True``) is runc's ``spec --rootless``:
a user namespace mapping container root to the calling user's euid/egid
(one id each), no network namespace (an unprivileged user cannot set one
up usefully), ``/sys`` bind-mounted read-only from the host instead of a
fresh sysfs (sysfs can't be mounted without owning the network
namespace), no ``gid=5`` on devpts (gid 5 is not mapped), and no
``linux.resources`` (cgroups may not be delegated).

Hot path: this module imports only ``json`` and ``os``; the seccomp
profile is read from disk only when asked for.
"""
import json
import os

__all__ = ["OCI_VERSION", "SECCOMP_PROFILE_PATH", "default_spec", "default_seccomp"]

OCI_VERSION = "1.2.0"

SECCOMP_PROFILE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "data", "seccomp-default.json")

_CAPS = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")

_MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)

_READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# The raw bytes of the seccomp profile, read once on first use.
_seccomp_text = None


def _mounts(rootless):
    devpts_opts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts_opts.append("gid=5")
    if rootless:
        sys_mount = {"destination": "/sys", "type": "none", "source": "/sys",
                     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    else:
        sys_mount = {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                     "options": ["nosuid", "noexec", "nodev", "ro"]}
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": devpts_opts},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        sys_mount,
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]


def default_seccomp():
    """Return the default seccomp profile (runtime-spec ``linux.seccomp``).

    A fresh dict on every call; the file is read once.
    """
    global _seccomp_text
    if _seccomp_text is None:
        with open(SECCOMP_PROFILE_PATH, "rb") as f:
            _seccomp_text = f.read()
    return json.loads(_seccomp_text)


def default_spec(rootless: bool = False, *, with_seccomp: bool = False) -> dict:
    """Return the default config.json as a new dict (see the module doc)."""
    caps = list(_CAPS)
    linux = {}
    if rootless:
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        namespaces = ["pid", "ipc", "uts", "mount", "user"]
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
        namespaces = ["pid", "network", "ipc", "uts", "mount"]
    linux["namespaces"] = [{"type": t} for t in namespaces]
    linux["maskedPaths"] = list(_MASKED_PATHS)
    linux["readonlyPaths"] = list(_READONLY_PATHS)
    if with_seccomp:
        linux["seccomp"] = default_seccomp()
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": list(caps),
                "effective": list(caps),
                "permitted": list(caps),
                "ambient": list(caps),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "servin",
        "mounts": _mounts(rootless),
        "linux": linux,
    }
