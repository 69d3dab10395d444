"""Namespaces (config-linux.md "Namespaces", "Offset for Time Namespace",
config.md "Hostname", "Domainname"): new ones, joined ones, and what the
process sees in them."""

import os
import subprocess
import uuid

import pytest

from .oci import ns_id, runc_deviates, wait_until

SLEEP = ["sleep", "1000"]
# OCI namespace type -> name under /proc/PID/ns
PROC_NS = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc",
           "uts": "uts", "cgroup": "cgroup", "user": "user", "time": "time"}


def run_ok(ctx, b):
    _, res = ctx.run(b)
    assert res.rc == 0, res
    return res.out


def started(ctx, rt, b):
    cid, _ = ctx.create(b)
    ctx.start(cid)
    return cid, rt.state(cid)["pid"]


@pytest.mark.parametrize("ns_type", [
    "pid", "network", "mount", "ipc", "uts", "cgroup", "time"])
def test_new_namespace(ctx, rt, require_namespace, ns_type):
    require_namespace(ns_type)
    b = ctx.bundle(SLEEP)
    if ns_type not in ("pid", "network", "mount", "ipc", "uts"):
        b.linux["namespaces"].append({"type": ns_type})
    _, pid = started(ctx, rt, b)
    name = PROC_NS[ns_type]
    # A time namespace is entered on execve, which may still be under way
    # when start returns: poll briefly.
    wait_until(lambda: ns_id(pid, name) != ns_id("self", name), timeout=5,
               what="a new %s namespace" % ns_type)


@pytest.mark.parametrize("ns_type", ["network", "ipc", "uts", "cgroup"])
def test_omitted_namespace_is_the_runtimes(ctx, rt, ns_type):
    b = ctx.bundle(SLEEP)
    b.drop_namespace(ns_type)
    if ns_type == "uts":
        b.config.pop("hostname")
    _, pid = started(ctx, rt, b)
    name = PROC_NS[ns_type]
    assert ns_id(pid, name) == ns_id("self", name)


def test_pid_namespace_init_is_pid1(ctx):
    assert run_ok(ctx, ctx.bundle(["sh", "-c", "echo $$"])) == "1\n"


def test_without_pid_namespace_pid_is_hosts(ctx):
    b = ctx.bundle(["sh", "-c", "echo $$"])
    b.drop_namespace("pid")
    assert int(run_ok(ctx, b)) > 1


def test_new_network_namespace_has_only_loopback(ctx):
    b = ctx.bundle(["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1"])
    assert run_ok(ctx, b).split() == ["lo"]


@pytest.fixture
def netns(ctx):
    name = "oci-it-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    ctx.defer(subprocess.run, ["ip", "netns", "del", name])
    return name


def test_join_network_namespace_by_path(ctx, rt, netns):
    path = "/run/netns/" + netns
    subprocess.run(["ip", "-n", netns, "addr", "add", "10.99.1.1/32", "dev",
                    "lo"], check=True)
    b = ctx.bundle(["sh", "-c", "ip -o -4 addr | grep -c 10.99.1.1/32; "
                    "exec sleep 1000"])
    b.drop_namespace("network")
    b.linux["namespaces"].append({"type": "network", "path": path})
    cid, pid = started(ctx, rt, b)
    assert ns_id(pid, "net") == "net:[%d]" % os.stat(path).st_ino
    ctx.wait_status(cid, "running")
    rt("kill", cid, "KILL")
    ctx.wait_status(cid, "stopped")
    assert ctx.output(cid) == "1\n"


def test_join_uts_namespace_of_another_container(ctx, rt):
    a = ctx.bundle(SLEEP)
    a.config["hostname"] = "alpha-host"
    _, apid = started(ctx, rt, a)

    b = ctx.bundle(["hostname"])
    b.config.pop("hostname")
    b.drop_namespace("uts")
    b.linux["namespaces"].append(
        {"type": "uts", "path": "/proc/%d/ns/uts" % apid})
    cid, _ = ctx.create(b)
    bpid = rt.state(cid)["pid"]
    assert ns_id(bpid, "uts") == ns_id(apid, "uts")
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    assert ctx.output(cid) == "alpha-host\n"


def test_join_ipc_and_network_of_another_container(ctx, rt):
    a = ctx.bundle(SLEEP)
    _, apid = started(ctx, rt, a)
    b = ctx.bundle(SLEEP)
    b.drop_namespace("ipc")
    b.drop_namespace("network")
    b.linux["namespaces"] += [
        {"type": "ipc", "path": "/proc/%d/ns/ipc" % apid},
        {"type": "network", "path": "/proc/%d/ns/net" % apid}]
    _, bpid = started(ctx, rt, b)
    assert ns_id(bpid, "ipc") == ns_id(apid, "ipc")
    assert ns_id(bpid, "net") == ns_id(apid, "net")
    assert ns_id(bpid, "mnt") != ns_id(apid, "mnt")


def test_hostname(ctx):
    b = ctx.bundle(["hostname"])
    b.config["hostname"] = "servin-test"
    assert run_ok(ctx, b) == "servin-test\n"
    assert os.uname().nodename != "servin-test"


@runc_deviates("config.md Domainname: the runtime sets the domainname of a "
               "new UTS namespace; runc 1.1.5 ignores the field")
def test_domainname(ctx):
    b = ctx.bundle(["cat", "/proc/sys/kernel/domainname"])
    b.config["domainname"] = "example.org"
    assert run_ok(ctx, b) == "example.org\n"


def test_cgroup_namespace_root_is_own_cgroup(ctx):
    b = ctx.bundle(["cat", "/proc/self/cgroup"])
    b.linux["namespaces"].append({"type": "cgroup"})
    lines = run_ok(ctx, b).splitlines()
    assert lines
    for line in lines:
        assert line.split(":", 2)[2] == "/", line


def test_without_cgroup_namespace_sees_host_path(ctx, rt):
    b = ctx.bundle(["cat", "/proc/self/cgroup"])
    out = run_ok(ctx, b)
    assert any(line.split(":", 2)[2] != "/" for line in out.splitlines())


def test_time_namespace_offsets(ctx, require_namespace):
    # runc 1.1.5 predates the time namespace (runtime-spec 1.1) and says so
    # in its features, so this skips there.
    require_namespace("time")
    b = ctx.bundle(["sh", "-c", "cat /proc/self/timens_offsets; "
                    "cut -d. -f1 /proc/uptime"])
    b.linux["namespaces"].append({"type": "time"})
    mono, boot = 86400 * 365, 86400 * 400
    b.linux["timeOffsets"] = {
        "monotonic": {"secs": mono, "nanosecs": 0},
        "boottime": {"secs": boot, "nanosecs": 0}}
    lines = run_ok(ctx, b).splitlines()
    offsets = {line.split()[0]: line.split()[1:] for line in lines[:2]}
    assert offsets == {"monotonic": [str(mono), "0"],
                       "boottime": [str(boot), "0"]}
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    assert int(lines[2]) >= boot + int(host_uptime)


def test_user_namespace_mappings(ctx, rt, require_namespace):
    require_namespace("user")
    # The mapped root must be able to reach the rootfs: the bundle goes
    # in a world-traversable directory (pytest's tmp is 0700).
    b = ctx.bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; "
                    "id -u"], parent=ctx.short)
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 200000,
                               "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 200000,
                               "size": 65536}]
    lines = run_ok(ctx, b).splitlines()
    assert lines[0].split() == ["0", "200000", "65536"]
    assert lines[1].split() == ["0", "200000", "65536"]
    assert lines[2] == "0"


def test_unknown_namespace_path_fails(ctx, rt):
    b = ctx.bundle(SLEEP)
    b.drop_namespace("network")
    missing = "/run/netns/oci-it-missing-" + uuid.uuid4().hex[:8]
    b.linux["namespaces"].append({"type": "network", "path": missing})
    cid, res = ctx.create(b, check=False)
    assert res.rc != 0
    assert missing in res.err
    assert cid not in rt.ids()
