"""linux.memoryPolicy (config-linux.md "Memory policy"): set_mempolicy
before the process runs; bad modes, flags and node lists are refused."""
import pytest

from .oci import runc_deviates


@runc_deviates("config-linux.md Memory policy: runc 1.1.5 predates linux.memoryPolicy and ignores it")
@pytest.mark.parametrize("policy,tag", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "interleave=static:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
])
def test_policy_is_applied(ctx, policy, tag):
    b = ctx.bundle(["sh", "-c", "head -1 /proc/self/numa_maps"])
    b.linux["memoryPolicy"] = policy
    _, res = ctx.run(b)
    assert res.rc == 0, res
    assert tag in res.out, res


@runc_deviates("config-linux.md Memory policy: runc 1.1.5 predates linux.memoryPolicy and accepts anything")
@pytest.mark.parametrize("policy,needle", [
    ({"mode": "MPOL_BOGUS"}, "MPOL_BOGUS"),
    ({"mode": "MPOL_BIND"}, "needs nodes"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "node list"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "takes no nodes"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]}, "MPOL_F_NOPE"),
])
def test_bad_policy_is_refused(ctx, rt, policy, needle):
    b = ctx.bundle(["true"])
    b.linux["memoryPolicy"] = policy
    cid, res = ctx.run(b)
    assert res.rc == 1 and needle in res.err, res
    assert cid not in rt.ids()
