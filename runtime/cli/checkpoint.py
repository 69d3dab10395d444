"""servin-runc checkpoint <id>: dump a running container with CRIU."""
from . import need_id
from ._args import Opt

ARGS = "[options] <container-id>"
COMMON = {
    "--image-path": Opt("image_path", True, help="path for the criu image files (default: ./checkpoint)"),
    "--work-path": Opt("work_path", True, help="path for criu's work files and log (default: the image path)"),
    "--tcp-established": Opt("tcp_established", help="allow open tcp connections"),
    "--ext-unix-sk": Opt("ext_unix_sk", help="allow external unix sockets"),
    "--shell-job": Opt("shell_job", help="allow shell jobs"),
    "--file-locks": Opt("file_locks", help="handle file locks, for safety"),
    "--manage-cgroups-mode": Opt("manage_cgroups_mode", True, help="cgroups mode: soft|full|strict|ignore (default: soft)"),
    "--empty-ns": Opt("empty_ns", True, multi=True, help="create a namespace, but don't restore its properties (network)"),
    "--auto-dedup": Opt("auto_dedup", help="enable auto deduplication of memory images"),
    "--lazy-pages": Opt("lazy_pages", help="use userfaultfd to lazily restore memory pages"),
}
OPTIONS = dict(COMMON)
OPTIONS.update({
    "--parent-path": Opt("parent_path", True, help="path of the previous (pre-dump) images, relative to --image-path"),
    "--leave-running": Opt("leave_running", help="leave the process running after checkpointing"),
    "--status-fd": Opt("status_fd", True, "-1", help="criu writes \\0 to this fd once lazy-pages is ready"),
    "--page-server": Opt("page_server", True, help="ADDRESS:PORT of the page server"),
    "--pre-dump": Opt("pre_dump", help="dump the memory only and leave the container running"),
})


def run(root, v, pos):
    cid = need_id(pos, "servin-runc checkpoint <container-id>")
    from . import CRIU
    from .._criu import CriuOptions, checkpoint
    checkpoint(root, cid, CriuOptions.from_values(v), criu=CRIU)
    return 0
