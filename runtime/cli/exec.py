"""servin-runc exec [options] <id> <command> [args...]: run a process in a container."""
from . import need_id
from ._args import Opt, UsageError

ARGS = "[options] <container-id> <command> [command options]"
STOP_AT_POSITIONAL = True
OPTIONS = {
    "--process": Opt("process", True, help="path to a process.json (the runtime-spec process object)"),
    "--detach": Opt("detach", help="detach from the process; print nothing, return at once"),
    "--tty": Opt("tty", help="allocate a pseudo-TTY"),
    "--console-socket": Opt("console_socket", True, help="AF_UNIX socket that receives the pty master"),
    "--pid-file": Opt("pid_file", True, help="file to write the process's pid to"),
    "--cwd": Opt("cwd", True, help="current working directory in the container"),
    "--env": Opt("env", True, multi=True, help="set an environment variable (KEY=VALUE; repeatable)"),
    "--user": Opt("user", True, help="uid[:gid] of the process"),
    "--additional-gids": Opt("additional_gids", True, multi=True, help="additional gid (repeatable)"),
    "--cap": Opt("cap", True, multi=True, help="add a capability (repeatable)"),
    "--no-new-privs": Opt("no_new_privs", help="set no_new_privs for the process"),
    "--preserve-fds": Opt("preserve_fds", True, "0", help="pass N extra fds (3..3+N-1) to the process"),
    "--ignore-paused": Opt("ignore_paused", help="allow exec in a paused container"),
    "--process-label": Opt("process_label", True, help="SELinux label (this host has no SELinux: ignored)"),
    "--apparmor": Opt("apparmor", True, help="AppArmor profile (this host has no AppArmor: ignored)"),
    "--cgroup": Opt("cgroup", True, help="run in a sub-cgroup: [controller[,controller]:]path"),
}
for short, long in (("-d", "--detach"), ("-t", "--tty"), ("-e", "--env"), ("-u", "--user"),
                    ("-g", "--additional-gids"), ("-c", "--cap"), ("-p", "--process")):
    OPTIONS[short] = OPTIONS[long]


def run(root, v, pos):
    cid = need_id(pos, "servin-runc exec <container-id> <command> [args...]")
    try:
        preserve = int(v["preserve_fds"])
        if preserve < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--preserve-fds {v['preserve_fds']!r}: not a non-negative integer") from None
    if not v["process"] and len(pos) < 2:
        raise UsageError("exec: a command is required (usage: servin-runc exec <container-id> <command> [args...])")
    from .._exec import Options, execute
    o = Options(pos[1:], v["process"], v["tty"], v["cwd"], v["env"], v["user"], v["additional_gids"],
                v["cap"], v["no_new_privs"], v["apparmor"], v["process_label"])
    return execute(root, cid, o, detach=v["detach"], console_socket=v["console_socket"],
                   pid_file=v["pid_file"], preserve_fds=preserve, ignore_paused=v["ignore_paused"],
                   cgroup=v["cgroup"])
