"""servin-runc create <id>: set the container up, its process waiting for start."""
from . import need_id
from ._args import Opt, UsageError

ARGS = "[options] <container-id>"
CREATE_OPTIONS = {
    "--bundle": Opt("bundle", True, help="path to the bundle (default: the current directory)"),
    "--console-socket": Opt("console_socket", True, help="AF_UNIX socket that receives the pty master"),
    "--pid-file": Opt("pid_file", True, help="file to write the init's pid to"),
    "--no-pivot": Opt("no_pivot", help="move the rootfs and chroot instead of pivot_root"),
    "--no-new-keyring": Opt("no_new_keyring", help="keep the caller's session keyring"),
    "--preserve-fds": Opt("preserve_fds", True, "0", help="pass N extra fds (3..3+N-1) to the process"),
    "--no-subreaper": Opt("no_subreaper", help="accepted for runc compatibility"),
}
CREATE_OPTIONS["-b"] = CREATE_OPTIONS["--bundle"]
OPTIONS = CREATE_OPTIONS


def create_kwargs(v):
    try:
        preserve = int(v["preserve_fds"])
        if preserve < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--preserve-fds {v['preserve_fds']!r}: not a non-negative integer") from None
    return dict(console_socket=v["console_socket"], pid_file=v["pid_file"], no_pivot=v["no_pivot"],
                no_new_keyring=v["no_new_keyring"], preserve_fds=preserve)


def run(root, v, pos):
    cid = need_id(pos, "servin-runc create <container-id>")
    from .._container import create
    sp = create(root, cid, v["bundle"], **create_kwargs(v))
    sp.close()
    sp.container.unlock()
    return 0
