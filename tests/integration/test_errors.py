"""Bad input (runtime.md "Errors", "Create"; DESIGN.md "Errors and exit
codes"): exit status 1, one stderr line naming the field or the value,
and nothing left behind - no state entry, process, mount or cgroup (the
``ctx`` teardown checks the last three for every test)."""

import os

import pytest

from .oci import stricter_than_runc

SLEEP = ["sleep", "1000"]


def assert_clean_failure(rt, res, *names, cid=None):
    """Exit status 1, one stderr error line (warnings aside) mentioning one
    of ``names`` (case-insensitive), and no container left in ``list``."""
    assert res.rc == 1, res
    lines = res.error_lines
    assert len(lines) == 1, res
    assert "Traceback" not in res.err
    low = lines[0].lower()
    assert any(n.lower() in low for n in names), (names, lines[0])
    assert rt.ids() == [] if cid is None else cid not in rt.ids()
    if os.path.isdir(rt.root):
        # No container directory (a root-level lock file may stay).
        dirs = [e for e in os.listdir(rt.root)
                if os.path.isdir(os.path.join(rt.root, e))]
        assert dirs == [], dirs


@pytest.mark.parametrize("bad_id", ["a/b", "..", "", ".", "../escape"])
def test_invalid_container_id(ctx, rt, bad_id):
    b = ctx.bundle(SLEEP)
    _, res = ctx.create(b, bad_id, check=False)
    names = ["id"] + ([bad_id] if bad_id else [])
    assert_clean_failure(rt, res, *names)
    assert not os.path.exists(os.path.join(ctx.tmp, "escape"))


def test_duplicate_id(ctx, rt):
    first = ctx.bundle(SLEEP)
    cid, _ = ctx.create(first)
    pid = rt.state(cid)["pid"]
    second = ctx.bundle(SLEEP)
    _, res = ctx.create(second, cid, check=False)
    assert res.rc == 1, res
    assert len(res.error_lines) == 1, res
    assert cid in res.err or "exist" in res.err.lower()
    # The first container is untouched.
    st = rt.state(cid)
    assert st["status"] == "created" and st["pid"] == pid
    assert st["bundle"] == os.path.realpath(first.path)
    assert rt.ids() == [cid]


def test_unknown_namespace_type(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.linux["namespaces"].append({"type": "bogusns"})
    _, res = ctx.create(b, check=False)
    assert_clean_failure(rt, res, "bogusns")


def test_missing_rootfs(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.config["root"]["path"] = "no-such-rootfs"
    _, res = ctx.create(b, check=False)
    assert_clean_failure(rt, res, "no-such-rootfs")


def test_missing_process_args(ctx, rt):
    b = ctx.bundle(SLEEP)
    del b.process["args"]
    _, res = ctx.create(b, check=False)
    assert_clean_failure(rt, res, "args")


def test_empty_process_args(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.process["args"] = []
    _, res = ctx.create(b, check=False)
    assert_clean_failure(rt, res, "args")


def test_missing_config_json(ctx, rt):
    bundle = os.path.join(ctx.tmp, "empty-bundle")
    os.makedirs(bundle)
    res = rt("create", "--bundle", bundle, ctx.new_id())
    assert_clean_failure(rt, res, "config.json")


@stricter_than_runc("DESIGN.md Errors: the message names config.json; "
                    "runc only says 'unexpected EOF'")
def test_malformed_config_json(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.write()
    with open(os.path.join(b.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": ')
    res = rt("create", "--bundle", b.path, ctx.new_id())
    assert_clean_failure(rt, res, "config.json")


def test_malformed_config_json_fails_cleanly(ctx, rt):
    b = ctx.bundle(SLEEP)
    with open(os.path.join(b.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": ')
    res = rt("create", "--bundle", b.path, ctx.new_id())
    assert res.rc == 1, res
    assert len(res.error_lines) == 1, res
    assert rt.ids() == []


def test_exec_of_missing_binary_fails_run(ctx, rt):
    b = ctx.bundle(["/no/such/binary"])
    cid, res = ctx.run(b)
    assert res.rc != 0
    assert "/no/such/binary" in res.err
    assert cid not in rt.ids()


def test_mount_of_missing_source_fails(ctx, rt):
    b = ctx.bundle(SLEEP)
    missing = os.path.join(ctx.tmp, "no-such-source")
    b.add_mount("/mnt/x", "bind", missing, ["bind"])
    _, res = ctx.create(b, check=False)
    assert res.rc == 1, res
    assert "no-such-source" in res.err
    assert rt.ids() == []


@pytest.mark.parametrize("cmd", [("start",), ("delete",), ("kill",),
                                 ("state",)])
def test_operations_on_missing_container(ctx, rt, cmd):
    res = rt(*cmd, "oci-it-does-not-exist")
    assert res.rc == 1, res
    assert len(res.error_lines) == 1, res
    assert "oci-it-does-not-exist" in res.err or "exist" in res.err.lower()


def test_operations_without_id_fail(ctx, rt):
    for cmd in ("start", "delete", "state", "kill"):
        res = rt(cmd)
        assert res.rc != 0, (cmd, res)
