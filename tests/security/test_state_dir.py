"""The state directory: private modes, ids that can't name another path,
and a symlink planted in --root is never followed."""

import os
import stat

import pytest

from servin.runtime import _state
from servin.runtime._errors import ConfigError

BAD_IDS = ["a/b", "..", ".", "../escape", "a\nb", "x" * 1025, "/abs"]


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.container
def test_modes_of_root_container_dir_and_state(ctx, is_runc):
    b = ctx.bundle(args=["sleep", "30"])
    cid, _ = ctx.create(b)
    root = ctx.rt.root
    cdir = os.path.join(root, cid)
    paths = [root, cdir] + [os.path.join(cdir, n) for n in os.listdir(cdir)]
    if is_runc:
        # runc makes exec.fifo 0622 on purpose (and the container dir 0711)
        paths = [p for p in paths if not p.endswith("exec.fifo")]
    for path in paths:
        st = os.lstat(path)
        assert st.st_uid == 0, path
        assert not stat.S_ISLNK(st.st_mode), path
        assert _mode(path) & 0o022 == 0, "%s is writable by others: %o" % (path, _mode(path))
    state = os.path.join(cdir, "state.json")
    assert _mode(state) & 0o077 == 0, "%o" % _mode(state)
    if not is_runc:
        assert _mode(root) == 0o700
        assert _mode(cdir) == 0o700
        assert _mode(state) == 0o600
        fifo = os.path.join(cdir, "exec.fifo")
        assert _mode(fifo) & 0o077 == 0, "%o" % _mode(fifo)


@pytest.mark.container
@pytest.mark.parametrize("cid", BAD_IDS, ids=["slash", "dotdot", "dot", "dotdot-slash", "newline",
                                               "1025-chars", "absolute"])
def test_bad_ids_are_refused_and_leave_nothing(ctx, tmp_path, is_runc, cid):
    b = ctx.bundle(args=["true"])
    b.write()
    res = ctx.rt("create", "--bundle", b.path, cid)
    assert res.rc != 0, res
    if not is_runc:
        assert res.rc == 1 and len(res.err_lines) == 1, res
    root = ctx.rt.root
    assert not os.path.isdir(root) or os.listdir(root) == [], os.listdir(root)
    assert not os.path.lexists(tmp_path / "escape")
    assert not os.path.lexists("/abs")


@pytest.mark.parametrize("cid", BAD_IDS + ["a\0b", "", " lead", "trail "])
def test_validate_id_in_process(cid):
    """NUL can't travel in argv: the library refuses it itself."""
    with pytest.raises(ConfigError):
        _state.validate_id(cid)


@pytest.mark.container
def test_planted_symlink_in_root_is_not_followed(ctx, tmp_path, is_runc):
    if is_runc:
        pytest.skip("runc 1.1.5 resolves the link inside --root (safe), then its create hangs")
    root = ctx.rt.root
    os.makedirs(root, mode=0o700, exist_ok=True)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "sentinel").write_text("keep me")
    cid = ctx.new_id()
    link = os.path.join(root, cid)
    os.symlink(str(foreign), link)
    ctx.defer(os.unlink, link)
    b = ctx.bundle(args=["sleep", "30"])
    b.write()
    res = ctx.rt("create", "--bundle", b.path, cid)
    assert res.rc != 0, res
    for cmd in (("delete", cid), ("delete", "--force", cid), ("kill", cid, "KILL"), ("start", cid)):
        ctx.rt(*cmd)
    assert os.listdir(foreign) == ["sentinel"]
    assert (foreign / "sentinel").read_text() == "keep me"
    assert os.path.islink(link)
