"""servin-runc delete <id>: remove a stopped (or created) container."""
from . import need_id
from ._args import Opt

ARGS = "[options] <container-id>"
OPTIONS = {"--force": Opt("force", help="kill the container first if it is still running")}
OPTIONS["-f"] = OPTIONS["--force"]


def run(root, v, pos):
    from .._container import delete
    delete(root, need_id(pos, "servin-runc delete <container-id>"), v["force"])
    return 0
