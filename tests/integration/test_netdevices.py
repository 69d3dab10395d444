"""linux.netDevices: a host interface moved into the container (renamed),
and back on delete — also when create fails after the move."""
import os
import subprocess

import pytest

from .oci import find_runtime, is_runc

pytestmark = pytest.mark.skipif(is_runc(find_runtime() or "") if find_runtime() else True,
                                reason="runc 1.1.5 predates linux.netDevices (runtime-spec 1.3)")


@pytest.fixture
def dummy():
    # a veth pair (this kernel has no dummy driver): one end goes into the
    # container; if it were lost with the namespace, the peer would go too
    name = f"srvt{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_device_moved_in_and_back(ctx, rt, dummy):
    b = ctx.bundle(["sh", "-c", "cat /sys/class/net/ctr7/type; ls /sys/class/net"])
    b.linux["netDevices"] = {dummy: {"name": "ctr7"}}
    cid, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.split()[0] == "1"                # ARPHRD_ETHER: the veth end
    assert "ctr7" in res.out.split() and dummy not in res.out
    # deleted: the interface is back on the host under its own name
    assert os.path.exists(f"/sys/class/net/{dummy}")
    assert not os.path.exists("/sys/class/net/ctr7")


def test_device_survives_a_failed_create(ctx, rt, dummy):
    b = ctx.bundle(["/no/such/program"])
    b.linux["netDevices"] = {dummy: {"name": "ctr7"}}
    cid, res = ctx.run(b)
    assert res.rc == 1, res
    assert os.path.exists(f"/sys/class/net/{dummy}")


@pytest.mark.parametrize("devs,needle", [
    ({"nosuchif0": {}}, "nosuchif0"),
    ({"lo": {"name": "bad/name"}}, "bad/name"),
])
def test_bad_net_devices(ctx, rt, devs, needle):
    b = ctx.bundle(["true"])
    b.linux["netDevices"] = devs
    cid, res = ctx.run(b)
    assert res.rc == 1 and needle in res.err, res
    assert cid not in rt.ids()


def test_net_devices_need_a_network_namespace(ctx, rt, dummy):
    b = ctx.bundle(["true"])
    b.drop_namespace("network")
    b.linux["netDevices"] = {dummy: {}}
    cid, res = ctx.run(b)
    assert res.rc == 1 and "network namespace" in res.err, res
    assert os.path.exists(f"/sys/class/net/{dummy}")
