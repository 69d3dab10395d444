"""servin-runc spec: write a default config.json into the bundle."""
import json
import os

from ._args import Opt
from .._errors import ConfigError

ARGS = "[options]"
OPTIONS = {
    "--bundle": Opt("bundle", True, help="the bundle directory (default: the current directory)"),
    "--rootless": Opt("rootless", help="a config for a rootless container"),
}
OPTIONS["-b"] = OPTIONS["--bundle"]


def run(root, v, pos):
    from .._spec import default_spec
    bundle = v["bundle"] or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ConfigError(f"{path} already exists; remove it first")
    spec = default_spec(rootless=v["rootless"], with_seccomp=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f, indent="\t")
        f.write("\n")
    return 0
