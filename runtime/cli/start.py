"""servin-runc start <id>: run the user process of a created container."""
from . import need_id

ARGS = "<container-id>"
OPTIONS = {}


def run(root, v, pos):
    from .._container import start
    start(root, need_id(pos, "servin-runc start <container-id>"))
    return 0
