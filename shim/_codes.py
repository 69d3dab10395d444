"""gRPC status codes, as carried by ``google.rpc.Status.code`` in ttrpc.

containerd maps them back to its errdefs (NotFound, AlreadyExists,
FailedPrecondition, NotImplemented ...), so the shim picks them with care.
"""

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

NAMES = {v: k for k, v in globals().items() if k.isupper() and isinstance(v, int)}
