"""servin-runc pause <id>: freeze every process of the container."""
from . import need_id

ARGS = "<container-id>"
OPTIONS = {}


def run(root, v, pos):
    from .._ops import pause
    pause(root, need_id(pos, "servin-runc pause <container-id>"))
    return 0
