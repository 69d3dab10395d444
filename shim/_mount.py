"""Mounting the rootfs containerd's snapshotter describes, and unmounting it.

The snapshotter hands the shim ``containerd.types.Mount`` records (overlay
with lowerdir/upperdir/workdir options, or a bind mount); the shim mounts
them on ``<bundle>/rootfs`` before creating the container, and unmounts
them after deleting it.  mount(2) is called directly (ctypes), as
containerd's mount package does.
"""
import ctypes
import errno
import os

__all__ = ["mount_all", "unmount_all"]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC = 16, 32, 64, 128
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 16384
MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 24
MNT_DETACH = 2

# option -> (clear?, flag)
FLAGS = {
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
    "nosuid": (False, MS_NOSUID), "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV), "dev": (True, MS_NODEV),
    "noexec": (False, MS_NOEXEC), "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC), "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME), "atime": (True, MS_NOATIME),
    "nodiratime": (False, MS_NODIRATIME), "diratime": (True, MS_NODIRATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME),
    "defaults": (False, 0),
}

_libc = None


def _mount(source, target, fstype, flags, data):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    rc = _libc.mount(source.encode() if source else None, target.encode(),
                     fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                     data.encode() if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {fstype} {source} on {target}: {os.strerror(e)}")


def parse_options(options):
    flags, data = 0, []
    for opt in options:
        f = FLAGS.get(opt)
        if f is None:
            data.append(opt)
        elif f[0]:
            flags &= ~f[1]
        else:
            flags |= f[1]
    return flags, ",".join(data)


def mount_all(mounts, target):
    """Mount containerd Mount records on ``target`` (in order)."""
    done = []
    try:
        for m in mounts:
            flags, data = parse_options(list(m.options))
            fstype = "" if flags & MS_BIND else m.type
            _mount(m.source, target, fstype, flags & ~MS_RDONLY if flags & MS_BIND else flags, data)
            done.append(target)
            if flags & MS_BIND and flags & MS_RDONLY:
                _mount("", target, "", flags | MS_REMOUNT, "")
    except BaseException:
        for _ in done:
            unmount_all(target)
        raise


def unmount_all(target):
    """Unmount everything stacked on ``target``; a no-op if nothing is."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(32):
        if _libc.umount2(target.encode(), MNT_DETACH) != 0:
            e = ctypes.get_errno()
            if e in (errno.EINVAL, errno.ENOENT):
                return
            raise OSError(e, f"umount {target}: {os.strerror(e)}")
