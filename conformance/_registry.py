"""The case registry: every conformance case is a function registered with
:func:`case`, naming the spec section and the normative statement it checks.

A case function receives a :class:`servin.conformance._context.Context` and
either returns (pass), raises :class:`CaseFailed` (through ``t.fail`` /
``t.check``) or raises :class:`CaseSkipped` (through ``t.skip``), whose
reason must come from something read on the host or from how the runtime
was invoked, never from the runtime's name.
"""
from dataclasses import dataclass, field

PASS = "pass"
FAIL = "fail"
SKIP = "skip"


class CaseFailed(Exception):
    """The runtime did not do what the statement requires."""


class CaseSkipped(Exception):
    """The case cannot run here; the message says what the host lacks."""


@dataclass(frozen=True)
class Case:
    id: str            # "lifecycle.start-twice"
    section: str       # "runtime.md#start"
    level: str         # "MUST", "SHOULD", "MAY"
    statement: str     # the normative sentence (paraphrased where long)
    func: object = field(compare=False, repr=False)


@dataclass
class Result:
    case: str
    section: str
    level: str
    status: str        # PASS / FAIL / SKIP
    message: str = ""  # the failure or the skip reason
    seconds: float = 0.0


CASES: list = []


def case(case_id, section, level, statement):
    """Register a case.  ``case_id`` is unique; ``section`` is
    ``file.md#anchor`` of the runtime-spec (v1.1.0)."""
    def deco(func):
        if any(c.id == case_id for c in CASES):
            raise ValueError(f"duplicate conformance case id {case_id}")
        CASES.append(Case(case_id, section, level, statement, func))
        return func
    return deco
