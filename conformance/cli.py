"""``servin-conformance`` / ``python -m servin.conformance``.

Exit status: 0 when no case failed, 1 when some case failed, 2 on a
usage or setup error."""
import argparse
import os
import shlex
import shutil
import sys


class UsageError(Exception):
    pass


def _runtime_argv(spec, extra):
    argv = shlex.split(spec)
    if not argv:
        raise UsageError("empty runtime")
    exe = argv[0]
    if os.sep not in exe:
        found = shutil.which(exe)
        if not found:
            raise UsageError(f"runtime {exe!r} not found in PATH")
        exe = found
    elif not os.access(exe, os.X_OK):
        raise UsageError(f"runtime {exe!r} is not an executable file")
    return [exe] + argv[1:] + list(extra or [])


def build_parser():
    p = argparse.ArgumentParser(
        prog="servin-conformance",
        description="OCI runtime-spec conformance suite for runc-compatible runtimes")
    p.add_argument("--runtime", required=True,
                   help="runtime binary (PATH or name; extra global options may follow, "
                        "shell-quoted as one argument)")
    p.add_argument("--runtime-arg", action="append", default=[], metavar="ARG",
                   help="global option for --runtime, before the subcommand (repeatable), "
                        "e.g. --runtime-arg=--cgroup-manager=disabled")
    p.add_argument("--compare", metavar="RUNTIME2",
                   help="also run RUNTIME2 and print the cases where the two differ")
    p.add_argument("--compare-arg", action="append", default=[], metavar="ARG",
                   help="global option for --compare (repeatable)")
    p.add_argument("--filter", metavar="PATTERN",
                   help="only cases whose id or spec section matches (substring or glob; "
                        "comma-separated)")
    p.add_argument("--tap", action="store_true", help="print TAP instead of the summary table")
    p.add_argument("--hide-cgroup2", action="store_true",
                   help="run --runtime in a private (slave) mount namespace without the hybrid "
                        "layout's /sys/fs/cgroup/unified mount (crun refuses hybrid hosts)")
    p.add_argument("--compare-hide-cgroup2", action="store_true",
                   help="the same for --compare")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="skip the remaining cases once this much time has passed")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print each result on stderr as it comes")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from . import _report, _suite
    from ._registry import FAIL

    if args.list:
        for c in _suite.select(args.filter):
            print(f"{c.id}\t{c.section}\t{c.level}\t{c.statement}")
        return 0
    try:
        runs = [(_runtime_argv(args.runtime, args.runtime_arg), args.hide_cgroup2)]
        if args.compare:
            runs.append((_runtime_argv(args.compare, args.compare_arg), args.compare_hide_cgroup2))
    except UsageError as e:
        print(f"servin-conformance: {e}", file=sys.stderr)
        return 2

    def progress(r):
        if args.verbose:
            print(f"{r.status:4} {r.case} ({r.seconds:.1f}s) {r.message}", file=sys.stderr)

    all_results = []
    for rt, hide in runs:
        try:
            results = _suite.run_suite(rt, args.filter, hide_cgroup2=hide,
                                       on_result=progress, budget=args.budget)
        except (OSError, PermissionError) as e:
            print(f"servin-conformance: {e}", file=sys.stderr)
            return 2
        name = " ".join(rt) + (" (cgroup2 hidden)" if hide else "")
        all_results.append((name, results))
        if args.tap:
            sys.stdout.write(_report.format_tap(results, runtime=name))
        else:
            sys.stdout.write(_report.format_summary(results, runtime=name))
        sys.stdout.flush()
    if args.compare:
        (na, ra), (nb, rb) = all_results
        out = _report.format_compare(ra, rb, na, nb)
        if args.tap:
            out = "".join(f"# {line}\n" for line in out.splitlines())
        sys.stdout.write("\n" + out)
    failed = any(r.status == FAIL for _, res in all_results[:1] for r in res)
    return 1 if failed else 0
