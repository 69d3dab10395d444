"""The status table, row by row, and container id validation."""
import pytest

from servin.runtime import _state
from servin.runtime._errors import ConfigError, InvalidState

S = [_state.CREATING, _state.CREATED, _state.RUNNING, _state.PAUSED, _state.STOPPED]

TABLE = {
    # op:        creating created running paused stopped
    "start":  (0, 1, 0, 0, 0),
    "kill":   (0, 1, 1, 1, 0),
    "delete": (0, 1, 0, 0, 1),
    "pause":  (0, 0, 1, 0, 0),
    "resume": (0, 0, 0, 1, 0),
    "exec":   (0, 1, 1, 0, 0),
}


@pytest.mark.parametrize("op", sorted(TABLE))
@pytest.mark.parametrize("i", range(len(S)))
def test_status_table(op, i):
    status = S[i]
    if TABLE[op][i]:
        _state.check(op, status, "c1")
    else:
        with pytest.raises(InvalidState) as e:
            _state.check(op, status, "c1")
        assert status in str(e.value) and "c1" in str(e.value)


def test_force_delete_allowed_in_every_status():
    for s in S:
        assert s in _state.ALLOWED["force-delete"]


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a\0b", " x", "x\n", "x" * 1025])
def test_invalid_ids(cid):
    with pytest.raises(ConfigError):
        _state.validate_id(cid)


@pytest.mark.parametrize("cid", ["a", "abc-123_x.y", "x" * 1024, "ctr:1", "a..b"])
def test_valid_ids(cid):
    _state.validate_id(cid)


def test_state_file_round_trip(tmp_path):
    c = _state.Container.make(str(tmp_path / "root"), "c1")
    assert oct((tmp_path / "root" / "c1").stat().st_mode & 0o777) == "0o700"
    c.save({"pid": 1, "init_start": -1, "bundle": "/b"})
    assert (tmp_path / "root" / "c1" / "state.json").stat().st_mode & 0o777 == 0o600
    c2 = _state.Container(str(tmp_path / "root"), "c1")
    c2.load()
    # pid 1's start time is not -1: the stored process is gone
    assert c2.status() == _state.STOPPED
    assert c2.oci_state()["status"] == "stopped" and "pid" not in c2.oci_state()
    c.unlock()


def test_make_twice_fails(tmp_path):
    from servin.runtime._errors import ContainerExists
    c = _state.Container.make(str(tmp_path), "dup")
    with pytest.raises(ContainerExists):
        _state.Container.make(str(tmp_path), "dup")
    c.unlock()


def test_cgroup_destroy_never_removes_another_containers_cgroup(tmp_path):
    """The container that made the shared parent removes it only when empty."""
    from servin.runtime._cgroups import Hierarchy, Manager
    mnt = tmp_path / "memory"
    mnt.mkdir()
    hs = [Hierarchy("memory", str(mnt), "/", 1)]
    a = Manager("/servin/a", False, hs)
    a.create()
    b = Manager("/servin/b", False, hs)
    b.create()
    assert str(mnt / "servin") in a.created and str(mnt / "servin") not in b.created
    a.destroy(timeout=0.1)
    assert (mnt / "servin" / "b").is_dir()       # b's cgroup survives a's delete
    assert not (mnt / "servin" / "a").exists()
    b.destroy(timeout=0.1)
    assert not (mnt / "servin").exists()          # the last one out removes the parent
