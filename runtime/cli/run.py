"""servin-runc run <id>: create, start, wait for the exit, delete."""
from . import need_id
from ._args import Opt
from .create import CREATE_OPTIONS, create_kwargs

ARGS = "[options] <container-id>"
OPTIONS = dict(CREATE_OPTIONS)
OPTIONS["--detach"] = OPTIONS["-d"] = Opt("detach", help="detach from the container's process")
OPTIONS["--keep"] = Opt("keep", help="do not delete the container after it exits")


def run(root, v, pos):
    cid = need_id(pos, "servin-runc run <container-id>")
    from .._container import run as run_container
    return run_container(root, cid, v["bundle"], detach=v["detach"], keep=v["keep"], **create_kwargs(v))
