"""servin-runc restore <id>: restore a container from a CRIU checkpoint."""
from . import need_id
from ._args import Opt
from .checkpoint import COMMON

ARGS = "[options] <container-id>"
OPTIONS = dict(COMMON)
OPTIONS.update({
    "--bundle": Opt("bundle", True, help="path to the bundle (default: the current directory)"),
    "--console-socket": Opt("console_socket", True, help="AF_UNIX socket that receives the pty master"),
    "--detach": Opt("detach", help="detach from the container's process"),
    "--pid-file": Opt("pid_file", True, help="file to write the restored init's pid to"),
    "--no-subreaper": Opt("no_subreaper", help="do not become a subreaper while waiting"),
    "--no-pivot": Opt("no_pivot", help="accepted for runc compatibility; CRIU restores the mount namespace itself"),
    "--lsm-profile": Opt("lsm_profile", True, help="LSM profile for the restored process, TYPE:NAME"),
    "--lsm-mount-context": Opt("lsm_mount_context", True, help="LSM mount context for the restored mounts"),
})
OPTIONS["-b"] = OPTIONS["--bundle"]
OPTIONS["-d"] = OPTIONS["--detach"]


def run(root, v, pos):
    cid = need_id(pos, "servin-runc restore <container-id>")
    from . import CRIU
    from .._criu import CriuOptions, restore
    return restore(root, cid, v["bundle"], CriuOptions.from_values(v), console_socket=v["console_socket"],
                   pid_file=v["pid_file"], detach=v["detach"], no_subreaper=v["no_subreaper"], criu=CRIU)
