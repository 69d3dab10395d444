"""`servin-runc features`: runtime-spec features.md, reporting only what is
implemented and usable on this host (STYLE.md item 13)."""
from . import _mountopts as mo
from ._plan import CAPS, NAMESPACES, host_caps
from ._seccomp import ACTIONS, ARCHES, FLAGS, OPERATORS

VERSION = "0.1.0"


def features():
    last, _ = host_caps()
    opts = sorted(set(mo.FLAGS) | set(mo.PROPAGATION) | set(mo.RECURSIVE) | {"idmap", "ridmap", "tmpcopyup"})
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": opts,
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": CAPS[: last + 1],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(ACTIONS),
                "operators": sorted(OPERATORS),
                "archs": ARCHES,
                "knownFlags": sorted(FLAGS) + ["SECCOMP_FILTER_FLAG_NEW_LISTENER"],
                "supportedFlags": sorted(FLAGS),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
        "annotations": {
            "io.github.servin.version": VERSION,
            "io.github.servin.child": "C (servin-init, run from a sealed memfd): clone to execve without Python",
            # read by containerd-shim-servin-v2 (shim/_runtime.py): this build
            # works under the shim, also in-process (the child sets ids with
            # raw system calls, so a fork from the threaded shim cannot hang)
            "io.github.servin.containerd-shim": "supported",
            "io.github.servin.shim-in-process": "supported",
            # config fields that features.md has no place for
            "io.github.servin.process.execCPUAffinity": "supported",
            "io.github.servin.linux.resources.memory.checkBeforeUpdate": "supported",
            # linux.resources.devices on cgroup v2 (an eBPF program)
            "io.github.servin.cgroup-v2-device-filter": _device_filter(),
        },
    }


def _device_filter():
    """The v2 device filter is "supported" only if this kernel lets this
    process load a BPF_PROG_TYPE_CGROUP_DEVICE program (one is loaded and
    closed); otherwise "unavailable: <why>"."""
    from servin import _native
    try:
        _native.device_filter(None, False, ())
    except OSError as e:
        return f"unavailable: {e.strerror}"
    return "supported"
