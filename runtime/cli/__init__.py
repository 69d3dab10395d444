"""servin-runc: runc's command line over servin.runtime.

main() is the one place where a ServinError becomes a line on stderr, a
JSON (or text) log line for --log, and the exit status (STYLE.md item 2).
Each command is a small module of this package: it declares its options
and makes one library call.
"""
import os
import sys
import time

from ._args import Opt, UsageError, help_text, parse

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"

COMMANDS = {
    "create": "create a container",
    "start": "start a created container",
    "run": "create and run a container",
    "state": "output the state of a container",
    "kill": "send a signal to the container's init process",
    "delete": "delete a container and everything it holds",
    "list": "list containers",
    "spec": "create a new specification file (config.json)",
    "features": "show the enabled features",
    "exec": "execute a new process inside the container",
    "pause": "pause all processes in the container",
    "resume": "resume all processes of a paused container",
    "ps": "list the processes running inside a container",
    "update": "update the resource limits of a container",
    "events": "display container events: OOM notices and resource statistics",
    "checkpoint": "checkpoint a running container (CRIU)",
    "restore": "restore a container from a previous checkpoint (CRIU)",
}
ALIASES = {"ls": "list", "rm": "delete", "del": "delete"}
CRIU = None         # the global --criu, read by checkpoint and restore

GLOBAL = {
    "--root": Opt("root", True, None, help="state directory (default /run/servin; rootless: $XDG_RUNTIME_DIR/servin, or /tmp/servin-<uid> when XDG_RUNTIME_DIR is unset)"),
    "--log": Opt("log", True, help="log file (default: stderr only)"),
    "--log-format": Opt("log_format", True, "text", help="text or json"),
    "--debug": Opt("debug", help="debug output in the log"),
    "--systemd-cgroup": Opt("systemd_cgroup", help="accepted for runc compatibility; no effect (this host has no systemd): cgroupsPath slice:prefix:name is rejected"),
    "--rootless": Opt("rootless", True, "auto", help="auto (default: rootless when not root), true or false: a rootless container runs without cgroups unless they are delegated, and its state lives under $XDG_RUNTIME_DIR/servin (else /tmp/servin-<uid>)"),
    "--criu": Opt("criu", True, help="path to the criu binary for checkpoint and restore (default: criu on PATH)"),
    "--help": Opt("help"), "-h": None,
    "--version": Opt("version"), "-v": None,
}
GLOBAL["-h"] = GLOBAL["--help"]
GLOBAL["-v"] = GLOBAL["--version"]


class Logger:
    def __init__(self, path=None, fmt="text", debug=False):
        self.path = path
        self.fmt = fmt
        self.debug_on = debug

    def _write(self, level, msg):
        if not self.path:
            return
        t = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)
        if self.fmt == "json":
            import json
            line = json.dumps({"level": level, "msg": msg, "time": ts})
        else:
            q = msg.replace("\\", "\\\\").replace('"', '\\"')
            line = f'time="{ts}" level={level} msg="{q}"'
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            pass

    def error(self, msg):
        self._write("error", msg)

    def warn(self, msg):
        sys.stderr.write(f"servin-runc: warning: {msg}\n")
        self._write("warning", msg)

    def note(self, msg):
        """A warning about the config: to the log; to stderr with --debug."""
        if self.debug_on:
            sys.stderr.write(f"servin-runc: warning: {msg}\n")
        self._write("warning", msg)

    def debug(self, msg):
        if self.debug_on:
            self._write("debug", msg)


def usage():
    lines = ["usage: servin-runc [global options] command [command options] [arguments...]", "",
             "An OCI runtime-spec container runtime with runc's command line.", "", "commands:"]
    for name, desc in COMMANDS.items():
        lines.append(f"  {name:<10} {desc}")
    lines += ["", "global options:"]
    seen = set()
    for name, o in GLOBAL.items():
        if o is None or id(o) in seen or not o.help:
            continue
        seen.add(id(o))
        flag = name + (" value" if o.takes_value else "")
        lines.append(f"  {flag:<24} {o.help}")
    return "\n".join(lines) + "\n"


def split_global(argv):
    """Global options come before the command."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        name = argv[i].partition("=")[0]
        o = GLOBAL.get(name) or GLOBAL.get(name[1:] if name.startswith("--") else "-" + name)
        if o is None:
            raise UsageError(f"flag provided but not defined: {argv[i]}")
        i += 1
        if o.takes_value and "=" not in argv[i - 1]:
            i += 1
    g, _ = parse(argv[:i], GLOBAL)
    return g, argv[i:]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    log = Logger()
    try:
        g, rest = split_global(argv)
        if g["log_format"] not in ("text", "json"):
            raise UsageError(f"--log-format {g['log_format']!r}: must be text or json")
        log = Logger(g["log"], g["log_format"], g["debug"])
        if g["version"]:
            sys.stdout.write(f"servin-runc version {VERSION}\nspec: {SPEC_VERSION}\n")
            return 0
        if g["help"] or not rest:
            sys.stdout.write(usage())
            return 0 if g["help"] else 1
        cmd = ALIASES.get(rest[0], rest[0])
        if cmd not in COMMANDS:
            raise UsageError(f"no such command: {rest[0]}")
        from .. import _rootless
        _rootless.set_mode(g["rootless"])
        root = g["root"] or (_rootless.default_root() if _rootless.enabled() else "/run/servin")
        global CRIU
        CRIU = g["criu"]
        mod = __import__(f"servin.runtime.cli.{cmd}", fromlist=["run"])
        opts = dict(mod.OPTIONS)
        opts.setdefault("--help", Opt("help"))
        opts.setdefault("-h", opts["--help"])
        values, pos = parse(rest[1:], opts, getattr(mod, "STOP_AT_POSITIONAL", False))
        if values.get("help"):
            sys.stdout.write(help_text(f"servin-runc {cmd} {mod.ARGS}", COMMANDS[cmd], mod.OPTIONS))
            return 0
        from .. import _container
        _container.Log.warn = log.warn
        _container.Log.note = log.note
        return mod.run(root, values, pos) or 0
    except UsageError as e:
        msg = str(e)
        sys.stderr.write(f"servin-runc: {msg}\n")
        log.error(msg)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from .._errors import ServinError
        if isinstance(e, ServinError):
            msg = str(e)
            code = e.exit_code
        elif isinstance(e, OSError):
            msg = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
            code = 1
        else:
            raise
        sys.stderr.write(f"servin-runc: {msg}\n")
        log.error(msg)
        return code


def need_id(pos, usage_line):
    if len(pos) < 1 or not pos[0]:
        raise UsageError(f"container id cannot be empty (usage: {usage_line})")
    return pos[0]
