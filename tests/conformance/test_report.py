"""The suite's formatting and selection, without root or a runtime."""
import re

from servin.conformance import CASES, FAIL, PASS, SKIP, Result
from servin.conformance import format_compare, format_summary, format_tap
from servin.conformance._context import parse_report
from servin.conformance._suite import select
from servin.conformance.cli import build_parser, main


def _r(case, status, msg="", section="runtime.md#start"):
    return Result(case, section, "MUST", status, msg)


RESULTS = [
    _r("start.twice", PASS),
    _r("kill.stopped", FAIL, "kill of a stopped container succeeded\nsecond line", "runtime.md#kill"),
    _r("linux.cgroups-hugetlb", SKIP, "hugetlb not available", "config-linux.md#huge-page-limits"),
]


def test_tap_plan_and_lines():
    out = format_tap(RESULTS, runtime="/usr/bin/runc")
    lines = out.splitlines()
    assert lines[0] == "TAP version 13"
    assert "# runtime: /usr/bin/runc" in lines
    assert "1..3" in lines
    assert "ok 1 - start.twice [runtime.md#start]" in lines
    assert "not ok 2 - kill.stopped [runtime.md#kill]" in lines
    assert "ok 3 - linux.cgroups-hugetlb [config-linux.md#huge-page-limits] # SKIP hugetlb not available" in lines
    assert out.endswith("\n")


def test_tap_failure_diagnostics_follow_their_line():
    lines = format_tap(RESULTS).splitlines()
    i = lines.index("not ok 2 - kill.stopped [runtime.md#kill]")
    assert lines[i + 1] == "# kill of a stopped container succeeded"
    assert lines[i + 2] == "# second line"
    assert lines[i + 3].startswith("ok 3")


def test_tap_skip_reason_is_one_line():
    out = format_tap([_r("a.b", SKIP, "two\nlines")])
    assert "ok 1 - a.b [runtime.md#start] # SKIP two lines" in out.splitlines()


def test_tap_empty_run():
    assert format_tap([]).splitlines() == ["TAP version 13", "1..0"]


def test_summary_table():
    out = format_summary(RESULTS, runtime="runc")
    lines = out.splitlines()
    assert lines[0] == "runtime: runc"
    assert re.match(r"case\s+spec section\s+level\s+result$", lines[1])
    assert set(lines[2]) <= {"-", " "}
    row = next(line for line in lines if line.startswith("kill.stopped"))
    assert "runtime.md#kill" in row and "fail: kill of a stopped container succeeded" in row
    assert "\n" not in row
    assert lines[-1] == "3 cases: 1 pass, 1 fail, 1 skip"
    # columns line up: "spec section" starts at the same offset on every row
    col = lines[1].index("spec section")
    for line in lines[3:6]:
        assert line[col - 2:col] == "  " and line[col] != " "


def test_summary_truncates_long_messages():
    out = format_summary([_r("x.y", FAIL, "e" * 500)])
    row = next(line for line in out.splitlines() if line.startswith("x.y"))
    assert row.endswith("...") and len(row) < 200


def test_compare_lists_only_differences():
    other = [_r("start.twice", PASS),
             _r("kill.stopped", PASS, section="runtime.md#kill"),
             _r("linux.cgroups-hugetlb", FAIL, "no", "config-linux.md#huge-page-limits")]
    out = format_compare(RESULTS, other, "runc", "crun")
    lines = out.splitlines()
    assert lines[0] == "2 cases differ between runc and crun:"
    assert re.match(r"case\s+spec section\s+runc\s+crun$", lines[1])
    body = "\n".join(lines[3:])
    assert "kill.stopped" in body and "linux.cgroups-hugetlb" in body
    assert "start.twice" not in body


def test_compare_agreement_and_missing_cases():
    assert format_compare(RESULTS, RESULTS, "a", "b") == "a and b agree on all 3 cases\n"
    out = format_compare(RESULTS[:1], RESULTS[1:2], "a", "b")
    rows = out.splitlines()[3:]
    assert any(r.startswith("start.twice") and r.rstrip().endswith("-") for r in rows)
    assert any(r.startswith("kill.stopped") and "  -  " in r for r in rows)


def test_parse_report():
    rep = parse_report("uid=0\nbad line\nmount=/proc\trw,nosuid\tproc\trw\t\n"
                       "env.X=a=b\nmount=/\tro\text4\trw\tshared:1\n")
    assert rep["uid"] == "0" and rep["env.X"] == "a=b"
    assert [m["point"] for m in rep["mounts"]] == ["/proc", "/"]
    assert rep["mounts"][0]["opts"] == ["rw", "nosuid"]
    assert rep["mounts"][1]["optional"] == "shared:1"


def test_cases_are_well_formed():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        assert re.match(r"^(runtime|runtime-linux|config|config-linux)\.md#[a-z0-9-]+$", c.section), c
        assert c.level in ("MUST", "SHOULD", "MAY"), c
        assert c.statement and callable(c.func)


def test_select():
    assert select(None) == list(CASES)
    assert {c.id for c in select("hooks.")} == {c.id for c in CASES if "hooks." in c.id}
    glob = select("kill.*")
    assert glob and all(c.id.startswith("kill.") for c in glob)
    by_section = select("runtime.md#delete")
    assert by_section and all(c.section == "runtime.md#delete" for c in by_section)
    both = select("kill.*, runtime.md#delete")
    assert len(both) == len(glob) + len(by_section)
    assert select("no-such-case") == []


def test_cli_list(capsys):
    assert main(["--runtime", "whatever", "--list", "--filter", "start.twice"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("start.twice\truntime.md#start\tMUST\t")


def test_cli_options():
    a = build_parser().parse_args(["--runtime", "crun", "--runtime-arg=--cgroup-manager=disabled",
                                   "--tap", "--compare", "runc", "--filter", "hooks"])
    assert a.runtime_arg == ["--cgroup-manager=disabled"] and a.tap and a.compare == "runc"


def test_cli_unknown_runtime(capsys):
    assert main(["--runtime", "servin-no-such-runtime-binary"]) == 2
    assert "not found" in capsys.readouterr().err
