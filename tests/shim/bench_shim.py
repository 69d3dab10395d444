"""Benchmark: containerd-shim-servin-v2 against containerd-shim-runc-v2.

Not a test (not collected).  Run as root with the project installed:

    PATH=.venv/bin:$PATH .venv/bin/python tests/shim/bench_shim.py [--runs 20] [--containers 5]

One private containerd (tests/shim/shim_harness.py) serves every row:

- ``servin+in-process``: our shim calling servin.runtime's library in its
  own process (``SERVIN_SHIM_RUNTIME=servin.runtime`` in containerd's
  environment: no options to parse, as when it is the default);
- ``servin+servin-runc``: our shim running the servin-runc binary
  (``BinaryName`` = its path, ``--runtime-config-path``, a JSON file);
- ``servin+runc``: our shim with ``BinaryName`` = runc (``--runtime-config-path``,
  a JSON file);
- ``runc-shim+runc``: Debian's containerd-shim-runc-v2 and runc, the reference;
- ``runc-shim+servin-runc``: containerd-shim-runc-v2 driving servin-runc
  (``--runc-binary``).

Both shims get a private runtime root (ours by default, the runc shim's
with ``--runc-root``).  Measured:

- the wall time of ``ctr run --rm IMAGE id /bin/true``, ``--runs`` times per
  row, the rows interleaved run by run so load on a shared machine hits
  them alike (median, mean, min);
- the shim's memory per container: ``--containers`` detached ``sleep``
  containers each with its own shim (median VmRSS and PSS of the shims),
  then as many containers grouped in one shim (one sandbox-id annotation):
  that shim's RSS and PSS divided by the number of containers.

Prints a markdown table (docs/shim.md quotes it).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shim_harness as h  # noqa: E402

REFERENCE = "runc-shim+runc"


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rows(ctd, servin_runc):
    """name -> ``ctr run`` flags selecting the shim and its runtime."""
    conf = os.path.join(ctd.dir, "runc.json")
    with open(conf, "w") as f:
        json.dump({"BinaryName": h.RUNC}, f)
    srunc = os.path.join(ctd.dir, "servin-runc.json")
    with open(srunc, "w") as f:
        json.dump({"BinaryName": servin_runc}, f)
    runc_root = os.path.join(ctd.dir, "runc-root")
    return {
        "servin+in-process": ["--runtime", h.RUNTIME],
        "servin+servin-runc": ["--runtime", h.RUNTIME, "--runtime-config-path", srunc],
        "servin+runc": ["--runtime", h.RUNTIME, "--runtime-config-path", conf],
        REFERENCE: ["--runtime", h.RUNC_SHIM, "--runc-binary", h.RUNC, "--runc-root", runc_root],
        "runc-shim+servin-runc": ["--runtime", h.RUNC_SHIM, "--runc-binary", servin_runc,
                                  "--runc-root", runc_root],
    }


def new_shims(ctd, before, want=1):
    deadline = time.time() + 5
    while time.time() < deadline:
        new = set(ctd.shim_pids()) - before
        if len(new) >= want:
            return new
        time.sleep(0.05)
    return set(ctd.shim_pids()) - before


def stop_all(ctd, ids):
    for cid in ids:
        ctd.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
    for cid in ids:
        for _ in range(100):
            line = [x for x in ctd.ctr("tasks", "ls").stdout.decode().splitlines()[1:]
                    if x.split()[:1] == [cid]]
            if not line or "STOPPED" in line[0]:
                break
            time.sleep(0.05)
        ctd.ctr("tasks", "delete", cid, check=False)
        ctd.ctr("containers", "delete", cid, check=False)


def memory(ctd, tag, flags, containers):
    """(RSS, PSS) KiB of a shim per container: alone (median), grouped (total / n)."""
    base = ["run"] + flags + ["--fifo-dir", ctd.fifo_dir]
    rss, pss, ids = [], [], []
    for i in range(containers):
        cid = f"m{i}-{tag}"
        before = set(ctd.shim_pids())
        ctd.ctr(*base, "-d", h.IMAGE, cid, "sleep", "120")
        ids.append(cid)
        for pid in new_shims(ctd, before):
            rss.append(h.rss_kib(pid))
            pss.append(pss_kib(pid))
    time.sleep(0.5)
    stop_all(ctd, ids)
    before = set(ctd.shim_pids())
    ids = []
    for i in range(containers):
        cid = f"g{i}-{tag}"
        ctd.ctr(*base, "-d", "--annotation", f"io.kubernetes.cri.sandbox-id=pod-{tag}",
                h.IMAGE, cid, "sleep", "120")
        ids.append(cid)
    time.sleep(0.5)
    shims = new_shims(ctd, before)
    g_rss = sum(h.rss_kib(p) for p in shims) / containers
    g_pss = sum(pss_kib(p) for p in shims) / containers
    stop_all(ctd, ids)
    return statistics.median(rss), statistics.median(pss), g_rss, g_pss, len(shims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--containers", type=int, default=5)
    args = ap.parse_args()
    why = h.missing()
    if why:
        sys.exit(f"bench_shim: {why}")
    if not os.path.exists(h.RUNC_SHIM_BINARY):
        sys.exit(f"bench_shim: {h.RUNC_SHIM_BINARY} is not installed")
    servin_runc = h.servin_runc()
    if not servin_runc:
        sys.exit("bench_shim: servin-runc is not installed")
    # Our shim without options: in-process; the other rows name their runtime.
    ctd = h.Containerd(env={"SERVIN_SHIM_RUNTIME": "servin.runtime"})
    times, mem = {}, {}
    try:
        ctd.start()
        ctd.import_busybox()
        flags = rows(ctd, servin_runc)
        for n, (name, fl) in enumerate(flags.items()):      # warm-up, and a check
            r = ctd.ctr("run", *fl, "--fifo-dir", ctd.fifo_dir, "--rm", h.IMAGE, f"w{n}", "echo", "ok")
            assert r.stdout == b"ok\n", (name, r)
            times[name] = []
        for i in range(args.runs):
            for n, (name, fl) in enumerate(flags.items()):
                t0 = time.perf_counter()
                ctd.ctr("run", *fl, "--fifo-dir", ctd.fifo_dir, "--rm", h.IMAGE, f"t{i}-{n}", "/bin/true")
                times[name].append(time.perf_counter() - t0)
        for n, (name, fl) in enumerate(flags.items()):
            mem[name] = memory(ctd, str(n), fl, args.containers)
    finally:
        ctd.stop()
    runc_v = subprocess.run([h.RUNC, "--version"], capture_output=True, text=True).stdout.split()[2]
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(x.split(":", 1)[1].strip() for x in f if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1/hybrid"
    print(f"# shim benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
          f"{args.runs} runs per row of `ctr run --rm busybox /bin/true` (rows interleaved), "
          f"{args.containers} containers for memory; {cpu}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, cgroup {cg}, runc {runc_v}, "
          f"Python {platform.python_version()}\n")
    print("| shim + runtime | run --rm /bin/true median | mean | min | time vs runc shim "
          "| RSS/container alone | PSS alone | RSS/container grouped | PSS grouped |")
    print("|---|---|---|---|---|---|---|---|---|")
    ref = statistics.median(times[REFERENCE])
    for name in times:
        t = times[name]
        rss, pss, g_rss, g_pss, n_shims = mem[name]
        note = "" if n_shims == 1 else f" ({n_shims} shims!)"
        print(f"| {name} | {statistics.median(t) * 1000:.0f} ms | {statistics.mean(t) * 1000:.0f} ms "
              f"| {min(t) * 1000:.0f} ms | {statistics.median(t) / ref:.2f}x "
              f"| {rss / 1024:.1f} MiB | {pss / 1024:.1f} MiB | {g_rss / 1024:.1f} MiB{note} "
              f"| {g_pss / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()
