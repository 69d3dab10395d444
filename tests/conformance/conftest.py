"""Fixtures for the conformance suite's tests.

``servin.conformance`` is importable once the project is installed.  In a
checkout that is not installed, a temporary ``servin/conformance`` symlink
tree is put on ``sys.path`` (``servin`` is a PEP 420 namespace package, so
it merges with an installed ``servin``).
"""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ensure_importable():
    try:
        import servin.conformance  # noqa: F401
        return
    except ImportError:
        pass
    tree = tempfile.mkdtemp(prefix="servin-conformance-path-")
    atexit.register(shutil.rmtree, tree, True)
    os.makedirs(os.path.join(tree, "servin"))
    os.symlink(os.path.join(REPO, "conformance"), os.path.join(tree, "servin", "conformance"))
    sys.path.insert(0, tree)
    # ``servin`` is a namespace package: its __path__ follows sys.path, so
    # an already imported servin.runtime stays as it is.
    importlib.invalidate_caches()


_ensure_importable()


@pytest.fixture(scope="session")
def checker(tmp_path_factory):
    """Path of a servin-checker binary: $SERVIN_CHECKER, the installed one,
    or one compiled here from conformance/checker.c."""
    from servin.conformance import _context
    path = _context.checker_path()
    if os.path.isfile(path):
        return path
    cc = shutil.which(os.environ.get("CC", "cc"))
    src = os.path.join(REPO, "conformance", "checker.c")
    if not cc or not os.path.exists(src):
        pytest.skip("no servin-checker (install the package, set SERVIN_CHECKER, or install cc)")
    out = str(tmp_path_factory.mktemp("checker") / "servin-checker")
    r = subprocess.run([cc, "-static", "-O2", "-Wall", "-o", out, src], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build servin-checker: {r.stderr.strip()[-300:]}")
    return out
