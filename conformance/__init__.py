"""Servin's OCI runtime-spec conformance suite.

Runnable against any runc-compatible runtime binary::

    python -m servin.conformance --runtime /usr/bin/runc [--filter PATTERN] [--tap]
                                 [--compare /usr/bin/crun]

Each case builds a bundle from a busybox rootfs, runs the runtime with a
private ``--root`` in a temporary directory and checks the effect from
inside the container (through the static ``servin-checker`` binary) and
from the host.  Every case names the spec section and the normative
statement it checks.  See docs/conformance.md.

Public surface: :func:`run_suite`, :class:`Result`, :data:`CASES`,
and the formatters :func:`format_tap`, :func:`format_summary`,
:func:`format_compare`.
"""
from ._registry import CASES, Case, Result, SKIP, PASS, FAIL
from ._report import format_compare, format_summary, format_tap
from ._suite import run_suite

__all__ = ["CASES", "Case", "Result", "PASS", "FAIL", "SKIP", "run_suite",
           "format_tap", "format_summary", "format_compare"]
