"""Running the cases: one temp dir per run, one private ``--root``, a
fresh bundle per container, and clean-up after every case."""
import fnmatch
import os
import shutil
import subprocess
import tempfile
import time

from . import _host
from ._context import Context, Runtime, make_rootfs_template
from ._registry import CASES, FAIL, PASS, SKIP, CaseFailed, CaseSkipped, Result
# Importing the case modules registers their cases, in this order.  (They
# are top-level modules: setup.py installs servin.conformance without
# subpackages.)
from . import _cases_lifecycle, _cases_hooks, _cases_config, _cases_linux  # noqa: F401,E402


def select(patterns):
    """Cases matching any of ``patterns`` (comma-separated globs or
    substrings of the case id or section); all cases for no pattern."""
    if not patterns:
        return list(CASES)
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    out = []
    for c in CASES:
        for p in pats:
            if any(ch in p for ch in "*?["):
                hit = fnmatch.fnmatchcase(c.id, p) or fnmatch.fnmatchcase(c.section, p)
            else:
                hit = p in c.id or p in c.section
            if hit:
                out.append(c)
                break
    return out


def _remove_cgroups(name):
    for path in sorted(_host.cgroup_dirs_named(name), key=len, reverse=True):
        for dirpath, dirnames, _ in sorted(os.walk(path, topdown=False), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def _unmount_under(path):
    """Detach any mount left under ``path`` (a leaked container mount
    would otherwise let rmtree reach host files through a bind)."""
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted(points, key=len, reverse=True):
        p = p.replace("\\040", " ")
        if p.startswith(prefix):
            subprocess.run(["umount", "-l", p], capture_output=True)
    return [p for p in points if p.startswith(prefix)]


def _rmtree(path):
    _unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


def run_suite(runtime_argv, patterns=None, hide_cgroup2=False, on_result=None, budget=None,
              op_timeout=None):
    """Run the selected cases against ``runtime_argv`` (binary + global
    args).  ``on_result(result)`` is called after each case; ``budget``
    (seconds) skips the remaining cases once exceeded; ``op_timeout``
    bounds one runtime invocation (default 20 s).  Returns the list of
    :class:`Result`."""
    if os.geteuid() != 0:
        raise PermissionError("the conformance suite runs containers: run it as root")
    work = tempfile.mkdtemp(prefix="servin-conformance-")
    os.chmod(work, 0o711)  # mapped (user namespace) ids must reach the bundles
    results = []
    started = time.monotonic()
    try:
        template = os.path.join(work, "rootfs-template")
        make_rootfs_template(template)
        rt = Runtime(runtime_argv, os.path.join(work, "root"), hide_cgroup2=hide_cgroup2,
                     **({"timeout": op_timeout} if op_timeout else {}))
        if budget is not None:
            rt.deadline = started + budget
        for n, c in enumerate(select(patterns)):
            if budget is not None and time.monotonic() - started > budget:
                res = Result(c.id, c.section, c.level, SKIP, f"time budget of {budget}s used up")
                results.append(res)
                if on_result:
                    on_result(res)
                continue
            cdir = os.path.join(work, f"case{n}")
            os.makedirs(cdir)
            t = Context(rt, cdir, template, c.id)
            t0 = time.monotonic()
            try:
                c.func(t)
                status, msg = PASS, ""
            except CaseSkipped as e:
                status, msg = SKIP, str(e)
            except CaseFailed as e:
                status, msg = FAIL, str(e)
            except Exception as e:  # a harness error is reported, not hidden
                status, msg = FAIL, f"harness error: {type(e).__name__}: {e}"
            finally:
                errs = t.cleanup()
            if errs and status == PASS:
                status, msg = FAIL, "; ".join(errs)
            for cid in t.ids:
                _remove_cgroups(cid)
            if _unmount_under(cdir) and status == PASS:
                status, msg = FAIL, "mounts were left behind on the host under the case's directory"
            _rmtree(cdir)
            res = Result(c.id, c.section, c.level, status, msg, time.monotonic() - t0)
            results.append(res)
            if on_result:
                on_result(res)
    finally:
        _rmtree(work)
    return results
