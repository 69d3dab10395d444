"""servin-runc list: the containers under --root."""
import json
import sys

from ._args import Opt, UsageError

ARGS = "[options]"
OPTIONS = {
    "--format": Opt("format", True, "table", help="table or json"),
    "--quiet": Opt("quiet", help="print only the container ids"),
}
OPTIONS["-f"] = OPTIONS["--format"]
OPTIONS["-q"] = OPTIONS["--quiet"]


def run(root, v, pos):
    from .._container import list_states
    if v["format"] not in ("table", "json"):
        raise UsageError(f"--format {v['format']!r}: must be table or json")
    states = list_states(root)
    out = sys.stdout
    if v["quiet"]:
        for s in states:
            out.write(s["id"] + "\n")
    elif v["format"] == "json":
        out.write(json.dumps(states) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        for s in states:
            rows.append((s["id"], str(s.get("pid", 0)), s["status"], s.get("bundle", ""),
                         s.get("created", ""), s.get("owner", "") or "root"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            out.write("".join(c.ljust(w + 3) for c, w in zip(r[:-1], widths)) + r[-1] + "\n")
    return 0
