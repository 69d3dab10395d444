"""servin-runc's command line (filled in by the foundation work)."""
import sys


def main(argv=None):
    sys.stderr.write("servin-runc: not built yet\n")
    return 1
