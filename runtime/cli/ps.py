"""servin-runc ps [--format table|json] <id> [ps options]: the container's processes."""
import sys

from . import need_id
from ._args import Opt, UsageError

ARGS = "[options] <container-id> [ps options]"
STOP_AT_POSITIONAL = True
OPTIONS = {"--format": Opt("format", True, "table", help="table (ps(1) output, default) or json (the pids)")}
OPTIONS["-f"] = OPTIONS["--format"]


def run(root, v, pos):
    cid = need_id(pos, "servin-runc ps [--format table|json] <container-id> [ps options]")
    from .._ops import pids, ps_table
    if v["format"] == "json":
        if len(pos) > 1:
            raise UsageError("ps: ps options cannot be used with --format json")
        sys.stdout.write("[" + ",".join(str(p) for p in pids(root, cid)) + "]\n")
    elif v["format"] == "table":
        sys.stdout.write(ps_table(root, cid, pos[1:]))
    else:
        raise UsageError(f"ps: invalid format {v['format']!r} (table or json)")
    return 0
