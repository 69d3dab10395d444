"""Idmapped mounts (config.md mounts: uidMappings/gidMappings, the idmap
and ridmap options; mount_setattr(MOUNT_ATTR_IDMAP))."""
import json
import os
import subprocess

import pytest

from .oci import find_runtime


def _idmap_supported():
    rt = find_runtime()
    if not rt:
        return False
    try:
        out = subprocess.run([rt, "features"], capture_output=True, timeout=10).stdout
        f = json.loads(out)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False
    return bool(f.get("linux", {}).get("mountExtensions", {}).get("idmap", {}).get("enabled"))


pytestmark = pytest.mark.skipif(not _idmap_supported(),
                                reason="the runtime's features do not list mountExtensions.idmap")


def _host_dir(ctx, tmp_path):
    d = tmp_path / "idmapped"
    (d / "sub").mkdir(parents=True)
    (d / "f").write_text("x")
    (d / "sub" / "g").write_text("y")
    return str(d)


def test_mount_mappings_shift_owners(ctx, tmp_path):
    src = _host_dir(ctx, tmp_path)
    b = ctx.bundle(["sh", "-c", "stat -c %u:%g /mnt/f /mnt/sub/g; touch /mnt/new; echo rc=$?"])
    b.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind", "ridmap", "ro"],
                               "uidMappings": [{"containerID": 0, "hostID": 1234, "size": 1}],
                               "gidMappings": [{"containerID": 0, "hostID": 4321, "size": 1}]})
    _, res = ctx.run(b)
    assert res.rc == 0, res
    lines = res.out.split()
    assert lines[:2] == ["1234:4321", "1234:4321"], res      # ridmap: the submount too
    assert "rc=1" in res.out                                  # ro holds
    assert os.stat(os.path.join(src, "f")).st_uid == 0         # the host files are unchanged


def test_idmap_without_mappings_needs_the_containers(ctx, rt, tmp_path):
    src = _host_dir(ctx, tmp_path)
    b = ctx.bundle(["true"])
    b.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": src, "options": ["bind", "idmap"]})
    cid, res = ctx.run(b)
    assert res.rc == 1 and "uidMappings" in res.err, res
    assert cid not in rt.ids()


def test_idmap_on_a_non_bind_mount_is_rejected(ctx, rt):
    b = ctx.bundle(["true"])
    b.config["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                               "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
                               "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]})
    cid, res = ctx.run(b)
    assert res.rc == 1 and "bind" in res.err, res
    assert cid not in rt.ids()
