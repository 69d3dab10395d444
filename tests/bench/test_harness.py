"""Checks of the benchmark harness's own logic (tests/bench/run.py).

Nothing here times anything, starts a container or needs root: the
benchmarks print numbers, they are not tests.
"""
import importlib.util
import os

import pytest

_spec = importlib.util.spec_from_file_location(
    "servin_bench_run", os.path.join(os.path.dirname(__file__), "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)


def test_median_odd_even():
    assert run.median([3, 1, 2]) == 2
    assert run.median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        run.median([])


def test_ratio():
    assert run.ratio(50, 100) == 0.5
    assert run.ratio(None, 100) is None
    assert run.ratio(50, None) is None
    assert run.ratio(50, 0) is None


def test_fmt_value():
    assert run.fmt_value(12_345_678, "ns") == "12.35 ms"
    assert run.fmt_value(2_500_000_000, "ns") == "2.50 s"
    assert run.fmt_value(5 * run.MIB, "bytes") == "5.0 MiB"
    assert run.fmt_value(None, "ns") == "-"


def test_target_only_for_servin():
    assert run.target_verdict("servin-runc", 0.9) == "met"
    assert run.target_verdict("servin-runc", 1.0) == "met"
    assert run.target_verdict("servin-runc", 1.01) == "missed"
    assert run.target_verdict("crun", 0.3) == ""
    assert run.target_verdict("servin-runc", None) == ""


def _rows():
    outcomes = {
        "servin-runc": run.Outcome([30e6, 10e6, 20e6]),
        "runc": run.Outcome([40e6, 40e6]),
        "crun": run.Outcome(error="skipped: not found on PATH"),
    }
    return run.make_rows("1 run /bin/true", "ns", outcomes, ["servin-runc", "runc", "crun"])


def test_make_rows_ratios_against_runc():
    servin, runc, crun = _rows()
    assert servin.median == 20e6 and servin.ratio == 0.5 and servin.target == "met"
    assert runc.ratio == 1.0 and runc.target == ""
    assert crun.median is None and crun.ratio is None and crun.error
    assert (servin.n, runc.n, crun.n) == (3, 2, 0)


def test_no_ratio_without_runc():
    rows = run.make_rows("x", "ns", {"crun": run.Outcome([1.0])}, ["runc", "crun"])
    assert len(rows) == 1 and rows[0].ratio is None


def test_format_table():
    text = run.format_table(_rows())
    lines = text.splitlines()
    assert lines[0].split() == ["benchmark", "runtime", "median", "ratio", "to", "runc",
                                "n", "target"]
    assert "20.00 ms" in lines[2] and "0.50" in lines[2] and lines[2].endswith("met")
    assert lines[3].split()[:4] == ["runc", "40.00", "ms", "1.00"]
    # the benchmark name is printed once, the skip reason in place of a median
    assert lines[3].startswith(" ")
    assert lines[4].split()[0] == "crun" and "skipped: not found on PATH" in lines[4]


def test_format_markdown():
    md = run.format_markdown(_rows(), {"nproc": 2, "kernel": "6.1 | x"})
    assert "- nproc: 2" in md and "- kernel: 6.1 \\| x" in md
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert table[0] == "| benchmark | runtime | median | ratio to runc | n | target |"
    assert table[2] == "| 1 run /bin/true | servin-runc | 20.00 ms | 0.50 | 3 | met |"
    assert table[4].startswith("|  | crun | skipped: not found on PATH |")


def test_parse_args_defaults():
    a = run.parse_args([])
    assert a.runtimes == ["servin-runc", "runc", "crun"]
    assert a.bench == list(run.BENCH_ORDER)
    assert not a.quick and a.markdown is None and a.samples is None


def test_parse_args_selection(tmp_path):
    a = run.parse_args(["--runtimes", " runc, /usr/bin/crun ", "--bench", "memory,run",
                        "--quick", "--markdown", "out.md"])
    assert a.runtimes == ["runc", "/usr/bin/crun"]
    assert a.bench == ["run", "memory"]          # always in suite order
    assert os.path.isabs(a.markdown)
    assert run.plan_for("run", "samples", a) == run.PLAN["run"]["samples"][1]
    assert run.plan_for("run-seq", "count", run.parse_args([])) == 100
    assert run.plan_for("parallel", "count", run.parse_args([])) == 20
    assert run.plan_for("exec", "samples", run.parse_args(["--samples", "7"])) == 7
    assert os.path.isabs(run.parse_args(["--write-bundles", "b"]).write_bundles)


@pytest.mark.parametrize("argv", [["--bench", "nope"], ["--runtimes", ","],
                                  ["--runtimes", "runc,/x/runc"], ["--samples", "0"]])
def test_parse_args_rejects(argv):
    with pytest.raises(SystemExit):
        run.parse_args(argv)


class _Rt:
    def __init__(self, name):
        self.name = name


def test_round_robin_alternates_and_counts_failures():
    rts = [_Rt("a"), _Rt("b"), _Rt("c")]
    calls = []

    def sample(rt):
        calls.append(rt.name)
        if rt.name == "c" and calls.count("c") == 2:
            raise run.BenchError("boom")
        return len(calls)
    out = run.round_robin(rts, samples=2, warmup=1, sample=sample)
    # warm-up round, then each round starts one runtime later
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert out["a"].values == [6, 8] and out["b"].values == [4, 9]
    # one failed sample: left out of the median, counted, not fatal
    assert out["c"].values == [7] and out["c"].failures == ["boom"]
    assert out["c"].error is None and out["c"].median == 7


def test_round_robin_drops_after_max_failures():
    def sample(rt):
        if rt.name == "bad":
            raise run.BenchError("nope")
        return 1
    out = run.round_robin([_Rt("ok"), _Rt("bad")], samples=10, warmup=0, sample=sample)
    assert len(out["bad"].failures) == run.MAX_FAILURES
    assert out["bad"].error == "failed: nope" and out["bad"].median is None
    assert out["ok"].values == [1] * 10


def test_failed_samples_are_shown():
    rows = run.make_rows("1 run", "ns", {"servin-runc": run.Outcome([2e6, 4e6], failures=["x"]),
                                         "runc": run.Outcome([3e6])}, ["servin-runc", "runc"])
    text = run.format_table(rows)
    assert "2 (1 failed*)" in text
    assert "* 1 run / servin-runc: 1 sample(s) failed and are not in the median, e.g. x" in text
    assert "1 sample(s) failed" in run.format_markdown(rows, {})


def test_smallest_limit_binary_search():
    probes = []

    def fits(limit):
        probes.append(limit)
        return limit >= 5_000_000
    got = run.smallest_limit(fits, resolution=64 * 1024)
    assert 5_000_000 <= got < 5_000_000 + 64 * 1024 and got % 4096 == 0
    assert len(probes) < 20


def test_smallest_limit_grows_the_ceiling():
    got = run.smallest_limit(lambda limit: limit >= 100 * run.MIB, resolution=run.MIB)
    assert 100 * run.MIB <= got <= 101 * run.MIB
    with pytest.raises(run.BenchError):
        run.smallest_limit(lambda limit: False, resolution=run.MIB, ceiling=256 * run.MIB)


def test_self_cgroup_path(tmp_path):
    f = tmp_path / "cgroup"
    f.write_text("9:name=systemd:/\n4:memory:/a/b\n3:cpu,cpuacct:/c\n0::/u\n")
    assert run.self_cgroup_path("/sys/fs/cgroup/memory", str(f)) == "/a/b"
    assert run.self_cgroup_path("/sys/fs/cgroup/cpuacct", str(f)) == "/c"
    assert run.self_cgroup_path("/sys/fs/cgroup/systemd", str(f)) == "/"
    assert run.self_cgroup_path("/sys/fs/cgroup/unified", str(f)) == "/u"
    assert run.self_cgroup_path("/sys/fs/cgroup/pids", str(f)) is None
    assert run.self_cgroup_path("/sys/fs/cgroup/cpu,cpuacct", str(f)) == "/c"
    assert run.self_cgroup_path("/sys/fs/cgroup", str(f)) == "/u"       # pure v2


def test_every_benchmark_says_what_it_uses():
    assert set(run.USES) == set(run.BENCH_ORDER) == set(run.BENCHES) == set(run.PLAN)


def test_spawn_wait_status_and_hang(monkeypatch, tmp_path):
    with open(tmp_path / "err", "w+b") as err:
        assert run.spawn_wait(["/bin/sh", "-c", "exit 3"], err)[0] == 3
        monkeypatch.setattr(run, "CALL_TIMEOUT", 1)
        procs = []
        with pytest.raises(TimeoutError):
            run.spawn_wait(["/bin/sleep", "30"], err, procs)
        assert procs[0].returncode is not None      # killed and reaped


def test_target_summary():
    rows = _rows() + run.make_rows("2 x", "ns", {"servin-runc": run.Outcome([50e6]),
                                                 "runc": run.Outcome([40e6])},
                                   ["servin-runc", "runc"])
    rows += run.make_rows("3 y", "ns", {"servin-runc": run.Outcome(error="failed: no exec"),
                                        "runc": run.Outcome([1.0])}, ["servin-runc", "runc"])
    assert run.target_summary(rows) == ["servin-runc: targets met 1 of 3 (not measured: 3)"]
