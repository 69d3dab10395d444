"""servin-runc events [--stats] [--interval 5s] <id>: runc's JSON event stream."""
import json
import sys

from . import need_id
from ._args import Opt

ARGS = "[options] <container-id>"
OPTIONS = {
    "--stats": Opt("stats", help="print the container's stats once and exit"),
    "--interval": Opt("interval", True, "5s", help="stats interval (Go duration: 5s, 500ms; default 5s)"),
}


def run(root, v, pos):
    cid = need_id(pos, "servin-runc events [--stats] [--interval 5s] <container-id>")
    from .._events import events, parse_interval
    interval = parse_interval(v["interval"])

    def write(ev):
        sys.stdout.write(json.dumps(ev, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    try:
        events(root, cid, write, once=v["stats"], interval=interval)
    except BrokenPipeError:
        return 0
    return 0
