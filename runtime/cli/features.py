"""servin-runc features: what this runtime implements, as runtime-spec features.md JSON."""
import json
import sys

ARGS = ""
OPTIONS = {}


def run(root, v, pos):
    from .._features import features
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0
