"""Mount options of config.json, as runc accepts them, mapped to mount(2).

parse(options) -> MountOpts with:
    flags      MS_* to set
    clear      MS_* the options cleared (rw, suid, dev, exec, ...)
    props      propagation changes, in order
    attr_set / attr_clr   MOUNT_ATTR_* for the recursive "r*" options
    data       the remaining options, comma-joined, for the filesystem
    extensions idmap/ridmap/tmpcopyup

copyup(opts) -> the SRV_COPYUP_* bits of a tmpfs mount's tmpcopyup.
"""
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# option -> (set, clear)
FLAGS = {
    "async": (0, MS_SYNCHRONOUS),
    "atime": (0, MS_NOATIME),
    "bind": (MS_BIND, 0),
    "defaults": (0, 0),
    "dev": (0, MS_NODEV),
    "diratime": (0, MS_NODIRATIME),
    "dirsync": (MS_DIRSYNC, 0),
    "exec": (0, MS_NOEXEC),
    "iversion": (MS_I_VERSION, 0),
    "lazytime": (MS_LAZYTIME, 0),
    "loud": (0, MS_SILENT),
    "mand": (MS_MANDLOCK, 0),
    "noatime": (MS_NOATIME, 0),
    "nodev": (MS_NODEV, 0),
    "nodiratime": (MS_NODIRATIME, 0),
    "noexec": (MS_NOEXEC, 0),
    "noiversion": (0, MS_I_VERSION),
    "nolazytime": (0, MS_LAZYTIME),
    "nomand": (0, MS_MANDLOCK),
    "norelatime": (0, MS_RELATIME),
    "nostrictatime": (0, MS_STRICTATIME),
    "nosuid": (MS_NOSUID, 0),
    "nosymfollow": (MS_NOSYMFOLLOW, 0),
    "rbind": (MS_BIND | MS_REC, 0),
    "relatime": (MS_RELATIME, 0),
    "remount": (MS_REMOUNT, 0),
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "silent": (MS_SILENT, 0),
    "strictatime": (MS_STRICTATIME, 0),
    "suid": (0, MS_NOSUID),
    "symfollow": (0, MS_NOSYMFOLLOW),
    "sync": (MS_SYNCHRONOUS, 0),
}

PROPAGATION = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# recursive mount attributes (mount_setattr): option -> (set, clear)
RECURSIVE = {
    "rro": (MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0),
    "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnorelatime": (0, MOUNT_ATTR__ATIME),
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
    "ratime": (0, MOUNT_ATTR_NOATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}

EXTENSIONS = ("idmap", "ridmap", "tmpcopyup")

# tmpcopyup, for the C child (csrc/srv.h enum srv_copyup)
COPYUP_CONTENTS = 1
COPYUP_MODE = 2
COPYUP_UID = 4
COPYUP_GID = 8


class MountOpts:
    __slots__ = ("flags", "clear", "props", "attr_set", "attr_clr", "data", "extensions")

    def __init__(self):
        self.flags = 0
        self.clear = 0
        self.props = []
        self.attr_set = 0
        self.attr_clr = 0
        self.data = []
        self.extensions = set()

    @property
    def is_bind(self):
        return bool(self.flags & MS_BIND)


def parse(options):
    o = MountOpts()
    for opt in options:
        if opt in FLAGS:
            s, c = FLAGS[opt]
            o.flags = (o.flags | s) & ~c
            o.clear |= c
        elif opt in PROPAGATION:
            o.props.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            s, c = RECURSIVE[opt]
            o.attr_set = (o.attr_set | s) & ~c
            o.attr_clr |= c
        elif opt in EXTENSIONS:
            o.extensions.add(opt)
        else:
            o.data.append(opt)
    return o


def copyup(o):
    """tmpcopyup: copy the covered directory into the tmpfs, and give the
    tmpfs root its mode, uid and gid unless an option sets them."""
    if "tmpcopyup" not in o.extensions:
        return 0
    given = {d.split("=", 1)[0] for d in o.data}
    bits = COPYUP_CONTENTS
    for key, bit in (("mode", COPYUP_MODE), ("uid", COPYUP_UID), ("gid", COPYUP_GID)):
        if key not in given:
            bits |= bit
    return bits
