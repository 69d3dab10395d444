"""What the shim leaves in a bundle for its `delete` action.

``servin-shim.conf`` records which runtime binary and root served the
container, as ``key=value`` lines, so `delete` (run after a shim crash, in
a fresh process) can clean up with the same runtime.  Kept apart so that
`delete` imports almost nothing.
"""
import os

CONFIG_FILE = "servin-shim.conf"


def runtime_config_path(bundle):
    return os.path.join(bundle, CONFIG_FILE)


def write_runtime_config(bundle, binary, root):
    with open(runtime_config_path(bundle), "w") as f:
        f.write(f"binary={binary}\nroot={root}\n")


def read_runtime_config(bundle):
    out = {}
    try:
        with open(runtime_config_path(bundle)) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                out[k] = v
    except OSError:
        pass
    return out
