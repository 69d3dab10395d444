"""cgroups: one manager interface over v1, v2, hybrid and disabled layouts.

The layout is read from /proc/self/mountinfo:
    v1       only cgroup v1 hierarchies
    v2       only a cgroup2 mount (unified)
    hybrid   v1 hierarchies plus a cgroup2 mount (here /sys/fs/cgroup/unified)
    disabled no cgroup filesystem at all (or --cgroup-manager disabled)

A manager creates the container's cgroup in every hierarchy, remembers the
directories *it* created (so delete removes those and only those), puts a
pid in, finds the processes in it, and removes it.  Resource limits are
applied through apply(resources) (linux.resources).
"""
import errno
import os
import time

from ._errors import ConfigError, SystemError_

DEFAULT_PARENT = "servin"


class Hierarchy:
    __slots__ = ("name", "mountpoint", "root", "version")

    def __init__(self, name, mountpoint, root, version):
        self.name = name              # "memory", "cpu,cpuacct", "name=systemd", "" for v2
        self.mountpoint = mountpoint
        self.root = root              # the mount's root inside the hierarchy
        self.version = version

    @property
    def dirname(self):
        """The directory name under /sys/fs/cgroup inside the container."""
        if self.version == 2:
            return "unified"
        return self.name[5:] if self.name.startswith("name=") else self.name


def _unescape(s):
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def hierarchies():
    out = []
    with open("/proc/self/mountinfo", "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").splitlines()
    seen = set()
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(rfields) < 3:
            continue
        fstype = rfields[0]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        root, mnt = _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2":
            key = "2"
            h = Hierarchy("", mnt, root, 2)
        else:
            opts = rfields[2].split(",")
            names = [o for o in opts if o not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec",
                                                  "clone_children", "noprefix", "xattr")
                     and not o.startswith("release_agent=")]
            name = ",".join(names)
            key = name
            h = Hierarchy(name, mnt, root, 1)
        if key in seen:
            continue
        seen.add(key)
        out.append(h)
    return out


def own_cgroups(pid="self"):
    """This process's (or ``pid``'s) cgroup per hierarchy name (v2 under "")."""
    res = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hid, names, path = line.rstrip("\n").split(":", 2)
            if hid == "0":
                res[""] = path
            else:
                res[names] = path
    return res


def dir_in(h, path):
    """The directory of cgroup ``path`` (absolute in the hierarchy) under
    the mount of hierarchy ``h``."""
    rel = os.path.relpath(path, h.root) if path.startswith(h.root) else path.lstrip("/")
    if rel.startswith(".."):
        # the mount shows only part of the hierarchy (e.g. inside a
        # container): place the cgroup under what is visible
        rel = path.lstrip("/")
    return os.path.normpath(os.path.join(h.mountpoint, rel))


def dirs_of_pid(pid, hs=None):
    """{hierarchy dirname: directory} of the cgroups ``pid`` is in, keyed
    like :attr:`Manager.dirs` (what :mod:`._cgstats` reads)."""
    own = own_cgroups(pid)
    out = {}
    for h in hierarchies() if hs is None else hs:
        path = own.get(h.name if h.version == 1 else "")
        if path is not None:
            out[h.dirname] = dir_in(h, path)
    return out


def layout(hs):
    v1 = any(h.version == 1 and not h.name.startswith("name=") for h in hs)
    v2 = any(h.version == 2 for h in hs)
    if v1 and v2:
        return "hybrid"
    if v1:
        return "v1"
    if v2:
        return "v2"
    return "disabled"


def resolve_path(cgroups_path, cid):
    """cgroupsPath -> (path, is_relative).  Empty: /servin/<id>."""
    if not cgroups_path:
        return f"/{DEFAULT_PARENT}/{cid}", False
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise ConfigError(f"linux.cgroupsPath {cgroups_path!r}: the systemd slice:prefix:name form "
                          "needs systemd, which this host does not run")
    if ".." in cgroups_path.split("/"):
        raise ConfigError(f"linux.cgroupsPath {cgroups_path!r}: '..' is not allowed")
    return cgroups_path, not cgroups_path.startswith("/")


class Manager:
    """cgroupfs manager for v1, v2 and hybrid layouts."""

    why = ""          # Disabled: why there are no cgroups (linux.resources is then skipped)
    devices = None    # v2: the device list behind the BPF filter (_resources.device_exceptions)

    def __init__(self, path, relative=False, hs=None):
        self.hs = hierarchies() if hs is None else hs
        self.layout = layout(self.hs)
        self.path = path
        self.relative = relative
        self.dirs = {}        # hierarchy dirname -> absolute dir
        self.created = []     # directories made by us, parents first
        own = own_cgroups() if relative else {}
        for h in self.hs:
            if relative:
                base = own.get(h.name if h.version == 1 else "", "/")
                full = os.path.join(base, path)
            else:
                full = path
            self.dirs[h.dirname] = dir_in(h, full)

    @classmethod
    def from_state(cls, st):
        m = cls.__new__(cls)
        m.hs = []
        m.layout = st.get("layout", "disabled")
        m.path = st.get("path", "")
        m.relative = False
        m.dirs = dict(st.get("dirs", {}))
        m.created = list(st.get("created", []))
        m.devices = st.get("devices")
        return m

    def to_state(self):
        st = {"layout": self.layout, "path": self.path, "dirs": self.dirs, "created": self.created}
        if self.devices is not None:
            st["devices"] = self.devices
        return st

    # -- lifecycle -------------------------------------------------------
    def create(self):
        for name, d in self.dirs.items():
            self._mkdirs(d, name)

    def _mkdirs(self, d, name):
        # another container's delete may remove the shared default parent
        # between our look and our mkdir: walk again when a parent vanishes
        for attempt in range(10):
            missing = []
            p = d
            while not os.path.isdir(p):
                missing.append(p)
                p = os.path.dirname(p)
            try:
                for q in reversed(missing):
                    try:
                        os.mkdir(q, 0o755)
                    except FileExistsError:
                        continue
                    self.created.append(q)
                break
            except FileNotFoundError:
                if attempt == 9:
                    raise SystemError_(f"create cgroup {d}: a parent keeps vanishing") from None
            except OSError as e:
                raise SystemError_(f"create cgroup {q}", errno=e.errno) from None
        if name == "cpuset":
            # a new v1 cpuset is empty and takes no task: fill every level
            # from its parent (a level another runtime made may be empty too)
            self._fill_cpuset(d)

    def _fill_cpuset(self, d):
        chain = []
        p = d
        while os.path.exists(os.path.join(os.path.dirname(p), "cpuset.cpus")) and p != os.path.dirname(p):
            chain.append(p)
            p = os.path.dirname(p)
        for q in reversed(chain):
            for f in ("cpuset.cpus", "cpuset.mems"):
                try:
                    with open(os.path.join(q, f)) as cur:
                        if cur.read().strip():
                            continue
                    with open(os.path.join(os.path.dirname(q), f)) as src:
                        v = src.read().strip()
                    with open(os.path.join(q, f), "w") as dst:
                        dst.write(v)
                except OSError:
                    pass

    # -- resources (linux.resources) --------------------------------------
    def apply(self, res):
        """Write linux.resources into the new cgroup (create).  A field
        whose controller this host lacks is an error naming the field.
        The device list is applied even without linux.resources: the
        default allow list, everything else denied."""
        from ._resources import apply
        apply(self, res or {}, initial=True)

    def add(self, pid):
        for name, d in self.dirs.items():
            try:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except OSError as e:
                raise SystemError_(f"add pid {pid} to cgroup {d}", errno=e.errno) from None

    def pids(self):
        """Processes in the container's cgroup (and its sub-cgroups)."""
        d = self._pid_dir()
        if not d:
            return []
        pids = []
        for dirpath, _, files in os.walk(d):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids += [int(x) for x in f.read().split()]
            except OSError:
                continue
        return pids

    def _pid_dir(self):
        for key in ("pids", "memory", "cpu", "unified", "devices", "freezer", "systemd"):
            d = self.dirs.get(key)
            if d and os.path.isdir(d):
                return d
        for d in self.dirs.values():
            if os.path.isdir(d):
                return d
        return None

    def freezer_state_file(self):
        if "freezer" in self.dirs:
            return os.path.join(self.dirs["freezer"], "freezer.state")
        if self.layout == "v2" and "unified" in self.dirs:
            return os.path.join(self.dirs["unified"], "cgroup.freeze")
        return None

    def destroy(self, timeout=5.0):
        """rmdir what we created, deepest first; wait for exiting tasks."""
        deadline = time.monotonic() + timeout
        own = set(self.dirs.values())
        for d in sorted(self.created, key=len, reverse=True):
            if d in own:
                # the container's cgroup, with any sub-cgroups made in it
                self._rmdir_tree(d, deadline)
            else:
                # a parent we made (e.g. /servin): it may hold other
                # containers' cgroups by now - only ever remove it empty
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        # the shared default parent (/servin) is runtime-owned: remove it
        # once the last container under it is gone
        if not self.relative and self.path.startswith(f"/{DEFAULT_PARENT}/"):
            for d in self.dirs.values():
                try:
                    os.rmdir(os.path.dirname(d))
                except OSError:
                    pass

    def _rmdir_tree(self, d, deadline):
        if not os.path.isdir(d):
            return
        for entry in os.scandir(d):
            if entry.is_dir(follow_symlinks=False):
                self._rmdir_tree(entry.path, deadline)
        while True:
            try:
                os.rmdir(d)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise SystemError_(f"remove cgroup {d}", errno=e.errno) from None
                time.sleep(0.005)


    def writable(self):
        """Can we make (or use) the cgroup in every hierarchy?  Rootless:
        only where the tree is delegated to us."""
        for d in self.dirs.values():
            p = d
            while not os.path.isdir(p):
                p = os.path.dirname(p)
            if not os.access(p, os.W_OK) or (p == d and not os.access(os.path.join(d, "cgroup.procs"), os.W_OK)):
                return False
        return True


class Disabled(Manager):
    """No cgroups: no cgroup filesystem on this host, or (rootless) none
    delegated to us."""

    def __init__(self, why=""):
        self.hs, self.layout, self.path, self.relative = [], "disabled", "", False
        self.dirs, self.created = {}, []
        self.why = why


def manager_for(cgroups_path, cid):
    hs = hierarchies()
    if not hs:
        return Disabled("this host has no cgroup filesystem")
    path, relative = resolve_path(cgroups_path, cid)
    m = Manager(path, relative, hs)
    from ._rootless import enabled
    if enabled() and not m.writable():
        # runc: a rootless container without delegated cgroups runs without
        return Disabled("rootless, and the cgroup tree is not delegated to this user (not writable)")
    return m
