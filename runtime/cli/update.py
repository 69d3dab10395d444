"""servin-runc update [options] <id>: change the resource limits of a container."""
from . import need_id
from ._args import Opt

ARGS = "[options] <container-id>"
OPTIONS = {
    "--resources": Opt("resources", True, help="a linux.resources JSON file, '-' for stdin (other options are ignored)"),
    "--memory": Opt("memory", True, help="memory limit (bytes; k/m/g suffixes; -1 unlimited)"),
    "--memory-reservation": Opt("memory_reservation", True, help="memory reservation (soft limit)"),
    "--memory-swap": Opt("memory_swap", True, help="memory + swap limit; -1 unlimited swap"),
    "--kernel-memory": Opt("kernel_memory", True, help="refused: kernel memory limits are not supported"),
    "--kernel-memory-tcp": Opt("kernel_memory_tcp", True, help="refused: kernel memory limits are not supported"),
    "--cpu-shares": Opt("cpu_shares", True, help="CPU shares (relative weight)"),
    "--cpu-quota": Opt("cpu_quota", True, help="CPU CFS quota (usecs per period)"),
    "--cpu-period": Opt("cpu_period", True, help="CPU CFS period (usecs)"),
    "--cpu-rt-period": Opt("cpu_rt_period", True, help="CPU realtime period (usecs)"),
    "--cpu-rt-runtime": Opt("cpu_rt_runtime", True, help="CPU realtime runtime (usecs per period)"),
    "--cpuset-cpus": Opt("cpuset_cpus", True, help="CPUs to use"),
    "--cpuset-mems": Opt("cpuset_mems", True, help="memory nodes to use"),
    "--pids-limit": Opt("pids_limit", True, help="maximum number of pids (0 or -1: unlimited)"),
    "--blkio-weight": Opt("blkio_weight", True, help="block IO weight, 10..1000"),
    "--l3-cache-schema": Opt("l3_cache_schema", True, help="refused: no Intel RDT on this host"),
    "--mem-bw-schema": Opt("mem_bw_schema", True, help="refused: no Intel RDT on this host"),
}
OPTIONS["-r"] = OPTIONS["--resources"]
OPTIONS["--cpu-share"] = OPTIONS["--cpu-shares"]     # runc 1.1 spells it so


def run(root, v, pos):
    cid = need_id(pos, "servin-runc update [options] <container-id>")
    from .._ops import load_resources, resources_from_flags, update
    res = load_resources(v["resources"]) if v["resources"] else resources_from_flags(v)
    update(root, cid, res)
    return 0
