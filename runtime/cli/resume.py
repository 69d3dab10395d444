"""servin-runc resume <id>: thaw a paused container."""
from . import need_id

ARGS = "<container-id>"
OPTIONS = {}


def run(root, v, pos):
    from .._ops import resume
    resume(root, need_id(pos, "servin-runc resume <container-id>"))
    return 0
