"""Rootless mode: servin-runc run by a user who is not root.

What changes (docs/runtime.md, "Rootless"):

- ``enabled()``: ``--rootless auto`` (the default) means "the effective
  uid is not 0"; ``true``/``false`` force it either way (runc's flag).
- ``default_root()``: ``$XDG_RUNTIME_DIR/servin``; without
  XDG_RUNTIME_DIR, ``/tmp/servin-<uid>``, made 0700 and refused unless it
  is a directory owned by the caller (another user could pre-create it).
- ``id_map_plan()`` / ``write_id_maps()``: an unprivileged parent may
  write only a one-line map of its own euid (egid), and for gid_map only
  after writing ``deny`` to /proc/<pid>/setgroups; any other map goes
  through the setuid helpers newuidmap/newgidmap (Debian's ``uidmap``),
  which check the ranges against /etc/subuid and /etc/subgid.
- cgroups (``_cgroups.manager_for``): used only where every hierarchy's
  target is writable (delegated); otherwise none, and linux.resources is
  skipped with a warning, as runc does.

Hot path: imports only os (shutil/subprocess when a helper runs).
"""
import os

from ._errors import ConfigError, SystemError_

MODES = ("auto", "true", "false")
_mode = "auto"


def set_mode(value):
    global _mode
    value = (value or "auto").lower()
    if value not in MODES:
        raise ConfigError(f"--rootless {value!r}: must be auto, true or false")
    _mode = value


def enabled():
    if _mode == "auto":
        return os.geteuid() != 0
    return _mode == "true"


def unprivileged():
    """The kernel's view: the rules for id maps depend on the euid, not
    on the flag."""
    return os.geteuid() != 0


def default_root():
    """The state directory when --root is not given and we are rootless."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "servin")
    uid = os.geteuid()
    path = f"/tmp/servin-{uid}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise SystemError_(f"rootless state directory {path} (XDG_RUNTIME_DIR is unset)", errno=e.errno) from None
    st = os.lstat(path)
    import stat
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022:
        raise ConfigError(f"rootless state directory {path} (XDG_RUNTIME_DIR is unset) is not a directory "
                          f"owned by uid {uid} and writable only by it; set XDG_RUNTIME_DIR or pass --root")
    return path


# -- user namespace id maps --------------------------------------------

def _own_single(m, own):
    return len(m) == 1 and m[0][1] == own and m[0][2] == 1


def id_map_plan(uid_map, gid_map):
    """How the parent will write the maps: (uid_helper, gid_helper,
    setgroups_deny).  A helper is the path of newuidmap/newgidmap, or
    None for a direct write."""
    if not unprivileged():
        return None, None, False
    uid_helper = gid_helper = None
    if not _own_single(uid_map, os.geteuid()):
        uid_helper = _helper("newuidmap", "linux.uidMappings", uid_map)
    if not _own_single(gid_map, os.getegid()):
        gid_helper = _helper("newgidmap", "linux.gidMappings", gid_map)
    # the kernel lets an unprivileged process write its own gid only once
    # setgroups is denied in the namespace
    return uid_helper, gid_helper, gid_helper is None


def _helper(name, field, m):
    import shutil
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        text = ", ".join(f"{c}:{h}:{s}" for c, h, s in m)
        raise ConfigError(f"{field} [{text}]: as a non-root user only your own id can be mapped directly; "
                          f"other ranges need {name} (Debian package uidmap) and /etc/sub{name[3:6]} entries")
    return path


def write_id_maps(pid, uid_map, gid_map, uid_helper=None, gid_helper=None, setgroups_deny=False):
    def text(m):
        return "".join(f"{c} {h} {s}\n" for c, h, s in m)
    if uid_helper:
        _run_helper(uid_helper, pid, uid_map)
    else:
        _write(pid, "uid_map", text(uid_map))
    if setgroups_deny:
        _write(pid, "setgroups", "deny")
    if gid_helper:
        _run_helper(gid_helper, pid, gid_map)
    else:
        _write(pid, "gid_map", text(gid_map))


def _write(pid, name, data):
    try:
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(data)
    except OSError as e:
        what = {"setgroups": "deny setgroups in the user namespace"}.get(name, f"write the user namespace {name}")
        raise SystemError_(f"{what} (/proc/{pid}/{name})", errno=e.errno) from None


def _run_helper(helper, pid, m):
    import subprocess
    argv = [helper, str(pid)] + [str(x) for entry in m for x in entry]
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        raise SystemError_(f"{os.path.basename(helper)}: {e}") from None
    if res.returncode != 0:
        out = res.stdout.decode(errors="replace").strip().replace("\n", "; ")
        raise SystemError_(f"{' '.join(argv)}: {out or 'exit status %d' % res.returncode}")


# -- limits an unprivileged user cannot raise ----------------------------

def check_rlimits(rlimits, names):
    """rlimits: [(resource, soft, hard)].  Raising a hard limit needs
    CAP_SYS_RESOURCE in the host's user namespace, which we lack."""
    import resource
    inf = resource.RLIM_INFINITY
    for i, (res, soft, hard) in enumerate(rlimits):
        _, cur_hard = resource.getrlimit(res)
        if cur_hard != inf and hard > cur_hard:
            raise ConfigError(f"process.rlimits[{i}] {names.get(res, res)}: hard limit {hard} is above the "
                              f"current hard limit {cur_hard}; a rootless runtime cannot raise it")

