"""The ``tmpcopyup`` mount option (config.md "Mounts": a crun/runc
extension listed among the runtime-spec's Linux mount options): a tmpfs
mounted over a directory of the rootfs starts with a copy of what it
covers.  The copy is the container's own: writes land in the tmpfs, the
rootfs is untouched, and a symlink is copied as a symlink, never followed
out of the rootfs."""

import os

from .oci import mounts_at, stricter_than_runc

SLEEP = ["sleep", "1000"]
T_FILE = 1000000000     # 2001-09-09, mtimes the copy must keep
T_DIR = 1100000000


def covered_tree(rootfs):
    """/data in the rootfs: a file, a nested directory, symlinks and a fifo,
    with owners and modes that are not the defaults."""
    data = os.path.join(rootfs, "data")
    os.makedirs(os.path.join(data, "sub", "deep"))
    with open(os.path.join(data, "f"), "w") as f:
        f.write("hello\n")
    os.chown(os.path.join(data, "f"), 1000, 100)
    os.chmod(os.path.join(data, "f"), 0o604)
    with open(os.path.join(data, "sub", "deep", "g"), "w") as f:
        f.write("deep\n")
    os.chmod(os.path.join(data, "sub", "deep", "g"), 0o644)
    os.chown(os.path.join(data, "sub"), 1000, 1000)
    os.chmod(os.path.join(data, "sub"), 0o751)
    os.symlink("/etc/passwd", os.path.join(data, "link"))
    os.symlink("../../../../..", os.path.join(data, "up"))
    os.utime(os.path.join(data, "f"), (T_FILE, T_FILE))
    os.utime(os.path.join(data, "sub"), (T_DIR, T_DIR))
    return data


def stat_lines(out):
    """``stat -c '%n %a %u %g %F %Y'`` output -> {name: (mode, uid, gid, type, mtime)}"""
    rows = {}
    for line in out.splitlines():
        name, mode, uid, gid, rest = line.split(" ", 4)
        kind, mtime = rest.rsplit(" ", 1)
        rows[name] = (mode, int(uid), int(gid), kind, int(mtime))
    return rows


STAT = "stat -c '%n %a %u %g %F %Y' "


def test_tmpcopyup_copies_the_covered_directory(ctx):
    # read-only rootfs, writable tmpfs with the image's files: podman's
    # --read-only /tmp, /run, /var/tmp
    b = ctx.bundle(["sh", "-c",
                    "grep ' /data ' /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1; "
                    + STAT + "/data/f /data/sub /data/sub/deep /data/sub/deep/g /data/link; "
                    "readlink /data/link; readlink /data/up; cat /data/f /data/sub/deep/g; "
                    "echo new > /data/new && cat /data/new; ls -a /data | tr '\\n' ' '"])
    data = covered_tree(b.rootfs)
    before = sorted(os.listdir(data))
    b.add_mount("/data", "tmpfs", "tmpfs", ["nosuid", "nodev", "tmpcopyup"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert lines[0] == "tmpfs"
    st = stat_lines("\n".join(lines[1:6]))
    assert st["/data/f"][:4] == ("604", 1000, 100, "regular file")
    assert st["/data/sub"][:4] == ("751", 1000, 1000, "directory")
    assert st["/data/sub/deep"][3] == "directory"
    assert st["/data/sub/deep/g"][:4] == ("644", 0, 0, "regular file")
    assert st["/data/link"][3] == "symbolic link"
    assert lines[6:8] == ["/etc/passwd", "../../../../.."]
    assert lines[8:11] == ["hello", "deep", "new"]
    assert lines[11].split() == [".", "..", "f", "link", "new", "sub", "up"]
    # the write went to the tmpfs: the rootfs is as it was
    assert sorted(os.listdir(data)) == before


@stricter_than_runc("runc 1.1.5's tmpcopyup does not keep mtimes and fails on a fifo "
                    "(lchown: no such file or directory); servin keeps times and copies "
                    "special files with mknod")
def test_tmpcopyup_keeps_times_and_special_files(ctx):
    b = ctx.bundle(["sh", "-c", STAT + "/data/f /data/sub /data/fifo"])
    data = covered_tree(b.rootfs)
    os.mkfifo(os.path.join(data, "fifo"), 0o640)
    b.add_mount("/data", "tmpfs", "tmpfs", ["tmpcopyup"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    st = stat_lines(res.out)
    assert st["/data/f"][4] == T_FILE
    assert st["/data/sub"][4] == T_DIR          # set after its contents were copied
    assert st["/data/fifo"][:4] == ("640", 0, 0, "fifo")


@stricter_than_runc("runc 1.1.5 gives the tmpfs root the covered directory's mode even "
                    "over an explicit mode= option, and never its owner")
def test_tmpcopyup_root_takes_the_covered_mode_and_owner_unless_given(ctx):
    b = ctx.bundle(["sh", "-c", "stat -c '%a %u %g' /a /b"])
    for name in ("a", "b"):
        d = os.path.join(b.rootfs, name)
        os.makedirs(d)
        os.chown(d, 1000, 100)
        os.chmod(d, 0o715)
    b.add_mount("/a", "tmpfs", "tmpfs", ["tmpcopyup"])
    b.add_mount("/b", "tmpfs", "tmpfs", ["tmpcopyup", "mode=1777", "uid=5"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.splitlines() == ["715 1000 100", "1777 5 100"]


def test_tmpcopyup_read_only(ctx, rt):
    # the copy is made before the tmpfs becomes read-only
    b = ctx.bundle(SLEEP)
    covered_tree(b.rootfs)
    b.add_mount("/data", "tmpfs", "tmpfs", ["tmpcopyup", "ro", "nosuid"])
    cid, _ = ctx.run_detached(b)
    m = mounts_at(rt.state(cid)["pid"], "/data")[-1]
    assert m["fstype"] == "tmpfs"
    assert "ro" in m["options"] and "nosuid" in m["options"]
    res = rt("exec", cid, "sh", "-c", "cat /data/f; touch /data/x 2>/dev/null || echo RO")
    assert res.rc == 0, res
    assert res.out.splitlines() == ["hello", "RO"]


def test_tmpcopyup_target_under_a_symlink_copies_from_the_rootfs(ctx):
    # /link -> <host dir> resolves inside the rootfs: the copy comes from
    # <rootfs><host dir>, never from the host directory itself
    outside = os.path.join(ctx.tmp, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "secret"), "w") as f:
        f.write("host\n")
    b = ctx.bundle(["sh", "-c", "ls -a /link | tr '\\n' ' '"])
    os.symlink(outside, os.path.join(b.rootfs, "link"))
    inside = b.rootfs + outside
    os.makedirs(inside)
    with open(os.path.join(inside, "mine"), "w") as f:
        f.write("rootfs\n")
    b.add_mount("/link", "tmpfs", "tmpfs", ["tmpcopyup"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.split() == [".", "..", "mine"]
    assert os.listdir(outside) == ["secret"]


def test_tmpcopyup_of_a_missing_target_is_an_empty_tmpfs(ctx):
    b = ctx.bundle(["sh", "-c", "stat -c %a /fresh; ls -A /fresh | wc -l"])
    b.add_mount("/fresh", "tmpfs", "tmpfs", ["tmpcopyup"])
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.split() == ["1777", "0"]     # tmpfs's own default mode


@stricter_than_runc("runc 1.1.5 ignores tmpcopyup on a bind mount without a word")
def test_tmpcopyup_on_a_bind_mount_is_ignored_with_a_warning(ctx, rt):
    src = os.path.join(ctx.tmp, "src")
    os.makedirs(src)
    with open(os.path.join(src, "x"), "w") as f:
        f.write("bound\n")
    b = ctx.bundle(["cat", "/mnt/b/x"])
    b.add_mount("/mnt/b", "bind", src, ["rbind", "tmpcopyup"])
    b.write()
    log = os.path.join(ctx.tmp, "runtime.log")
    res = rt("run", "--bundle", b.path, ctx.new_id(), global_args=["--log", log])
    assert res.rc == 0, res
    assert res.out == "bound\n"
    with open(log) as f:
        warned = [line for line in f if "warn" in line and "tmpcopyup" in line]
    assert warned and "/mnt/b" in warned[0], warned
