"""Stats: cgroup v1 and v2 files -> containerd's metrics messages, on fake
cgroup trees (the host may have only one of the two).  The files are read
by servin.runtime._cgstats, the reader servin-runc's events uses too."""
import os

import pytest

pytest.importorskip("servin.shim")
from servin.shim import _cgroups  # noqa: E402


def write(base, rel, text):
    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_v2_metrics(tmp_path):
    d = "ns/c1/"
    write(tmp_path, d + "cgroup.controllers", "cpu memory pids")
    write(tmp_path, d + "pids.current", "3\n")
    write(tmp_path, d + "pids.max", "max\n")
    write(tmp_path, d + "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    write(tmp_path, d + "memory.stat", "anon 4096\nfile 8192\npgfault 7\n")
    write(tmp_path, d + "memory.current", "12288\n")
    write(tmp_path, d + "memory.max", "1048576\n")
    write(tmp_path, d + "memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    dirs = {"unified": str(tmp_path / "ns/c1")}
    name, data = _cgroups.metrics_of(dirs)
    assert name == "io.containerd.cgroups.v2.Metrics"
    m2 = pytest.importorskip("servin.shim.proto.cgroups_v2_pb2")
    m = m2.Metrics.FromString(data)
    assert (m.pids.current, m.pids.limit) == (3, 0)
    assert (m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec) == (1500, 1000, 500)
    assert (m.memory.anon, m.memory.file, m.memory.pgfault) == (4096, 8192, 7)
    assert (m.memory.usage, m.memory.usage_limit) == (12288, 1048576)
    assert m.memory_events.oom_kill == 1
    assert _cgroups.oom_kill_count(dirs) == 1


def test_v1_metrics(tmp_path):
    dirs = {c: str(tmp_path / c / "ns/c1") for c in ("pids", "cpu", "cpuacct", "memory")}
    dirs["unified"] = str(tmp_path / "unified/ns/c1")        # hybrid: v1 wins
    write(tmp_path, "pids/ns/c1/pids.current", "2")
    write(tmp_path, "pids/ns/c1/pids.max", "100")
    write(tmp_path, "cpuacct/ns/c1/cpuacct.usage", "5000")
    write(tmp_path, "cpuacct/ns/c1/cpuacct.usage_percpu", "3000 2000 ")
    write(tmp_path, "cpuacct/ns/c1/cpuacct.stat", "user 1\nsystem 2\n")
    write(tmp_path, "cpu/ns/c1/cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 9\n")
    write(tmp_path, "memory/ns/c1/memory.stat", "cache 10\nrss 20\npgpgin 5\npgmajfault 6\ntotal_rss 20\n")
    write(tmp_path, "memory/ns/c1/memory.usage_in_bytes", "30")
    write(tmp_path, "memory/ns/c1/memory.limit_in_bytes", "40")
    write(tmp_path, "memory/ns/c1/memory.max_usage_in_bytes", "35")
    write(tmp_path, "memory/ns/c1/memory.failcnt", "1")
    write(tmp_path, "memory/ns/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    name, data = _cgroups.metrics_of(dirs)
    assert name == "io.containerd.cgroups.v1.Metrics"
    m1 = pytest.importorskip("servin.shim.proto.cgroups_v1_pb2")
    m = m1.Metrics.FromString(data)
    assert (m.pids.current, m.pids.limit) == (2, 100)
    assert m.cpu.usage.total == 5000 and list(m.cpu.usage.per_cpu) == [3000, 2000]
    assert m.cpu.usage.user > 0 and m.cpu.usage.kernel == 2 * m.cpu.usage.user
    assert (m.cpu.throttling.periods, m.cpu.throttling.throttled_time) == (4, 9)
    assert (m.memory.cache, m.memory.rss, m.memory.pg_pg_in, m.memory.pg_maj_fault) == (10, 20, 5, 6)
    assert (m.memory.usage.usage, m.memory.usage.limit, m.memory.usage.max,
            m.memory.usage.failcnt) == (30, 40, 35, 1)
    assert m.memory_oom_control.oom_kill == 3
    assert _cgroups.oom_kill_count(dirs) == 3


def test_metrics_of_a_live_process_name_its_cgroup_version():
    name, data = _cgroups.metrics(os.getpid())
    assert name in ("io.containerd.cgroups.v1.Metrics", "io.containerd.cgroups.v2.Metrics")
    assert data
