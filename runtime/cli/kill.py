"""servin-runc kill <id> [signal]: signal the init (or, with --all, every process)."""
from . import need_id
from ._args import Opt

ARGS = "[options] <container-id> [signal]"
OPTIONS = {"--all": Opt("all", help="send the signal to all processes in the container")}
OPTIONS["-a"] = OPTIONS["--all"]


def run(root, v, pos):
    from .._container import kill, parse_signal
    cid = need_id(pos, "servin-runc kill <container-id> [signal]")
    sig = parse_signal(pos[1] if len(pos) > 1 else "SIGTERM")
    kill(root, cid, sig, v["all"])
    return 0
