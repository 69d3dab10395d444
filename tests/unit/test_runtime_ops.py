"""Parsers of exec, update and events: the exec process built from the
container's process and runc's flags, sizes, Go durations, update flags."""
import pytest

from servin.runtime._errors import ConfigError
from servin.runtime._events import _list_set, parse_interval
from servin.runtime._exec import Options, _merge_env, process_spec
from servin.runtime._ops import parse_size, resources_from_flags
from servin.runtime.cli import exec as exec_cmd
from servin.runtime.cli._args import parse

BASE = {"process": {"args": ["sleep", "1"], "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
                    "terminal": True, "consoleSize": {"height": 10, "width": 20},
                    "user": {"uid": 0, "gid": 0, "additionalGids": [5]},
                    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                     "permitted": ["CAP_KILL"]}}}


@pytest.mark.parametrize("s,n", [("1024", 1024), ("64m", 64 << 20), ("64M", 64 << 20), ("64MB", 64 << 20),
                                 ("64MiB", 64 << 20), ("1g", 1 << 30), ("2k", 2048), ("1.5k", 1536),
                                 ("-1", -1), ("10b", 10)])
def test_parse_size(s, n):
    assert parse_size("--memory", s) == n


@pytest.mark.parametrize("s", ["", "lots", "m", "-2", "1x"])
def test_parse_size_rejects(s):
    with pytest.raises(ConfigError, match="--memory"):
        parse_size("--memory", s)


@pytest.mark.parametrize("s,secs", [("5s", 5.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5s", 1.5), ("2h", 7200.0)])
def test_parse_interval(s, secs):
    assert parse_interval(s) == pytest.approx(secs)


@pytest.mark.parametrize("s", ["", "5", "0s", "-1s", "5 parsecs"])
def test_parse_interval_rejects(s):
    with pytest.raises(ConfigError, match="--interval"):
        parse_interval(s)


def test_list_set():
    assert _list_set("0-2,4\n") == [0, 1, 2, 4]
    assert _list_set("") == []


def test_update_flags_to_resources():
    v = {"memory": "64m", "memory_swap": "-1", "cpu_shares": "512", "cpu_quota": "-1", "cpuset_cpus": "0-1",
         "pids_limit": "10", "blkio_weight": "300"}
    assert resources_from_flags(v) == {"memory": {"limit": 64 << 20, "swap": -1},
                                       "cpu": {"shares": 512, "quota": -1, "cpus": "0-1"},
                                       "pids": {"limit": 10}, "blockIO": {"weight": 300}}
    assert resources_from_flags({}) == {}


@pytest.mark.parametrize("v,match", [({"kernel_memory": "1m"}, "kernel memory"),
                                     ({"kernel_memory_tcp": "1m"}, "kernel memory"),
                                     ({"blkio_weight": "5"}, "10..1000"),
                                     ({"cpu_shares": "x"}, "--cpu-shares"),
                                     ({"mem_bw_schema": "MB:0=20"}, "Intel RDT")])
def test_update_flags_rejected(v, match):
    with pytest.raises(ConfigError, match=match):
        resources_from_flags(v)


def test_exec_options_stop_at_the_first_positional():
    v, pos = parse(["-e", "A=1", "--tty", "cid", "sh", "-c", "--tty"], exec_cmd.OPTIONS, True)
    assert v["env"] == ["A=1"] and v["tty"]
    assert pos == ["cid", "sh", "-c", "--tty"]


def test_exec_process_from_the_container_and_flags():
    o = Options(["id"], env=["TERM=dumb", "X=1"], user="1000:1001", additional_gids=["10"], cwd="/tmp",
                caps=["net_admin"], no_new_privs=True)
    p = process_spec(BASE, o)
    assert p["args"] == ["id"]
    assert p["env"] == ["PATH=/bin", "TERM=dumb", "X=1"]
    assert p["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [5, 10]}
    assert p["cwd"] == "/tmp"
    assert p["terminal"] is False and "consoleSize" not in p
    assert p["noNewPrivileges"] is True
    assert p["capabilities"]["effective"] == ["CAP_KILL", "CAP_NET_ADMIN"]
    assert "ambient" not in p["capabilities"]      # no inheritable set: runc adds no ambient
    assert BASE["process"]["env"] == ["PATH=/bin", "TERM=xterm"]    # not modified


@pytest.mark.parametrize("o,match", [(Options([]), "command"), (Options(["x"], user="root"), "--user"),
                                     (Options(["x"], env=["NOEQUALS"]), "KEY=VALUE"),
                                     (Options(["x"], additional_gids=["wheel"]), "--additional-gids")])
def test_exec_process_rejects(o, match):
    with pytest.raises(ConfigError, match=match):
        process_spec(BASE, o)


def test_merge_env_later_wins_in_place():
    assert _merge_env(["A=1", "B=2"], ["A=3", "C=4", "B="]) == ["A=3", "B=", "C=4"]


class _Cgroup:
    """A v1 memory cgroup as a directory of files (check_before_update reads one)."""

    def __init__(self, tmp_path, usage):
        (tmp_path / "memory.usage_in_bytes").write_text("%d\n" % usage)
        self.layout = "v1"
        self.dirs = {"memory": str(tmp_path)}


@pytest.mark.parametrize("mem,default,outcome", [
    ({"limit": 1000, "checkBeforeUpdate": True}, False, "refused"),
    ({"limit": 1000}, True, "refused"),                             # the container's setting
    ({"limit": 1000, "checkBeforeUpdate": False}, True, False),     # the update's wins
    ({"limit": 5000, "checkBeforeUpdate": True}, False, True),      # above the usage
    ({"limit": -1, "checkBeforeUpdate": True}, False, True),        # unlimited
    ({"swap": 10, "checkBeforeUpdate": True}, False, True),         # no new limit
    ({"limit": 1000}, False, False),
])
def test_check_before_update(tmp_path, mem, default, outcome):
    from servin.runtime._resources import check_before_update
    cg = _Cgroup(tmp_path, 4096)
    if outcome == "refused":
        with pytest.raises(ConfigError, match=r"memory\.checkBeforeUpdate: the new memory\.limit 1000 is below "
                                              r"the current usage 4096"):
            check_before_update(cg, mem, default)
    else:
        assert check_before_update(cg, mem, default) is outcome


def test_check_before_update_must_be_a_bool(tmp_path):
    from servin.runtime._resources import check_before_update
    with pytest.raises(ConfigError, match="checkBeforeUpdate: must be true or false"):
        check_before_update(_Cgroup(tmp_path, 0), {"limit": 1, "checkBeforeUpdate": "yes"}, False)
