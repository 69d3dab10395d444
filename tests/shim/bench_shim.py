"""Benchmark: containerd-shim-servin-v2 against containerd-shim-runc-v2.

Not a test (not collected).  Run as root:

    python3 tests/shim/bench_shim.py [--runs 20] [--containers 5]

Starts a private containerd (tests/shim/shim_harness.py), then for each
runtime (io.containerd.servin.v2 driving runc, io.containerd.runc.v2):

- time of ``ctr run --rm IMAGE id /bin/true`` (wall clock, ``--runs`` times;
  median, mean, min);
- memory of the shim per container: ``--containers`` detached ``sleep``
  containers, each with its own shim; VmRSS and PSS of each shim process.

Prints a markdown table (docs/shim.md quotes it).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shim_harness as h  # noqa: E402

RUNTIMES = [("servin", "io.containerd.servin.v2"), ("runc", "io.containerd.runc.v2")]


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def shim_of(ctd, before):
    deadline = time.time() + 5
    while time.time() < deadline:
        new = set(ctd.shim_pids()) - before
        if new:
            return new
        time.sleep(0.05)
    return set()


def bench_runtime(ctd, runtime, runs, containers):
    base = ["run", "--runtime", runtime, "--fifo-dir", ctd.fifo_dir]
    # warm-up (page cache, snapshot code paths)
    ctd.ctr(*base, "--rm", h.IMAGE, f"warm-{runtime.split('.')[2]}", "/bin/true")
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        ctd.ctr(*base, "--rm", h.IMAGE, f"t{i}-{runtime.split('.')[2]}", "/bin/true")
        times.append(time.perf_counter() - t0)
    rss, pss = [], []
    ids = []
    for i in range(containers):
        cid = f"m{i}-{runtime.split('.')[2]}"
        before = set(ctd.shim_pids())
        ctd.ctr(*base, "-d", h.IMAGE, cid, "sleep", "120")
        ids.append(cid)
        for pid in shim_of(ctd, before):
            rss.append(h.rss_kib(pid))
            pss.append(pss_kib(pid))
    time.sleep(0.5)
    for cid in ids:
        ctd.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
    for cid in ids:
        for _ in range(50):
            if b"STOPPED" in ctd.ctr("tasks", "ls").stdout or cid.encode() not in ctd.ctr("tasks", "ls").stdout:
                break
            time.sleep(0.05)
        ctd.ctr("tasks", "delete", cid, check=False)
        ctd.ctr("containers", "delete", cid, check=False)
    return times, rss, pss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--containers", type=int, default=5)
    args = ap.parse_args()
    why = h.missing()
    if why:
        sys.exit(f"bench_shim: {why}")
    if not os.path.exists("/usr/bin/containerd-shim-runc-v2"):
        sys.exit("bench_shim: containerd-shim-runc-v2 is not installed")
    ctd = h.Containerd(env={"SERVIN_SHIM_RUNTIME": h.RUNC})
    rows = []
    try:
        ctd.start()
        ctd.import_busybox()
        for name, runtime in RUNTIMES:
            times, rss, pss = bench_runtime(ctd, runtime, args.runs, args.containers)
            rows.append((name, times, rss, pss))
    finally:
        ctd.stop()
    kernel = os.uname().release
    print(f"# shim benchmark: {args.runs} runs of `ctr run --rm busybox /bin/true`, "
          f"{args.containers} detached containers for memory; kernel {kernel}, "
          f"{os.cpu_count()} CPUs, runc {subprocess.run([h.RUNC, '--version'], capture_output=True, text=True).stdout.split()[2]}\n")
    print("| shim | run --rm /bin/true median | mean | min | shim RSS per container (median) | shim PSS (median) |")
    print("|---|---|---|---|---|---|")
    for name, times, rss, pss in rows:
        print(f"| {name} | {statistics.median(times) * 1000:.0f} ms | {statistics.mean(times) * 1000:.0f} ms "
              f"| {min(times) * 1000:.0f} ms | {statistics.median(rss) / 1024:.1f} MiB "
              f"| {statistics.median(pss) / 1024:.1f} MiB |")
    s, r = rows[0], rows[1]
    print(f"\nratio servin/runc: time {statistics.median(s[1]) / statistics.median(r[1]):.2f}x, "
          f"RSS {statistics.median(s[2]) / statistics.median(r[2]):.2f}x, "
          f"PSS {statistics.median(s[3]) / statistics.median(r[3]):.2f}x")


if __name__ == "__main__":
    main()
