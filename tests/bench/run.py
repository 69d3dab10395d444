#!/usr/bin/python3
"""Servin benchmark suite: servin-runc against runc (and crun) in one run.

    ./dev.sh bench [--quick] [--runtimes servin-runc,runc,crun]
                   [--bench run,lifecycle,exec,run-seq,parallel,memory]
                   [--samples N] [--markdown FILE] [--write-bundles DIR]

Every runtime runs the same bundles (busybox from /bin/busybox, the default
`spec` config with terminal false), each with a private --root in a temp
dir.  Samples are taken round-robin across runtimes -- one sample of each
runtime, then the next round, starting each round one runtime later -- so
that drift on a shared machine hits every runtime alike.  The table gives
the median of each benchmark per runtime and its ratio to runc's median.

This is a benchmark, not a test: it prints numbers and never asserts on
them.  tests/bench/test_harness.py checks only the harness logic.

Standard library only, so it runs under any python3 >= 3.9.  Needs root.
docs/performance.md says what each benchmark measures and why this way.
"""

import argparse
import contextlib
import ctypes
import datetime
import errno
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REFERENCE = "runc"
DEFAULT_RUNTIMES = ("servin-runc", "runc", "crun")
BUSYBOX = "/bin/busybox"
TIME = "/usr/bin/time"
CGROUP_ROOT = "/sys/fs/cgroup"
MEMORY_CGROUP = CGROUP_ROOT + "/memory"
UNIFIED_CONTROLLERS = CGROUP_ROOT + "/unified/cgroup.controllers"
CLONE_NEWNS = 0x00020000
MIB = 1024 * 1024
REPO_VENV_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), ".venv", "bin")

# Work per benchmark: (full, quick).  "count" is the size of one sample for
# run-seq (sequential runs) and parallel (containers at once).
PLAN = {
    "run":       {"samples": (50, 3), "warmup": (3, 1)},
    "lifecycle": {"samples": (30, 2), "warmup": (2, 1)},
    "exec":      {"samples": (50, 3), "warmup": (3, 1)},
    "run-seq":   {"samples": (5, 1), "warmup": (0, 0), "count": (100, 5)},
    "parallel":  {"samples": (10, 1), "warmup": (1, 0), "count": (20, 4)},
    "memory":    {"samples": (20, 2), "warmup": (1, 1), "searches": (5, 1),
                  "resolution": (64 * 1024, MIB)},
}
BENCH_ORDER = ("run", "lifecycle", "exec", "run-seq", "parallel", "memory")
# The runtime subcommands each benchmark needs: a runtime whose `start`
# hung once is not asked to start containers again in this run.
USES = {
    "run": {"run"},
    "lifecycle": {"create", "start", "delete"},
    "exec": {"create", "start", "exec", "delete"},
    "run-seq": {"run"},
    "parallel": {"create", "start", "delete"},
    "memory": {"run"},
}

# How long one runtime invocation may take before it counts as hung (s).
CALL_TIMEOUT = 20
# Failed samples after which a runtime is dropped from a benchmark.
MAX_FAILURES = 3


class BenchError(Exception):
    """A runtime invocation failed.

    str() names the command; .detail is only what the runtime said.
    """

    def __init__(self, message, detail=None):
        super().__init__(message)
        self.detail = detail or message


# ---------------------------------------------------------------- statistics

def median(values):
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def ratio(value, reference):
    """value / reference, or None when there is nothing to compare with."""
    if value is None or not reference:
        return None
    return value / reference


def fmt_value(value, unit):
    """Human form of a median: durations in ns, sizes in bytes."""
    if value is None:
        return "-"
    if unit == "ns":
        if value >= 1e9:
            return f"{value / 1e9:.2f} s"
        return f"{value / 1e6:.2f} ms"
    if unit == "bytes":
        return f"{value / MIB:.1f} MiB"
    return f"{value:g} {unit}"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def target_verdict(runtime, r):
    """Issue 6's target applies to servin-runc: ratio to runc <= 1.0."""
    if not runtime.startswith("servin") or r is None:
        return ""
    return "met" if r <= 1.0 else "missed"


class Outcome:
    """The samples of one benchmark for one runtime, or why there are none."""

    def __init__(self, values=None, error=None, failures=()):
        self.values = list(values or [])
        self.error = error
        self.failures = list(failures)   # messages of samples that failed

    @property
    def median(self):
        return median(self.values) if self.values and not self.error else None


class Row:
    def __init__(self, bench, runtime, outcome, unit, reference=None):
        self.bench = bench
        self.runtime = runtime
        self.unit = unit
        self.n = len(outcome.values)
        self.error = outcome.error
        self.failures = outcome.failures
        self.median = outcome.median
        self.ratio = ratio(self.median, reference)
        self.target = target_verdict(runtime, self.ratio)


def make_rows(bench, unit, outcomes, order):
    """Rows for one benchmark, runtimes in `order`, ratios against runc."""
    ref = outcomes.get(REFERENCE)
    ref_median = ref.median if ref else None
    return [Row(bench, name, outcomes[name], unit, ref_median)
            for name in order if name in outcomes]


HEADER = ("benchmark", "runtime", "median", "ratio to runc", "n", "target")


def row_cells(row, previous_bench=None):
    """The cells of one row; an error stands in the median column."""
    bench = row.bench if row.bench != previous_bench else ""
    if row.error:
        return (bench, row.runtime, row.error, "-", str(row.n), "")
    n = str(row.n) + (f" ({len(row.failures)} failed*)" if row.failures else "")
    return (bench, row.runtime, fmt_value(row.median, row.unit),
            fmt_ratio(row.ratio), n, row.target)


def failure_notes(rows):
    """One line per measured row that also had failed samples."""
    return [f"* {r.bench.strip()} / {r.runtime}: {len(r.failures)} sample(s) failed and "
            f"are not in the median, e.g. {r.failures[0]}"
            for r in rows if r.failures and not r.error]


def format_table(rows):
    """The plain-text table printed at the end of a run.

    An error row prints its message after the runtime and nothing else, so
    a long message does not widen the columns of the measured rows.
    """
    cells = []
    prev = None
    for row in rows:
        cells.append((row_cells(row, prev), bool(row.error)))
        prev = row.bench
    widths = [len(h) for h in HEADER]
    for c, is_error in cells:
        for i, v in enumerate(c):
            if is_error and i >= 2:
                break
            widths[i] = max(widths[i], len(v))

    def line(c):
        return "  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()

    lines = [line(HEADER), line(tuple("-" * w for w in widths))]
    notes = failure_notes(rows)
    for c, is_error in cells:
        if is_error:
            lines.append("  ".join(v.ljust(w) for v, w in zip(c[:2], widths)) + "  " + c[2])
        else:
            lines.append(line(c))
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def target_summary(rows):
    """'servin-runc: targets met 3 of 7 (not measured: ...)' per servin runtime."""
    out = []
    for name in dict.fromkeys(r.runtime for r in rows if r.runtime.startswith("servin")):
        mine = [r for r in rows if r.runtime == name]
        met = sum(r.target == "met" for r in mine)
        unmeasured = [r.bench.split(" ")[0] for r in mine if not r.target]
        line = f"{name}: targets met {met} of {len(mine)}"
        if unmeasured:
            line += f" (not measured: {', '.join(unmeasured)})"
        out.append(line)
    return out


def md_escape(text):
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(rows, info):
    """The same table as markdown, machine info first (docs/performance.md)."""
    out = ["### Machine", ""]
    for key, value in info.items():
        out.append(f"- {key}: {md_escape(str(value))}")
    out += ["", "### Results", "",
            "| " + " | ".join(HEADER) + " |",
            "|" + "|".join(["---"] * len(HEADER)) + "|"]
    prev = None
    for row in rows:
        out.append("| " + " | ".join(md_escape(v) for v in row_cells(row, prev)) + " |")
        prev = row.bench
    notes = failure_notes(rows)
    if notes:
        out += [""] + [f"- \\* {md_escape(n[2:])}" for n in notes]
    summary = target_summary(rows)
    if summary:
        out += [""] + [f"- {md_escape(line)}" for line in summary]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------- arguments

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="./dev.sh bench",
        description="Benchmark servin-runc against runc and crun, alternating "
                    "runtimes on the same bundles; prints medians and ratios to runc.")
    p.add_argument("--runtimes", default=",".join(DEFAULT_RUNTIMES),
                   help="comma-separated runtime names on PATH or paths "
                        "(default: %(default)s)")
    p.add_argument("--bench", default=",".join(BENCH_ORDER),
                   help="comma-separated benchmarks to run (default: all: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="a short smoke run: few samples, small counts")
    p.add_argument("--samples", type=int, metavar="N",
                   help="samples per runtime for every benchmark (overrides the plan)")
    p.add_argument("--markdown", metavar="FILE",
                   help="also write the table and machine info as markdown to FILE")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if an installed runtime was skipped or any of its samples "
                        "failed (for CI, with --quick); numbers never fail a run")
    p.add_argument("--write-bundles", metavar="DIR",
                   help="only write the benchmark bundles (bundle-true, bundle-sleep) "
                        "into DIR, for profiling one runtime by hand, and exit")
    args = p.parse_args(argv)
    args.runtimes = [r for r in (s.strip() for s in args.runtimes.split(",")) if r]
    if not args.runtimes:
        p.error("--runtimes: no runtime given")
    names = [os.path.basename(r) for r in args.runtimes]
    if len(set(names)) != len(names):
        p.error("--runtimes: a runtime is named twice")
    benches = [b for b in (s.strip() for s in args.bench.split(",")) if b]
    unknown = [b for b in benches if b not in BENCH_ORDER]
    if unknown or not benches:
        p.error(f"--bench: unknown {','.join(unknown) or '(none)'}; "
                f"choose from {','.join(BENCH_ORDER)}")
    args.bench = [b for b in BENCH_ORDER if b in benches]
    if args.samples is not None and args.samples < 1:
        p.error("--samples must be at least 1")
    if args.markdown:
        args.markdown = os.path.abspath(args.markdown)
    if args.write_bundles:
        args.write_bundles = os.path.abspath(args.write_bundles)
    return args


def plan_for(bench, key, args):
    full, quick = PLAN[bench][key]
    value = quick if args.quick else full
    if key == "samples" and args.samples is not None:
        value = args.samples
    return value


# ------------------------------------------------------------ mount namespaces

_libc = None


def setns(fd):
    """Move this (single-threaded) process into the mount namespace `fd`."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


class Runtime:
    """One OCI runtime binary under test, with its private --root."""

    def __init__(self, spec):
        self.spec = spec
        self.name = os.path.basename(spec)
        self.path = None
        self.version = ""
        self.global_args = []
        self.mntns_fd = None       # run it in this mount namespace (crun workaround)
        self.root = None
        self.notes = []            # workarounds that were needed, said in the output
        self.skipped = None        # why it is not benchmarked
        self.hung = {}             # subcommand -> how it hung; not used again
        self.stamp = None          # (mtime, size) of the binary when we started

    def cmd(self, *args):
        return [self.path, "--root", self.root, *self.global_args, *args]


# ------------------------------------------------------------------ harness

class Harness:
    """Owns the temp dir, the bundles, container ids and the clean-up."""

    def __init__(self, quiet=False):
        self.quiet = quiet
        self.tmp = None
        self.prefix = f"sb{os.getpid()}x"
        self.counter = 0
        self.runtimes = []
        self.own_mntns = None
        self.bundle_true = None
        self.bundle_sleep = None
        self.spec_from = None
        self.my_cgroups = []       # probe cgroups we made
        self.errfile = None
        self._in_ns = None         # the namespace fd entered() is in, if any

    def log(self, msg):
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def new_id(self):
        self.counter += 1
        return f"{self.prefix}{self.counter}"

    # -- set-up

    def setup(self):
        self.tmp = tempfile.mkdtemp(prefix="servin-bench.", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.own_mntns = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.errfile = open(os.path.join(self.tmp, "stderr"), "w+b")

    @contextlib.contextmanager
    def entered(self, rt):
        """Run the body (and the processes it spawns) in rt's mount namespace."""
        if rt.mntns_fd is None or self._in_ns == rt.mntns_fd:
            yield
            return
        if self._in_ns is not None:
            raise RuntimeError("entered() one runtime's namespace inside another's")
        setns(rt.mntns_fd)
        self._in_ns = rt.mntns_fd
        try:
            yield
        finally:
            setns(self.own_mntns)
            self._in_ns = None

    def call(self, rt, *args, errfile=None, check=True, registry=None):
        """Run one runtime command, stdio not a pipe; raise BenchError on failure.

        Returns the elapsed wall time in ns.  Must be inside entered(rt).
        stdin/stdout are /dev/null and stderr a file, so a container that
        inherits them (create) never makes us wait for a pipe to close.
        A hung invocation is killed after CALL_TIMEOUT (in the main thread;
        other threads pass a `registry` list so the main thread can).
        """
        err = errfile or self.errfile
        err.seek(0)
        err.truncate()
        try:
            rc, elapsed = spawn_wait(rt.cmd(*args), err, registry)
        except TimeoutError:
            msg = f"`{rt.name} {' '.join(args)}` hung: killed after {CALL_TIMEOUT} s"
            rt.hung[args[0]] = msg
            raise BenchError(msg, f"hung, killed after {CALL_TIMEOUT} s")
        if check and rc != 0:
            said = last_line(err)
            raise BenchError(f"`{rt.name} {' '.join(args)}` exit {rc}: {said}", said)
        return elapsed

    def make_bundles(self, reference, where=None):
        """Two bundles from /bin/busybox and `reference spec`: /bin/true, sleep."""
        if not os.access(BUSYBOX, os.X_OK):
            raise BenchError(f"{BUSYBOX} missing: apt-get install busybox-static")
        specdir = os.path.join(self.tmp, "spec")
        os.mkdir(specdir)
        with self.entered(reference):
            r = subprocess.run([reference.path, "spec"], cwd=specdir, capture_output=True,
                               text=True, stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise BenchError(f"`{reference.name} spec` failed: {r.stderr.strip()}")
        with open(os.path.join(specdir, "config.json")) as f:
            base = json.load(f)
        self.spec_from = reference.name
        where = where or self.tmp
        self.bundle_true = self._bundle(where, "bundle-true", base, ["/bin/true"])
        self.bundle_sleep = self._bundle(where, "bundle-sleep", base, ["/bin/sleep", "3600"])

    def _bundle(self, where, name, base, argv):
        bundle = os.path.join(where, name)
        rootfs = os.path.join(bundle, base.get("root", {}).get("path", "rootfs"))
        os.makedirs(os.path.join(rootfs, "bin"))
        for d in ("proc", "sys", "dev", "tmp", "etc", "run"):
            os.mkdir(os.path.join(rootfs, d))
        shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        for applet in ("true", "sleep", "sh"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        cfg = json.loads(json.dumps(base))
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = argv
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        return bundle

    # -- runtimes

    def resolve(self, rt):
        path = rt.spec if os.sep in rt.spec else shutil.which(rt.spec)
        if not path and os.sep not in rt.spec:
            # ./dev.sh bench puts .venv/bin on PATH; a bare run.py may not.
            path = shutil.which(rt.spec, path=REPO_VENV_BIN)
        if not path or not os.access(path, os.X_OK):
            rt.skipped = ("not found on PATH or in .venv/bin" if os.sep not in rt.spec
                          else "not executable")
            return False
        rt.path = os.path.abspath(path)
        rt.stamp = file_stamp(rt.path)
        rt.root = os.path.join(self.tmp, "root-" + rt.name)
        os.mkdir(rt.root, 0o700)
        try:
            r = subprocess.run([rt.path, "--version"], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=30)
            said = (r.stdout or r.stderr).strip()
            rt.version = said.splitlines()[0] if said else ""
        except (OSError, subprocess.TimeoutExpired) as e:
            rt.skipped = f"--version failed: {e}"
            return False
        return True

    def smoke(self, rt):
        """Run /bin/true once; for crun try the workarounds this host needs."""
        attempts = [("", [], False)]
        if rt.name == "crun":
            attempts += [
                ("with --cgroup-manager=disabled", ["--cgroup-manager=disabled"], False),
                ("a private mount namespace in which /sys/fs/cgroup/unified/cgroup.controllers "
                 "reads empty (crun 1.8 refuses a hybrid layout whose cgroup v2 has any "
                 "controller, even with --cgroup-manager=disabled)", [], True),
            ]
        errors = []
        for note, gargs, hide in attempts:
            rt.global_args = gargs
            rt.mntns_fd = None
            try:
                if hide:
                    rt.mntns_fd = self.hidden_controllers_ns()
                with self.entered(rt):
                    self.call(rt, "run", "--bundle", self.bundle_true, self.new_id())
            except (BenchError, OSError, TimeoutError) as e:
                errors.append(getattr(e, "detail", str(e)))
                continue
            if note:
                rt.notes.append(f"needed {note}")
                tried = {}
                for prev, err in zip([a[0] or "as is" for a in attempts], errors):
                    tried.setdefault(err, []).append(prev)
                for err, prevs in tried.items():
                    rt.notes.append(f"{' and '.join(prevs)} it failed: {err}")
            return True
        rt.global_args = []
        rt.mntns_fd = None
        rt.skipped = "smoke test failed: " + errors[0]
        if len(errors) > 1:
            rt.skipped += " (workarounds failed too: " + "; ".join(errors[1:]) + ")"
        return False

    _hidden_ns = None

    def hidden_controllers_ns(self):
        """A mount namespace like ours but with an empty unified/cgroup.controllers.

        A short-lived `unshare` makes it and bind-mounts an empty file; we
        keep only a file descriptor of the namespace, so it (and the bind
        mount, which the host never sees) vanish when this process exits.
        """
        if self._hidden_ns is not None:
            return self._hidden_ns
        if not os.path.exists(UNIFIED_CONTROLLERS):
            raise BenchError(f"{UNIFIED_CONTROLLERS} missing: not a hybrid cgroup layout")
        empty = os.path.join(self.tmp, "empty")
        open(empty, "w").close()
        script = ('mount --bind "$1" "$2" && echo ready && read line')
        p = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                              "/bin/sh", "-c", script, "sh", empty, UNIFIED_CONTROLLERS],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().strip()
            if line != "ready":
                raise BenchError("making the mount namespace failed: " + p.stderr.read().strip())
            self._hidden_ns = os.open(f"/proc/{p.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            p.stdin.close()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        return self._hidden_ns

    # -- clean-up

    def cleanup(self):
        """Delete every container we made, then our cgroups, then the temp dir.

        Safe to call after any failure or interruption; says what it could
        not remove.
        """
        for rt in self.runtimes:
            if not rt.root or not os.path.isdir(rt.root):
                continue
            for cid in sorted(os.listdir(rt.root)):
                if cid.startswith(self.prefix):
                    self.force_delete(rt, cid)
        for path in self.leftover_cgroups(depth=3):
            self.log(f"bench: removing leftover cgroup {path}")
            remove_cgroup(path)
        for path in list(self.my_cgroups):
            remove_cgroup(path)
        if self.tmp:
            unmount_below(self.tmp)
            shutil.rmtree(self.tmp, ignore_errors=True)
        for fd in (self._hidden_ns, self.own_mntns):
            if fd is not None:
                os.close(fd)
        self._hidden_ns = self.own_mntns = None
        left = [p for p in self.leftover_cgroups(depth=3) + self.my_cgroups if os.path.isdir(p)]
        if self.tmp and os.path.exists(self.tmp):
            left.append(self.tmp)
        for p in left:
            self.log(f"bench: WARNING: could not remove {p}")

    def force_delete(self, rt, cid):
        """`delete --force`; if the runtime can't, kill the init pid it reports."""
        def run(*args):
            try:
                with self.entered(rt):
                    return subprocess.run(rt.cmd(*args), stdin=subprocess.DEVNULL,
                                          capture_output=True, text=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                return None
        r = run("delete", "--force", cid)
        if r is not None and r.returncode == 0:
            return
        st = run("state", cid)
        try:
            pid = int(json.loads(st.stdout)["pid"]) if st and st.returncode == 0 else 0
        except (ValueError, KeyError, TypeError):
            pid = 0
        if pid > 1:
            self.log(f"bench: {rt.name} could not delete {cid}; killing its pid {pid}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            run("delete", "--force", cid)

    def leftover_cgroups(self, name=None, depth=1):
        """Cgroup dirs named after our container ids (or exactly `name`), up
        to `depth` levels below each hierarchy's root, our own cgroup and our
        probe cgroups (runc nests a container under its own cgroup, crun puts
        it under the root).  Deepest first."""
        found = set()
        for mount in cgroup_mounts():
            bases = {mount}
            rel = self_cgroup_path(mount)
            if rel:
                bases.add(os.path.join(mount, rel.lstrip("/")))
            bases.update(p for p in self.my_cgroups if p.startswith(mount + "/"))
            for base in bases:
                found.update(self._find_cgroups(base, name, depth))
        return sorted(found, key=lambda p: -p.count("/"))

    def _find_cgroups(self, base, name, depth):
        try:
            entries = [e for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        hits = []
        for e in entries:
            if (e.name == name) if name else e.name.startswith(self.prefix):
                hits.append(e.path)
            elif depth > 1:
                hits += self._find_cgroups(e.path, name, depth - 1)
        return hits


def file_stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def check_unchanged(runtimes):
    """Note runtimes whose binary was replaced during the run (a reinstall
    into .venv while benchmarking mixes two builds in one table)."""
    for rt in runtimes:
        if rt.path and rt.stamp and file_stamp(rt.path) != rt.stamp:
            st = file_stamp(rt.path)
            when = (datetime.datetime.fromtimestamp(st[0] / 1e9).strftime("%H:%M:%S")
                    if st else "removed")
            rt.notes.append(f"WARNING: {rt.path} changed during the run ({when}): "
                            "the numbers may mix two builds")


def last_line(f):
    f.seek(0)
    text = f.read().decode(errors="replace").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    msg = lines[-1] if lines else "(no stderr)"
    return msg[:400]


def spawn_wait(cmd, stderr, registry=None):
    """Run cmd to its end; return (exit status, wall time in ns).

    In the main thread a SIGALRM watchdog kills it after CALL_TIMEOUT and
    raises TimeoutError.  Popen.wait() without a timeout blocks in
    waitpid(); with one it polls with sleeps, which would add up to
    milliseconds to what we measure -- hence the alarm.  Other threads
    append the Popen to `registry` and rely on the main thread.
    """
    main = threading.current_thread() is threading.main_thread()
    with watchdog(CALL_TIMEOUT) if main else contextlib.nullcontext():
        t0 = time.perf_counter_ns()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=stderr)
        if registry is not None:
            registry.append(p)
        try:
            rc = p.wait()
        except BaseException:
            p.kill()
            p.wait()
            raise
        return rc, time.perf_counter_ns() - t0


@contextlib.contextmanager
def watchdog(seconds):
    """Raise TimeoutError in the main thread if the body takes too long."""
    def fire(signum, frame):
        raise TimeoutError(f"no answer in {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ cgroups

def cgroup_mounts():
    mounts = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] in ("cgroup", "cgroup2"):
                    mounts.append(parts[1])
    except OSError:
        pass
    return mounts


def self_cgroup_path(mount, proc_cgroup="/proc/self/cgroup"):
    """Our cgroup path in the hierarchy mounted at `mount` (v1: the mount's
    basename names the controllers, e.g. "cpu,cpuacct"; "unified" or a
    plain "cgroup" mount = the v2 line)."""
    ctrl = os.path.basename(mount)
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        names = ctrls.split(",") if ctrls else []
        if ((names and set(ctrl.split(",")) <= set(names)) or f"name={ctrl}" in names
                or (ctrls == "" and hid == "0" and ctrl in ("unified", "cgroup"))):
            return path
    return None


def cgroup_pids(path):
    pids = []
    for dirpath, dirnames, filenames in os.walk(path):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids += [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            pass
    return pids


def remove_cgroup(path):
    """Kill whatever is in the cgroup tree `path`, then rmdir it, deepest first."""
    if not os.path.isdir(path):
        return
    for _ in range(50):
        pids = cgroup_pids(path)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    dirs = [d for d, _, _ in os.walk(path)]
    for d in sorted(dirs, key=lambda p: -p.count("/")):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    break
                time.sleep(0.02)


def unmount_below(path):
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        return
    for mp in sorted((p for p in points if p == path or p.startswith(path + "/")),
                     key=lambda p: -len(p)):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)


# --------------------------------------------------------------- round robin

def round_robin(runtimes, samples, warmup, sample):
    """Call sample(rt) `samples` times per runtime, interleaved.

    Round i starts with runtime i mod len, so no runtime is always first
    after the harness's own pause.  A failed sample is left out of the
    median and counted; a runtime that hangs, or fails MAX_FAILURES times,
    is dropped from this benchmark with its error.  Returns {name: Outcome}.
    """
    values = {rt.name: [] for rt in runtimes}
    failures = {rt.name: [] for rt in runtimes}
    errors = {}
    active = list(runtimes)
    for i in range(warmup + samples):
        k = i % len(active) if active else 0
        for rt in active[k:] + active[:k]:
            if rt.name in errors:
                continue
            try:
                v = sample(rt)
            except (BenchError, TimeoutError, OSError) as e:
                failures[rt.name].append(str(e))
                if getattr(rt, "hung", None) or len(failures[rt.name]) >= MAX_FAILURES:
                    errors[rt.name] = f"failed: {e}"
                continue
            if i >= warmup:
                values[rt.name].append(v)
    return {rt.name: Outcome(values[rt.name], errors.get(rt.name), failures[rt.name])
            for rt in runtimes}


# --------------------------------------------------------------- benchmarks

def bench_run(h, runtimes, args):
    def sample(rt):
        with h.entered(rt):
            return h.call(rt, "run", "--bundle", h.bundle_true, h.new_id())
    out = round_robin(runtimes, plan_for("run", "samples", args),
                      plan_for("run", "warmup", args), sample)
    return [("1 run /bin/true", "ns", out)]


def bench_lifecycle(h, runtimes, args):
    def sample(rt):
        cid = h.new_id()
        with h.entered(rt):
            t0 = time.perf_counter_ns()
            try:
                h.call(rt, "create", "--bundle", h.bundle_sleep, cid)
                h.call(rt, "start", cid)
            except BaseException:
                h.force_delete(rt, cid)
                raise
            h.call(rt, "delete", "--force", cid)
            return time.perf_counter_ns() - t0
    out = round_robin(runtimes, plan_for("lifecycle", "samples", args),
                      plan_for("lifecycle", "warmup", args), sample)
    return [("2 create+start+delete (sleep)", "ns", out)]


def bench_exec(h, runtimes, args):
    running = {}
    failed = {}
    try:
        usable = []
        for rt in runtimes:
            cid = h.new_id()
            try:
                with h.entered(rt):
                    h.call(rt, "create", "--bundle", h.bundle_sleep, cid)
                    running[rt.name] = cid
                    h.call(rt, "start", cid)
                usable.append(rt)
            except BenchError as e:
                failed[rt.name] = str(e)

        def sample(rt):
            with h.entered(rt):
                return h.call(rt, "exec", running[rt.name], "/bin/true")
        out = round_robin(usable, plan_for("exec", "samples", args),
                          plan_for("exec", "warmup", args), sample)
        for rt in runtimes:
            if rt not in usable:
                out[rt.name] = Outcome(error="failed: " + failed[rt.name])
    finally:
        for rt in runtimes:
            cid = running.get(rt.name)
            if cid:
                h.force_delete(rt, cid)
    return [("3 exec /bin/true", "ns", out)]


def bench_run_seq(h, runtimes, args):
    count = plan_for("run-seq", "count", args)

    def sample(rt):
        with h.entered(rt):
            t0 = time.perf_counter_ns()
            for _ in range(count):
                h.call(rt, "run", "--bundle", h.bundle_true, h.new_id())
            return time.perf_counter_ns() - t0
    out = round_robin(runtimes, plan_for("run-seq", "samples", args),
                      plan_for("run-seq", "warmup", args), sample)
    return [(f"4 run /bin/true x{count} sequential", "ns", out)]


def bench_parallel(h, runtimes, args):
    count = plan_for("parallel", "count", args)

    def sample(rt):
        ids = [h.new_id() for _ in range(count)]
        errs = [tempfile.TemporaryFile(dir=h.tmp) for _ in ids]
        failures = []
        procs = []

        def one(cid, err):
            try:
                h.call(rt, "create", "--bundle", h.bundle_sleep, cid, errfile=err,
                       registry=procs)
                h.call(rt, "start", cid, errfile=err, registry=procs)
            except BenchError as e:
                failures.append(str(e))
        threads = [threading.Thread(target=one, args=(cid, err)) for cid, err in zip(ids, errs)]
        with h.entered(rt):
            try:
                with watchdog(CALL_TIMEOUT):
                    t0 = time.perf_counter_ns()
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    elapsed = time.perf_counter_ns() - t0
            except TimeoutError:
                msg = f"`{rt.name} create/start` x{count} hung: killed after {CALL_TIMEOUT} s"
                rt.hung.setdefault("create", msg)
                rt.hung.setdefault("start", msg)
                failures.insert(0, msg)
            finally:
                # setns() back to our namespace needs one thread again.
                while any(t.is_alive() for t in threads):
                    for p in list(procs):
                        if p.poll() is None:
                            p.kill()
                    time.sleep(0.05)
                deleters = [subprocess.Popen(rt.cmd("delete", "--force", cid),
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL) for cid in ids]
                for p in deleters:
                    try:
                        p.wait(timeout=CALL_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                for e in errs:
                    e.close()
        if failures:
            raise BenchError(f"{len(failures)} of {count} failed, e.g. {failures[0]}")
        return elapsed
    out = round_robin(runtimes, plan_for("parallel", "samples", args),
                      plan_for("parallel", "warmup", args), sample)
    return [(f"5 create+start x{count} parallel", "ns", out)]


def bench_memory(h, runtimes, args):
    rss_file = os.path.join(h.tmp, "rss")

    def rss(rt):
        with h.entered(rt):
            h.errfile.seek(0)
            h.errfile.truncate()
            cid = h.new_id()
            try:
                rc, _ = spawn_wait([TIME, "-f", "%M", "-o", rss_file,
                                    *rt.cmd("run", "--bundle", h.bundle_true, cid)], h.errfile)
            except TimeoutError:
                rt.hung["run"] = f"`{rt.name} run` hung: killed after {CALL_TIMEOUT} s"
                raise BenchError(rt.hung["run"])
        if rc != 0:
            raise BenchError(f"`{rt.name} run` under {TIME} exit {rc}: {last_line(h.errfile)}")
        with open(rss_file) as f:
            return int(f.read().split()[-1]) * 1024
    rows = []
    if not os.access(TIME, os.X_OK):
        err = Outcome(error=f"skipped: {TIME} missing (apt-get install time)")
        rows.append(("6a peak RSS (time %M)", "bytes", {rt.name: err for rt in runtimes}))
    else:
        out = round_robin(runtimes, plan_for("memory", "samples", args),
                          plan_for("memory", "warmup", args), rss)
        rows.append(("6a peak RSS (time %M)", "bytes", out))

    if not os.path.isdir(MEMORY_CGROUP):
        err = Outcome(error=f"skipped: no cgroup v1 memory controller at {MEMORY_CGROUP}")
        rows.append(("6b smallest memory limit for run", "bytes",
                     {rt.name: err for rt in runtimes}))
        return rows
    resolution = plan_for("memory", "resolution", args)
    parent = os.path.join(MEMORY_CGROUP, (self_cgroup_path(MEMORY_CGROUP) or "/").lstrip("/"))

    def search(rt):
        return smallest_limit(lambda limit: fits_in(h, rt, parent, limit), resolution)
    out = round_robin(runtimes, plan_for("memory", "searches", args), 0, search)
    rows.append(("6b smallest memory limit for run", "bytes", out))
    return rows


def smallest_limit(fits, resolution, start=64 * MIB, ceiling=4096 * MIB):
    """Binary search for the smallest limit (a multiple of 4 KiB) with fits(limit).

    Assumes fits is monotonic: false below some limit, true above.
    """
    hi = start
    while not fits(hi):
        if hi >= ceiling:
            raise BenchError(f"run fails even with a {ceiling // MIB} MiB memory limit")
        hi *= 2
    lo = 0
    while hi - lo > resolution:
        mid = (lo + hi) // 2 // 4096 * 4096
        if mid <= lo:
            break
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def fits_in(h, rt, parent, limit):
    """Does `rt run /bin/true` succeed inside a fresh memory cgroup of `limit`?

    The runtime invocation itself is moved into the cgroup (by a shell that
    writes its pid to cgroup.procs and then execs the runtime).
    """
    cg = os.path.join(parent, f"{h.prefix}mem{h.counter}")
    os.mkdir(cg)
    h.my_cgroups.append(cg)
    cid = h.new_id()
    try:
        write(os.path.join(cg, "memory.limit_in_bytes"), str(limit))
        memsw = os.path.join(cg, "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            write(memsw, str(limit))
        with h.entered(rt):
            h.errfile.seek(0)
            h.errfile.truncate()
            p = subprocess.Popen(["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"',
                                  os.path.join(cg, "cgroup.procs"),
                                  *rt.cmd("run", "--bundle", h.bundle_true, cid)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=h.errfile)
            try:
                with watchdog(30):
                    rc = p.wait()
            except TimeoutError:
                remove_cgroup(cg)   # kills what is inside
                p.wait()
                rc = -1
        if rc != 0:
            h.force_delete(rt, cid)
        return rc == 0
    finally:
        remove_cgroup(cg)
        h.my_cgroups.remove(cg)
        # A runtime killed by the OOM killer half-way leaves the container's
        # cgroups in the other hierarchies; remove them now, not at the end.
        for path in h.leftover_cgroups(cid, depth=2):
            remove_cgroup(path)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


BENCHES = {
    "run": bench_run,
    "lifecycle": bench_lifecycle,
    "exec": bench_exec,
    "run-seq": bench_run_seq,
    "parallel": bench_parallel,
    "memory": bench_memory,
}


# ---------------------------------------------------------------- machine info

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cgroup_layout():
    try:
        st = os.statvfs(CGROUP_ROOT)
    except OSError:
        return "none"
    del st
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return "v2 (unified)"
    if os.path.exists(UNIFIED_CONTROLLERS):
        return "hybrid (v1 controllers + v2 at /sys/fs/cgroup/unified)"
    return "v1"


def machine_info(h, runtimes, args, started):
    info = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": cpu_model(),
        "cgroups": cgroup_layout(),
        "harness": f"python {platform.python_version()}, "
                   f"{'--quick' if args.quick else 'full run'}; bundles from "
                   f"`{h.spec_from} spec` + {BUSYBOX}",
    }
    for rt in runtimes:
        if rt.skipped:
            info[rt.name] = "skipped: " + rt.skipped
        else:
            extra = f" (global args: {' '.join(rt.global_args)})" if rt.global_args else ""
            info[rt.name] = (rt.version or rt.path) + extra
            for note in rt.notes:
                info[rt.name] += "; " + note
    if getattr(h, "spawn_ns", None):
        info["harness overhead"] = (f"spawning /bin/true directly takes "
                                    f"{fmt_value(h.spawn_ns, 'ns')} (included in every time)")
    return info


# --------------------------------------------------------------------- main

def spawn_overhead(h, n):
    """Samples of the harness's own cost: spawning /bin/true directly."""
    vals = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        subprocess.call(["/bin/true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=h.errfile)
        vals.append(time.perf_counter_ns() - t0)
    return vals


def on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("bench: run as root (./dev.sh bench)", file=sys.stderr)
        return 1
    started = datetime.datetime.now(datetime.timezone.utc)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    h = Harness()
    runtimes = [Runtime(s) for s in args.runtimes]
    h.runtimes = runtimes
    rows = []
    try:
        h.setup()
        found = [rt for rt in runtimes if h.resolve(rt)]
        if not found:
            raise BenchError("no runtime found: " + ", ".join(
                f"{rt.name} ({rt.skipped})" for rt in runtimes))
        ref = next((rt for name in (REFERENCE, "crun") for rt in found if rt.name == name),
                   found[0])
        if args.write_bundles:
            os.makedirs(args.write_bundles, exist_ok=True)
            h.make_bundles(ref, args.write_bundles)
            print(f"{h.bundle_true}\n{h.bundle_sleep}")
            return 0
        h.make_bundles(ref)
        for rt in found:
            h.log(f"bench: smoke test {rt.name} ({rt.path})")
            h.smoke(rt)
        for rt in runtimes:
            for note in rt.notes:
                h.log(f"bench: {rt.name}: {note}")
            if rt.skipped:
                h.log(f"bench: {rt.name}: skipped: {rt.skipped}")
        usable = [rt for rt in runtimes if not rt.skipped]
        spawn = spawn_overhead(h, 20)
        h.spawn_ns = median(spawn)
        order = [rt.name for rt in runtimes]
        for bench in args.bench:
            h.log(f"bench: {bench} ...")
            hung = {rt.name: rt.hung[c] for rt in usable for c in sorted(USES[bench])
                    if c in rt.hung}
            for label, unit, outcomes in BENCHES[bench](
                    h, [rt for rt in usable if rt.name not in hung], args):
                for rt in runtimes:
                    if rt.skipped:
                        outcomes[rt.name] = Outcome(error="skipped: " + rt.skipped)
                    elif rt.name in hung:
                        outcomes[rt.name] = Outcome(error="skipped: earlier " + hung[rt.name])
                rows += make_rows(label, unit, outcomes, order)
        spawn += spawn_overhead(h, 20)
        h.spawn_ns = median(spawn)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted, cleaning up", file=sys.stderr)
        return 130
    finally:
        # Clean-up must not be cut short by a second Ctrl-C or a TERM.
        old = {sig: signal.signal(sig, signal.SIG_IGN)
               for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        check_unchanged(runtimes)
        info = machine_info(h, runtimes, args, started) if h.tmp else {}
        h.cleanup()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if rows:
            print(format_table(rows))
            print()
            for line in target_summary(rows):
                print(line)
            for key in [k for k in info if k not in ("date", "nproc", "kernel", "cpu")]:
                print(f"{key}: {info[key]}")
            if args.markdown:
                with open(args.markdown, "w") as f:
                    f.write(format_markdown(rows, info))
                print(f"bench: markdown written to {args.markdown}", file=sys.stderr)
    if args.strict:
        bad = [f"{r.bench.strip()} / {r.runtime}: {r.error}" for r in rows
               if r.error and not r.error.startswith("skipped: not found")]
        bad += [f"{r.bench.strip()} / {r.runtime}: {len(r.failures)} failed sample(s), "
                f"e.g. {r.failures[0]}" for r in rows if r.failures and not r.error]
        for b in bad:
            print(f"bench: --strict: {b}", file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
