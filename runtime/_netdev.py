"""linux.netDevices: host interfaces moved into the container's network
namespace (renamed when "name" is given) after the init is cloned, and
moved back under their host names on delete while the namespace still
exists.  iproute2 does the netlink work (`ip link set DEV netns PID name
NEW` moves and renames in one request)."""
import os

from ._errors import ConfigError, SystemError_

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
NSENTER = "/usr/bin/nsenter"


def parse(linux, namespaces):
    devs = linux.get("netDevices")
    if devs is None:
        return {}
    if not isinstance(devs, dict):
        raise ConfigError("linux.netDevices: must be an object")
    if devs and "network" not in namespaces:
        raise ConfigError("linux.netDevices: needs a network namespace in linux.namespaces "
                          "(the devices may not stay in the host's)")
    out = {}
    for host, spec in devs.items():
        f = f"linux.netDevices[{host!r}]"
        _check_name(host, f)
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{f}: must be an object")
        name = spec.get("name") or host
        _check_name(name, f + ".name")
        if not os.path.exists(f"/sys/class/net/{host}"):
            raise ConfigError(f"{f}: no network interface {host!r} on the host")
        out[host] = name
    return out


def _check_name(n, field):
    if not isinstance(n, str) or not 0 < len(n) <= 15 or n in (".", "..") or any(
            c in n for c in "/: \t\n\0"):
        raise ConfigError(f"{field}: {n!r} is not a valid interface name")


def _run(argv):
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(argv[0], argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                             file_actions=[(os.POSIX_SPAWN_DUP2, w, 2), (os.POSIX_SPAWN_DUP2, w, 1)])
    except OSError as e:
        os.close(r)
        os.close(w)
        return 127, e.strerror
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        out += chunk
    os.close(r)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), out.decode(errors="replace").strip()


def pin(pid, path):
    """Keep the container's network namespace alive at path (a bind mount
    of /proc/<pid>/ns/net, as `ip netns` does), so the user's interfaces
    can be moved back even after the container's processes are gone."""
    from servin import _native
    open(path, "w").close()
    try:
        _native.bind_mount(f"/proc/{pid}/ns/net", path)
    except OSError as e:
        os.unlink(path)
        raise SystemError_("linux.netDevices: pin the network namespace", errno=e.errno) from None


def unpin(path):
    from servin import _native
    try:
        _native.umount(path)
    except OSError:
        pass
    try:
        os.unlink(path)
    except OSError:
        pass


def move_in(devs, pid):
    for host, name in devs.items():
        rc, err = _run([IP, "link", "set", "dev", host, "netns", str(pid), "name", name])
        if rc != 0:
            raise SystemError_(f"linux.netDevices: move {host} into the container as {name}: {err}")


def move_out(devs, netns):
    """Back to the runtime's namespace under the host names, from the
    pinned namespace file netns (best effort: returns the errors)."""
    errors = []
    for host, name in devs.items():
        rc, err = _run([NSENTER, f"--net={netns}", IP, "link", "set", "dev", name,
                        "netns", str(os.getpid()), "name", host])
        if rc != 0:
            errors.append(f"move {name} back to the host as {host}: {err}")
    return errors
