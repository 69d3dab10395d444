"""servin-runc state <id>: the runtime-spec state of a container, as JSON."""
import json
import sys

from . import need_id

ARGS = "<container-id>"
OPTIONS = {}


def run(root, v, pos):
    from .._container import state
    st = state(root, need_id(pos, "servin-runc state <container-id>"))
    sys.stdout.write(json.dumps(st, indent=2) + "\n")
    return 0
