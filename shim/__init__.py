"""servin.shim: containerd's runtime v2 shim for servin (containerd-shim-servin-v2).

Layers, bottom up:

- ``_ttrpc``   sans-IO ttrpc framing and stream state (no I/O, unit-tested);
- ``_server``  ttrpc over unix sockets with threads (the shim's server and a
               blocking client); ``aio`` the same core under asyncio;
- ``_runtime`` the OCI runtime seam (a runc-compatible binary today, the
               in-process servin.runtime library later);
- ``_process`` init/exec processes and their state table; ``_io`` stdio;
- ``_service`` the containerd.task.v2.Task RPCs; ``_events`` publishing;
- ``_daemon``  the long-lived process; ``cli`` the binary's entry point.

Kept import-light on purpose: the long-lived shim's memory is per container.
"""
from ._errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound,  # noqa: F401
                      NotImplementedRPC, RPCError, RuntimeFailed, ShimError)
