"""Formatting results: TAP, the summary table and the comparison of two
runtimes.  Pure functions over :class:`Result` lists (no I/O)."""
from ._registry import FAIL, PASS, SKIP


def _one_line(text):
    return " ".join(str(text).split())


def tap_line(n, r):
    desc = f"{r.case} [{r.section}]"
    if r.status == PASS:
        return f"ok {n} - {desc}"
    if r.status == SKIP:
        return f"ok {n} - {desc} # SKIP {_one_line(r.message)}"
    return f"not ok {n} - {desc}"


def format_tap(results, runtime=None):
    """TAP version 13: a plan, one line per case, failures explained in
    ``#`` diagnostics under their line."""
    lines = ["TAP version 13"]
    if runtime:
        lines.append(f"# runtime: {runtime}")
    lines.append(f"1..{len(results)}")
    for n, r in enumerate(results, 1):
        lines.append(tap_line(n, r))
        if r.status == FAIL and r.message:
            for msg_line in str(r.message).splitlines() or [""]:
                lines.append(f"# {msg_line}")
    return "\n".join(lines) + "\n"


def counts(results):
    c = {PASS: 0, FAIL: 0, SKIP: 0}
    for r in results:
        c[r.status] = c.get(r.status, 0) + 1
    return c


def _table(headers, rows):
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    fmt = lambda row: "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
    out = [fmt(headers), fmt(["-" * w for w in widths])]
    out += [fmt(row) for row in rows]
    return "\n".join(out)


def result_cell(r, width=60):
    if r.status == PASS:
        return "pass"
    msg = _one_line(r.message)
    if len(msg) > width:
        msg = msg[:width - 3] + "..."
    return f"{r.status}: {msg}" if msg else r.status


def format_summary(results, runtime=None):
    """A table (case, spec section, level, result) and a count line."""
    rows = [[r.case, r.section, r.level, result_cell(r)] for r in results]
    c = counts(results)
    head = f"runtime: {runtime}\n" if runtime else ""
    return (head + _table(["case", "spec section", "level", "result"], rows)
            + f"\n\n{len(results)} cases: {c[PASS]} pass, {c[FAIL]} fail, {c[SKIP]} skip\n")


def format_compare(a, b, name_a, name_b):
    """The cases whose status differs between two runs (a case missing
    from one run shows as ``-``)."""
    by_b = {r.case: r for r in b}
    seen = set()
    rows = []
    for r in a:
        seen.add(r.case)
        other = by_b.get(r.case)
        if other is None or other.status != r.status:
            rows.append([r.case, r.section, result_cell(r, 40),
                         result_cell(other, 40) if other else "-"])
    for r in b:
        if r.case not in seen:
            rows.append([r.case, r.section, "-", result_cell(r, 40)])
    if not rows:
        return f"{name_a} and {name_b} agree on all {len(a)} cases\n"
    return (f"{len(rows)} cases differ between {name_a} and {name_b}:\n"
            + _table(["case", "spec section", name_a, name_b], rows) + "\n")
