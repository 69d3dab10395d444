"""The suite's own safety net: the teardown leak check really sees a
container's state entry, process, cgroups and mounts, and removes them."""

import os
import subprocess

from . import oci


def test_leak_check_finds_and_removes_leftovers(runtime_binary,
                                                rootfs_template, tmp_path):
    inner = oci.Context(runtime_binary, tmp_path / "inner", rootfs_template)
    try:
        b = inner.bundle(["sleep", "1000"])
        cid, _ = inner.create(b)
        inner.start(cid)
        pid = inner.rt.state(cid)["pid"]
        cgroups = oci.cgroup_dirs(pid)
        mnt = os.path.join(inner.tmp, "leaked-mount")
        os.makedirs(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "leak", mnt], check=True)

        found = [desc for desc, _ in inner.leftovers()]
        assert "container %s still listed" % cid in found
        assert any(d.startswith("process %d " % pid) for d in found), found
        assert "mount %s" % mnt in found
        for d in cgroups:
            assert "cgroup %s" % d in found

        reported = inner.cleanup()
        # delete --force took the container; the mount is reported and
        # unmounted by the scrub.
        assert reported == ["mount %s" % mnt], reported
        assert inner.leftovers() == []
        assert not oci.pid_alive(pid)
        assert not any(os.path.isdir(d) for d in cgroups)
    finally:
        subprocess.run(["umount", "-l", os.path.join(inner.tmp,
                                                     "leaked-mount")],
                       capture_output=True)
        inner.cleanup()
