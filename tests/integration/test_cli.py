"""runc's command line beyond the lifecycle: spec, features, --version."""

import json
import os
import re

import pytest

HOOKS = {"prestart", "createRuntime", "createContainer", "startContainer",
         "poststart", "poststop"}


def test_version(rt):
    res = rt("--version")
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert "version" in lines[0]
    specs = [line for line in lines if line.startswith("spec:")]
    assert len(specs) == 1, res.out
    assert re.match(r"spec: \d+\.\d+\.\d+", specs[0])


def test_spec_writes_default_config(ctx, rt):
    bundle = os.path.join(ctx.tmp, "spec-bundle")
    os.makedirs(bundle)
    res = rt("spec", "--bundle", bundle)
    assert res.rc == 0, res
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    assert re.match(r"\d+\.\d+\.\d+", cfg["ociVersion"])
    assert cfg["process"]["terminal"] is True
    assert cfg["process"]["args"] == ["sh"]
    assert cfg["process"]["cwd"] == "/"
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    types = {n["type"] for n in cfg["linux"]["namespaces"]}
    assert {"pid", "network", "ipc", "uts", "mount"} <= types
    assert "user" not in types
    dests = [m["destination"] for m in cfg["mounts"]]
    for d in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"):
        assert d in dests


def test_spec_in_cwd(ctx, rt):
    bundle = os.path.join(ctx.tmp, "cwd-bundle")
    os.makedirs(bundle)
    res = rt("spec", cwd=bundle)
    assert res.rc == 0, res
    assert os.path.isfile(os.path.join(bundle, "config.json"))


def test_spec_refuses_to_overwrite(ctx, rt):
    bundle = os.path.join(ctx.tmp, "spec-bundle")
    os.makedirs(bundle)
    path = os.path.join(bundle, "config.json")
    with open(path, "w") as f:
        f.write("{}")
    res = rt("spec", "--bundle", bundle)
    assert res.rc != 0
    assert "config.json" in res.err
    with open(path) as f:
        assert f.read() == "{}"


def test_spec_rootless(ctx, rt):
    bundle = os.path.join(ctx.tmp, "rootless")
    os.makedirs(bundle)
    res = rt("spec", "--rootless", "--bundle", bundle)
    assert res.rc == 0, res
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    linux = cfg["linux"]
    types = {n["type"] for n in linux["namespaces"]}
    assert "user" in types and "network" not in types
    uid, gid = os.geteuid(), os.getegid()
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": uid,
                                     "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": gid,
                                     "size": 1}]


def test_spec_output_runs(ctx, rt):
    """The runtime's own spec (terminal off) runs on our rootfs."""
    b = ctx.bundle()  # config.json is only written by b.write()
    res = rt("spec", "--bundle", b.path)
    assert res.rc == 0, res
    with open(os.path.join(b.path, "config.json")) as f:
        b.config = json.load(f)
    b.process["terminal"] = False
    b.process["args"] = ["sh", "-c", "echo spec-ok; hostname"]
    cid, res = ctx.run(b)
    assert res.rc == 0, res
    assert res.out.splitlines()[0] == "spec-ok"
    assert res.out.splitlines()[1] == b.config["hostname"]


def test_features(rt):
    res = rt("features")
    assert res.rc == 0, res
    feat = json.loads(res.out)
    # features.md: ociVersionMin and ociVersionMax are REQUIRED.
    for key in ("ociVersionMin", "ociVersionMax"):
        assert re.match(r"\d+\.\d+\.\d+", feat[key]), key
    assert HOOKS <= set(feat["hooks"])
    opts = set(feat["mountOptions"])
    assert {"bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec",
            "rprivate", "rslave", "rshared"} <= opts
    linux = feat["linux"]
    assert {"pid", "network", "mount", "ipc", "uts", "cgroup",
            "user"} <= set(linux["namespaces"])
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert isinstance(feat.get("annotations", {}), dict)


@pytest.mark.parametrize("cmd", ["create", "run", "delete", "kill", "list",
                                 "spec", "start", "state"])
def test_help_for_each_command(rt, cmd):
    res = rt(cmd, "--help")
    assert res.rc == 0, res
    assert cmd in res.out
