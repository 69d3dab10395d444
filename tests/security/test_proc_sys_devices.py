"""The default spec's masked and read-only paths hold, device nodes not in
the config can be neither made nor opened, and with noNewPrivileges a
setuid-root binary gains nothing."""

import os
import shutil
import stat

import pytest

from .conftest import parse_probe

pytestmark = pytest.mark.container

# read-only in the default spec (and /sys is mounted ro): opened O_WRONLY
# by probe, which never writes
READONLY_FILES = [
    "/proc/sys/kernel/hostname",
    "/proc/sys/vm/drop_caches",
    "/proc/sysrq-trigger",
    "/proc/sys/kernel/core_pattern",
    "/sys/kernel/uevent_helper",
    "/sys/kernel/mm/transparent_hugepage/enabled",
]
MASKED_FILES = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/latency_stats",
                "/proc/sched_debug"]
MASKED_DIRS = ["/proc/acpi", "/proc/scsi", "/sys/firmware", "/proc/asound"]


def _run(ctx, b):
    _, res = ctx.run(b)
    assert res.rc == 0, res
    return res.out


def test_readonly_paths_refuse_writes(ctx):
    paths = [p for p in READONLY_FILES if os.path.exists(p)]
    b = ctx.bundle(args=["/probe", "open-w", *paths])
    lines = parse_probe(_run(ctx, b))
    got = {w[1]: w[2] for w in lines if w[0] == "open-w"}
    assert sorted(got) == sorted(paths), lines
    opened = [p for p, r in got.items() if r == "ok"]
    assert not opened, "opened for writing: %s" % opened


def test_masked_paths_show_nothing(ctx):
    files = [p for p in MASKED_FILES if os.path.exists(p)]
    dirs = [p for p in MASKED_DIRS if os.path.isdir(p)]
    script = "".join('echo "F %s $(cat %s 2>/dev/null | wc -c)";' % (p, p) for p in files)
    script += "".join('echo "D %s $(ls -A %s 2>/dev/null | wc -l)";' % (p, p) for p in dirs)
    b = ctx.bundle(args=["sh", "-c", script])
    out = _run(ctx, b)
    seen = [line.split() for line in out.splitlines()]
    assert len(seen) == len(files) + len(dirs), out
    for kind, path, count in seen:
        assert count == "0", "%s %s shows %s %s" % (
            "file" if kind == "F" else "directory", path, count,
            "bytes" if kind == "F" else "entries")


def test_protections_cannot_be_undone_from_inside(ctx):
    script = ("mount -o remount,rw /proc/sys 2>/dev/null && echo REMOUNTED-PROC-SYS;"
              "umount /proc/kcore 2>/dev/null && echo UNMASKED-KCORE;"
              "umount -l /proc/sys 2>/dev/null && echo UNMOUNTED-PROC-SYS;"
              "mount -t proc proc /mnt 2>/dev/null && echo NEW-PROC;"
              "mount -o remount,rw /sys 2>/dev/null && echo REMOUNTED-SYS;"
              "echo end")
    b = ctx.bundle(args=["sh", "-c", script])
    assert _run(ctx, b).split() == ["end"]


def test_mknod_without_cap_mknod_fails(ctx):
    script = ("mknod /tmp/sda b 8 0 2>/dev/null && echo MADE-BLOCK;"
              "mknod /dev/mem2 c 1 1 2>/dev/null && echo MADE-MEM;"
              "mknod /tmp/kmsg c 1 11 2>/dev/null && echo MADE-KMSG;"
              "echo end")
    b = ctx.bundle(args=["sh", "-c", script], readonly=False)
    assert _run(ctx, b).split() == ["end"]


def test_device_cgroup_denies_nodes_the_host_left_in_the_rootfs(ctx):
    """Nodes made on the rootfs by the host (a hostile image) can't be
    opened: the device cgroup denies what linux.resources.devices does
    not allow.  Without the cgroup, /dev/kmsg opens for writing and an
    unused major gives ENXIO/ENODEV, not EPERM."""
    b = ctx.bundle(args=["/probe", "open-w", "/kmsg", "/nodev42"], readonly=False)
    os.mknod(os.path.join(b.rootfs, "kmsg"), stat.S_IFCHR | 0o666, os.makedev(1, 11))
    os.mknod(os.path.join(b.rootfs, "nodev42"), stat.S_IFCHR | 0o666, os.makedev(42, 0))
    lines = parse_probe(_run(ctx, b))
    got = {w[1]: w[2] for w in lines if w[0] == "open-w"}
    assert got == {"/kmsg": "E1", "/nodev42": "E1"}, lines


def test_allowed_devices_still_work(ctx):
    b = ctx.bundle(args=["/probe", "open-w", "/dev/null", "/dev/zero", "/dev/full"])
    lines = parse_probe(_run(ctx, b))
    assert all(w[2] == "ok" for w in lines if w[0] == "open-w") and len(lines) == 3, lines


def _setuid_probe(b, probe_binary):
    dest = os.path.join(b.rootfs, "suid-probe")
    shutil.copy(probe_binary, dest)
    os.chown(dest, 0, 0)
    os.chmod(dest, 0o4755)


@pytest.mark.parametrize("nnp", [True, False])
def test_setuid_binary_with_no_new_privileges(ctx, probe_binary, nnp):
    """As uid 1000, a setuid-root copy of probe prints geteuid(): 1000 with
    noNewPrivileges, 0 without (the control: setuid works on this rootfs)."""
    b = ctx.bundle(args=["/suid-probe", "euid"])
    _setuid_probe(b, probe_binary)
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["noNewPrivileges"] = nnp
    out = _run(ctx, b).strip()
    assert out == ("uid=1000 euid=1000" if nnp else "uid=1000 euid=0"), out
