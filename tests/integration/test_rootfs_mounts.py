"""Root filesystem, mounts and devices (config.md "Root", "Mounts";
config-linux.md "Devices", "Default Devices", "Default Filesystems",
"Rootfs Mount Propagation", masked/readonly paths)."""

import os
import subprocess

import pytest

from .oci import mounts_at, runc_deviates

SLEEP = ["sleep", "1000"]


def run_ok(ctx, b):
    _, res = ctx.run(b)
    assert res.rc == 0, res
    return res.out


def host_dir(ctx, name, files=None):
    path = os.path.join(ctx.tmp, name)
    os.makedirs(path)
    for fname, text in (files or {}).items():
        with open(os.path.join(path, fname), "w") as f:
            f.write(text)
    return path


def host_mount(ctx, *argv):
    """Run mount(8) on the host; the mount is undone at teardown."""
    subprocess.run(["mount", *argv], check=True)
    ctx.defer(subprocess.run, ["umount", "-l", argv[-1]])


def container_mount(pid, path):
    rows = mounts_at(pid, path)
    assert rows, "%s is not a mount point in the container" % path
    return rows[-1]


# ------------------------------------------------------------------ root


def test_root_path_relative(ctx):
    b = ctx.bundle(["cat", "/marker"], readonly=False)
    with open(os.path.join(b.rootfs, "marker"), "w") as f:
        f.write("relative-root\n")
    assert b.config["root"]["path"] == "rootfs"
    assert run_ok(ctx, b) == "relative-root\n"


def test_root_path_absolute_outside_bundle(ctx):
    b = ctx.bundle(["cat", "/marker"])
    other = ctx.bundle(name="elsewhere")
    with open(os.path.join(other.rootfs, "marker"), "w") as f:
        f.write("absolute-root\n")
    b.config["root"]["path"] = other.rootfs
    assert run_ok(ctx, b) == "absolute-root\n"


def test_root_readonly(ctx):
    b = ctx.bundle(["sh", "-c", "touch /newfile 2>/dev/null && echo rw || "
                    "echo ro; awk '$5 == \"/\"' /proc/self/mountinfo"],
                   readonly=True)
    out = run_ok(ctx, b).splitlines()
    assert out[0] == "ro"
    assert "ro" in out[1].split()[5].split(",")
    assert not os.path.exists(os.path.join(b.rootfs, "newfile"))


def test_root_writable(ctx):
    b = ctx.bundle(["sh", "-c", "echo hi > /newfile && echo rw"],
                   readonly=False)
    assert run_ok(ctx, b) == "rw\n"
    with open(os.path.join(b.rootfs, "newfile")) as f:
        assert f.read() == "hi\n"


def test_rootfs_is_pivoted(ctx):
    # / is the rootfs: the same entries, the same mount root, and no way
    # up to the host's filesystem.
    b = ctx.bundle(["sh", "-c", "ls -a /; echo --; ls -a /..; echo --; "
                    "awk '$5 == \"/\" {print $4}' /proc/self/mountinfo"])
    top, up, root = run_ok(ctx, b).split("--\n")
    want = set(os.listdir(b.rootfs)) | {".", ".."}
    assert set(top.split()) == want
    assert set(up.split()) == want
    assert root.split() == [os.path.realpath(b.rootfs)]


# ---------------------------------------------------------------- mounts


def test_bind_mount_readonly_nosuid_nodev_noexec(ctx, rt):
    src = host_dir(ctx, "src", {"data": "host data\n",
                                "run.sh": "#!/bin/sh\necho ran\n"})
    os.chmod(os.path.join(src, "run.sh"), 0o755)
    b = ctx.bundle(["sh", "-c",
                    "cat /mnt/src/data; "
                    "touch /mnt/src/new 2>/dev/null && echo W || echo RO; "
                    "/mnt/src/run.sh 2>/dev/null || echo NOEXEC"])
    b.add_mount("/mnt/src", "bind", src,
                ["bind", "ro", "nosuid", "nodev", "noexec"])
    out = run_ok(ctx, b).splitlines()
    assert out == ["host data", "RO", "NOEXEC"]
    assert not os.path.exists(os.path.join(src, "new"))


def test_bind_mount_flags_in_mountinfo(ctx, rt):
    src = host_dir(ctx, "src")
    b = ctx.bundle(SLEEP)
    b.add_mount("/mnt/src", "bind", src,
                ["rbind", "ro", "nosuid", "nodev", "noexec"])
    cid, _ = ctx.create(b)
    m = container_mount(rt.state(cid)["pid"], "/mnt/src")
    for opt in ("ro", "nosuid", "nodev", "noexec"):
        assert opt in m["options"], m


def test_bind_mount_writable(ctx):
    src = host_dir(ctx, "src")
    b = ctx.bundle(["sh", "-c", "echo from-container > /data/out"])
    b.add_mount("/data", "none", src, ["bind", "rw"])
    run_ok(ctx, b)
    with open(os.path.join(src, "out")) as f:
        assert f.read() == "from-container\n"


def test_bind_mount_file(ctx):
    src = host_dir(ctx, "src", {"f.conf": "config file\n"})
    b = ctx.bundle(["cat", "/etc/my.conf"])
    b.add_mount("/etc/my.conf", "bind", os.path.join(src, "f.conf"),
                ["bind", "ro"])
    assert run_ok(ctx, b) == "config file\n"


def test_bind_vs_rbind_submounts(ctx):
    src = host_dir(ctx, "src")
    os.makedirs(os.path.join(src, "sub"))
    host_mount(ctx, "-t", "tmpfs", "tmpfs", os.path.join(src, "sub"))
    with open(os.path.join(src, "sub", "inner"), "w") as f:
        f.write("submount\n")
    b = ctx.bundle(["sh", "-c", "ls /bind/sub; echo --; ls /rbind/sub"])
    b.add_mount("/bind", "bind", src, ["bind"])
    b.add_mount("/rbind", "bind", src, ["rbind"])
    out = run_ok(ctx, b)
    assert out == "--\ninner\n"


@pytest.mark.parametrize("propagation,sees", [
    ("rslave", True), ("rshared", True), ("rprivate", False)])
def test_bind_mount_propagation(ctx, rt, propagation, sees):
    src = host_dir(ctx, "shared")
    host_mount(ctx, "--bind", src, src)
    subprocess.run(["mount", "--make-shared", src], check=True)
    os.makedirs(os.path.join(src, "late"))
    b = ctx.bundle(SLEEP)
    b.add_mount("/mnt/p", "bind", src, ["rbind", propagation])
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    m = container_mount(pid, "/mnt/p")
    tags = " ".join(m["optional"])
    if propagation == "rshared":
        assert "shared:" in tags, m
    elif propagation == "rslave":
        assert "master:" in tags and "shared:" not in tags, m
    else:
        assert tags == "", m
    # A mount made on the host afterwards propagates to slaves and peers.
    host_mount(ctx, "-t", "tmpfs", "late", os.path.join(src, "late"))
    seen = bool(mounts_at(pid, "/mnt/p/late"))
    assert seen == sees


ROOTFS_PROPAGATION_DEVIATES = runc_deviates(
    "config-linux.md Rootfs Mount Propagation: rootfsPropagation sets the "
    "propagation of the container's / mount; runc 1.1.5 leaves / private "
    "(and fails outright on 'unbindable')")


@pytest.mark.parametrize("propagation,tag", [
    pytest.param("shared", "shared:", marks=ROOTFS_PROPAGATION_DEVIATES),
    pytest.param("unbindable", "unbindable", marks=ROOTFS_PROPAGATION_DEVIATES),
    ("private", None)])
def test_rootfs_propagation(ctx, rt, propagation, tag):
    b = ctx.bundle(SLEEP)
    b.linux["rootfsPropagation"] = propagation
    cid, _ = ctx.create(b)
    root = container_mount(rt.state(cid)["pid"], "/")
    tags = " ".join(root["optional"])
    if tag:
        assert tag in tags, root
    else:
        assert tags == "", root


def test_tmpfs_size_and_mode(ctx, rt):
    b = ctx.bundle(["sh", "-c", "stat -c %a /mnt/t; df -k /mnt/t | tail -1"])
    b.add_mount("/mnt/t", "tmpfs", "tmpfs",
                ["nosuid", "nodev", "size=2m", "mode=1770"])
    out = run_ok(ctx, b).splitlines()
    assert out[0] == "1770"
    assert out[1].split()[1] == "2048"


def test_tmpfs_options_in_mountinfo(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.add_mount("/run/x", "tmpfs", "tmpfs",
                ["nosuid", "noexec", "size=512k", "mode=700", "uid=1000"])
    cid, _ = ctx.create(b)
    m = container_mount(rt.state(cid)["pid"], "/run/x")
    assert m["fstype"] == "tmpfs"
    assert "nosuid" in m["options"] and "noexec" in m["options"]
    assert "size=512k" in m["superopts"] and "mode=700" in m["superopts"]
    assert "uid=1000" in m["superopts"]


def test_mount_destination_created_with_parents(ctx, rt):
    b = ctx.bundle(["sh", "-c", "grep ' /a/b/c ' /proc/self/mountinfo | "
                    "cut -d' ' -f5"])
    b.add_mount("/a/b/c", "tmpfs", "tmpfs", [])
    assert run_ok(ctx, b) == "/a/b/c\n"


def test_mounts_applied_in_order(ctx):
    # A later mount on top of an earlier one's subdirectory.
    b = ctx.bundle(["sh", "-c", "stat -c %a /m; stat -c %a /m/inner"])
    b.add_mount("/m", "tmpfs", "tmpfs", ["mode=711"])
    b.add_mount("/m/inner", "tmpfs", "tmpfs", ["mode=700"])
    assert run_ok(ctx, b).split() == ["711", "700"]


def test_default_filesystems(ctx, rt):
    b = ctx.bundle(SLEEP)
    cid, _ = ctx.create(b)
    pid = rt.state(cid)["pid"]
    want = {"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs",
            "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue"}
    for path, fstype in want.items():
        assert container_mount(pid, path)["fstype"] == fstype, path
    assert "ro" in container_mount(pid, "/sys")["options"]
    pts = container_mount(pid, "/dev/pts")
    assert "ptmxmode=666" in pts["superopts"] and "gid=5" in pts["superopts"]
    assert {"nosuid", "nodev", "noexec"} <= set(
        container_mount(pid, "/dev/mqueue")["options"])


def test_proc_shows_the_container_pid_namespace(ctx):
    b = ctx.bundle(["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                    "ls /proc | grep -c '^[0-9]'"])
    out = run_ok(ctx, b).splitlines()
    assert out[0].startswith("sh -c")
    assert int(out[1]) <= 3  # sh, cat/ls, grep


def test_cgroup_mount_shows_own_cgroup(ctx, rt):
    b = ctx.bundle(["sh", "-c",
                    "for f in /sys/fs/cgroup/cgroup.procs "
                    "/sys/fs/cgroup/*/cgroup.procs; do "
                    "[ -e $f ] && echo \"$f $(grep -cx 1 $f) $(wc -l < $f)\"; "
                    "done; mkdir /sys/fs/cgroup/x 2>/dev/null || echo RO"])
    lines = run_ok(ctx, b).splitlines()
    assert lines[-1] == "RO"
    procs = [line.split() for line in lines[:-1]]
    assert procs, "no cgroup.procs under /sys/fs/cgroup"
    for path, has_init, count in procs:
        # pid 1 (our sh) is there, and only our few processes.
        assert has_init == "1", path
        assert int(count) <= 4, path


def test_mount_under_symlink_stays_in_rootfs(ctx):
    outside = host_dir(ctx, "outside")
    b = ctx.bundle(["sh", "-c", "grep -c ' tmpfs ' /proc/self/mountinfo; "
                    "stat -c %a " + outside + "/abs " + outside + "/rel"],
                   readonly=False)
    os.symlink(outside, os.path.join(b.rootfs, "abslink"))
    depth = b.rootfs.count("/")
    os.symlink("../" * (depth + 2) + outside.lstrip("/"),
               os.path.join(b.rootfs, "rellink"))
    b.add_mount("/abslink/abs", "tmpfs", "tmpfs", ["mode=701"])
    b.add_mount("/rellink/rel", "tmpfs", "tmpfs", ["mode=702"])
    _, res = ctx.run(b)
    assert not os.path.exists(os.path.join(outside, "abs")), \
        "mount target created outside the rootfs"
    assert not os.path.exists(os.path.join(outside, "rel")), \
        "mount target created outside the rootfs"
    assert os.listdir(outside) == []
    # Resolved as if the rootfs were /: both links lead to <rootfs><outside>.
    assert res.rc == 0, res
    assert res.out.split()[1:] == ["701", "702"]
    assert os.path.isdir(b.rootfs + outside + "/abs")


def test_masked_and_readonly_paths(ctx):
    b = ctx.bundle(["sh", "-c",
                    "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
                    "echo 1 > /proc/sys/kernel/domainname 2>/dev/null "
                    "&& echo W || echo RO"])
    b.linux["maskedPaths"] = ["/proc/timer_list", "/sys/firmware"]
    b.linux["readonlyPaths"] = ["/proc/sys"]
    b.process["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    b.process["capabilities"]["effective"].append("CAP_SYS_ADMIN")
    b.process["capabilities"]["permitted"].append("CAP_SYS_ADMIN")
    assert run_ok(ctx, b).split() == ["0", "0", "RO"]


# --------------------------------------------------------------- devices


DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7),
                   "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
             "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
             "ptmx": "pts/ptmx"}


def test_default_devices(ctx):
    names = " ".join("/dev/" + n for n in DEFAULT_DEVICES)
    b = ctx.bundle(["sh", "-c", "stat -c '%n %F %t %T %a' " + names +
                    "; head -c 4 /dev/zero | wc -c; echo x > /dev/null; "
                    "echo x > /dev/full 2>/dev/null || echo FULL"])
    lines = run_ok(ctx, b).splitlines()
    for line, (name, (major, minor)) in zip(lines, DEFAULT_DEVICES.items()):
        path, kind, rest = line.split(" ", 2)
        assert path == "/dev/" + name
        assert kind.startswith("character")
        maj, mnr, mode = rest.split()[-3:]
        assert (int(maj, 16), int(mnr, 16)) == (major, minor), line
        assert mode == "666", line
    assert lines[-2:] == ["4", "FULL"]


def test_dev_symlinks(ctx):
    names = " ".join("/dev/" + n for n in DEV_LINKS)
    b = ctx.bundle(["sh", "-c", "for l in " + names +
                    "; do echo $l $(readlink $l); done"])
    lines = run_ok(ctx, b).splitlines()
    got = dict(line.split() for line in lines)
    assert got == {"/dev/" + k: v for k, v in DEV_LINKS.items()}


def test_linux_devices(ctx):
    b = ctx.bundle(["sh", "-c", "stat -c '%F %t %T %a %u %g' /dev/mynull "
                    "/dev/sub/mydisk"])
    b.linux["devices"] = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
         "fileMode": 0o640, "uid": 1000, "gid": 100},
        {"path": "/dev/sub/mydisk", "type": "b", "major": 7, "minor": 200,
         "fileMode": 0o600, "uid": 0, "gid": 0},
    ]
    lines = run_ok(ctx, b).splitlines()
    assert lines[0].startswith("character")
    assert lines[0].split()[-5:] == ["1", "3", "640", "1000", "100"]
    assert lines[1].startswith("block")
    assert lines[1].split()[-5:] == ["7", "c8", "600", "0", "0"]


def test_device_cgroup_allow_list(ctx):
    # config-linux.md "Allowed Device list".  240 is a local/experimental
    # major with no driver: open() of an allowed node fails with ENXIO,
    # of a denied one with EPERM from the device cgroup.
    b = ctx.bundle(["sh", "-c", "head -c1 /dev/denied; head -c1 /dev/allowed"])
    b.linux["devices"] = [
        {"path": "/dev/denied", "type": "c", "major": 240, "minor": 0},
        {"path": "/dev/allowed", "type": "c", "major": 240, "minor": 1}]
    b.linux["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 240, "minor": 1,
         "access": "rwm"})
    _, res = ctx.run(b)
    lines = res.err_lines
    assert len(lines) == 2, res
    assert "/dev/denied" in lines[0] and "not permitted" in lines[0]
    assert "/dev/allowed" in lines[1] and "No such device" in lines[1]


def test_devices_never_replace_files_in_a_bind_mounted_dev(ctx, tmp_path):
    """With /dev bound from a host directory, linux.devices must not touch
    it: no file there is replaced (servin-runc unlinked it and made the
    node until 2026-11-22, which is how the host's /dev/null once became
    mode 0755), no node is added.  runc skips device setup there too."""
    hostdev = tmp_path / "hostdev"
    hostdev.mkdir()
    (hostdev / "null").write_text("keep")
    b = ctx.bundle(["sh", "-c", "cat /dev/null; echo; ls /dev"])
    b.config["mounts"] = [m for m in b.config["mounts"] if not m["destination"].startswith("/dev")]
    b.add_mount("/dev", "bind", str(hostdev), ["rbind", "rw"])
    b.linux["devices"] = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o755},
                          {"path": "/dev/servin-new", "type": "c", "major": 1, "minor": 5}]
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.split() == ["keep", "null"], res
    assert (hostdev / "null").read_text() == "keep"
    assert sorted(os.listdir(hostdev)) == ["null"]


def test_an_existing_file_at_a_device_path_is_kept(ctx):
    """No /dev tmpfs: the rootfs's own file at a device path stays as it
    is (as runc does), rather than being unlinked from the user's rootfs."""
    b = ctx.bundle(["true"], readonly=False)
    b.config["mounts"] = [m for m in b.config["mounts"] if not m["destination"].startswith("/dev")]
    path = os.path.join(b.rootfs, "dev", "servin-kept")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("mine")
    b.linux["devices"] = [{"path": "/dev/servin-kept", "type": "c", "major": 1, "minor": 3}]
    _, res = ctx.run(b)
    assert res.rc == 0, res
    with open(path) as f:
        assert f.read() == "mine"
