"""A small option parser with runc's conventions, cheap to import.

Each command declares its options as {"--name": Opt}; aliases share one
Opt.  Accepted forms: --name value, --name=value, -n value, and for
booleans --name, --name=true|false.  Options may come before or after the
positional arguments, except after "--" or, for commands with
stop_at_positional (exec), after the first positional.
"""


class UsageError(Exception):
    pass


class Opt:
    __slots__ = ("dest", "takes_value", "default", "multi", "help")

    def __init__(self, dest, takes_value=False, default=None, multi=False, help=""):
        self.dest = dest
        self.takes_value = takes_value
        self.default = default if not multi else []
        self.multi = multi
        self.help = help


def parse(argv, opts, stop_at_positional=False):
    values = {}
    for o in opts.values():
        values[o.dest] = list(o.default) if o.multi else o.default
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            pos.extend(argv[i:])
            break
        if a.startswith("-") and a != "-" and not (stop_at_positional and pos):
            name, eq, val = a.partition("=")
            if not name.startswith("--") and len(name) > 2:
                # runc (urfave/cli) also takes -name for long options
                name = "-" + name
            o = opts.get(name)
            if o is None and name.startswith("--"):
                o = opts.get(name[1:])
            if o is None:
                raise UsageError(f"flag provided but not defined: {a.split('=')[0]}")
            if o.takes_value:
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: {name}")
                    val = argv[i]
                    i += 1
                if o.multi:
                    values[o.dest].append(val)
                else:
                    values[o.dest] = val
            else:
                if eq:
                    if val.lower() not in ("true", "false", "1", "0"):
                        raise UsageError(f"invalid boolean value {val!r} for {name}")
                    values[o.dest] = val.lower() in ("true", "1")
                else:
                    values[o.dest] = True
        else:
            pos.append(a)
    return values, pos


def help_text(usage, summary, opts):
    lines = [f"usage: {usage}", "", summary, ""]
    seen = {}
    for name, o in opts.items():
        seen.setdefault(id(o), (o, []))[1].append(name)
    if seen:
        lines.append("options:")
    for o, names in seen.values():
        flag = ", ".join(sorted(names, key=len, reverse=True))
        if o.takes_value:
            flag += " value"
        lines.append(f"  {flag:<34} {o.help}")
    return "\n".join(lines) + "\n"
