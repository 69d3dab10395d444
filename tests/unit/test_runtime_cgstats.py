"""The cgroup statistics reader (servin.runtime._cgstats) on fake cgroup
trees, and runc's stats JSON that ``servin-runc events`` makes of it (the
shim's metrics messages from the same reader: tests/unit/shim/
test_shim_cgroups.py)."""
import os

from servin.runtime import _cgroups, _cgstats, _events


def write(base, rel, text):
    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


class CG:
    def __init__(self, dirs):
        self.dirs = dirs


def test_primitives(tmp_path):
    write(tmp_path, "max", "max\n")
    write(tmp_path, "n", "42\n")
    write(tmp_path, "kv", "a 1\nb x\nc 3 4\nd 5\n")
    write(tmp_path, "ints", "3 2 1 \n")
    assert _cgstats.read_int(str(tmp_path / "max")) == 0
    assert _cgstats.read_int(str(tmp_path / "n")) == 42
    assert _cgstats.read_int(str(tmp_path / "missing")) is None
    assert _cgstats.read_int(str(tmp_path / "missing"), 0) == 0
    assert _cgstats.read_kv(str(tmp_path / "kv")) == {"a": 1, "d": 5}
    assert _cgstats.read_ints(str(tmp_path / "ints")) == [3, 2, 1]


def test_v1_controllers_share_hierarchies_and_win_over_unified(tmp_path):
    dirs = {"cpu,cpuacct": "/a", "memory": "/m", "unified": str(tmp_path)}
    write(tmp_path, "cgroup.controllers", "memory pids")
    assert _cgstats.v1_dir(dirs, "cpuacct") == _cgstats.v1_dir(dirs, "cpu") == "/a"
    assert _cgstats.v1_dir(dirs, "pids") is None
    assert _cgstats.v2_dir(dirs, "pids") == str(tmp_path)
    assert _cgstats.v2_dir(dirs, "cpu") is None
    assert _cgstats.oom_counter_file(dirs) == "/m/memory.oom_control"


def test_v1_stats_in_runc_format(tmp_path):
    dirs = {"cpu,cpuacct": str(tmp_path / "cpu"), "memory": str(tmp_path / "mem"),
            "pids": str(tmp_path / "pids")}
    write(tmp_path, "cpu/cpuacct.usage", "5000\n")
    write(tmp_path, "cpu/cpuacct.usage_percpu", "3000 2000 \n")
    write(tmp_path, "cpu/cpuacct.stat", "user 3\nsystem 4\n")
    write(tmp_path, "cpu/cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 9\n")
    write(tmp_path, "mem/memory.stat", "cache 10\nrss 20\n")
    write(tmp_path, "mem/memory.usage_in_bytes", "30")
    write(tmp_path, "mem/memory.limit_in_bytes", "40")
    write(tmp_path, "mem/memory.max_usage_in_bytes", "0")
    write(tmp_path, "mem/memory.failcnt", "1")
    write(tmp_path, "mem/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    write(tmp_path, "pids/pids.current", "2")
    write(tmp_path, "pids/pids.max", "max")
    tick = _cgstats.NS_PER_TICK
    data = _events.stats(CG(dirs), os.getpid())
    assert data["cpu"] == {"usage": {"total": 5000, "percpu": [3000, 2000], "kernel": 4 * tick,
                                     "user": 3 * tick},
                           "throttling": {"periods": 4, "throttled_periods": 1, "throttled_time": 9}}
    assert data["memory"] == {"cache": 10, "usage": {"limit": 40, "usage": 30, "failcnt": 1},
                              "raw": {"cache": 10, "rss": 20}}
    assert data["pids"] == {"current": 2}
    assert _cgstats.oom_kills(dirs) == 2


def test_v2_stats_in_runc_format(tmp_path):
    dirs = {"unified": str(tmp_path)}
    write(tmp_path, "cgroup.controllers", "cpu memory pids\n")
    write(tmp_path, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                                "nr_periods 3\nnr_throttled 0\nthrottled_usec 7\n")
    write(tmp_path, "memory.stat", "anon 4096\nfile 8192\n")
    write(tmp_path, "memory.current", "12288\n")
    write(tmp_path, "memory.max", "max\n")
    write(tmp_path, "memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    write(tmp_path, "memory.swap.current", "5\n")
    write(tmp_path, "memory.swap.max", "100\n")
    write(tmp_path, "pids.current", "3\n")
    write(tmp_path, "pids.max", "50\n")
    data = _events.stats(CG(dirs), os.getpid())
    assert data["cpu"] == {"usage": {"total": 1500000, "kernel": 500000, "user": 1000000},
                           "throttling": {"periods": 3, "throttled_time": 7000}}
    big = (1 << 63) - 1
    assert data["memory"] == {"usage": {"limit": big, "usage": 12288, "failcnt": 2},
                              "raw": {"anon": 4096, "file": 8192}, "cache": 8192,
                              "swap": {"limit": 100, "usage": 12293, "failcnt": 0}}
    assert data["pids"] == {"current": 3, "limit": 50}
    assert _cgstats.oom_kills(dirs) == 1


def test_no_cgroup_reads_as_empty():
    assert (_cgstats.cpu({}), _cgstats.memory({}), _cgstats.pids({})) == ({}, {}, {})
    assert _cgstats.oom_kills({}) == 0


def test_dirs_of_pid_places_each_hierarchy_path_under_its_mount():
    own = _cgroups.own_cgroups(os.getpid())
    hs = [_cgroups.Hierarchy("", "/mnt/v2", "/", 2), _cgroups.Hierarchy("nope", "/mnt/x", "/", 1)]
    dirs = _cgroups.dirs_of_pid(os.getpid(), hs)
    if "" in own:
        assert dirs == {"unified": os.path.normpath("/mnt/v2" + own[""])}
    else:
        assert dirs == {}
