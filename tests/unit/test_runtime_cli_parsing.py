"""servin-runc's option parser, signal names and mount option tables."""
import signal

import pytest

from servin.runtime import _mountopts as mo
from servin.runtime._container import parse_signal
from servin.runtime._errors import ConfigError
from servin.runtime.cli import split_global
from servin.runtime.cli._args import Opt, UsageError, parse

OPTS = {"--bundle": Opt("bundle", True), "--detach": Opt("detach"), "--env": Opt("env", True, multi=True)}
OPTS["-b"] = OPTS["--bundle"]
OPTS["-d"] = OPTS["--detach"]


@pytest.mark.parametrize("argv", [
    ["--bundle", "/b", "id"], ["--bundle=/b", "id"], ["-b", "/b", "id"], ["id", "-b", "/b"], ["-bundle", "/b", "id"],
])
def test_value_forms(argv):
    v, pos = parse(argv, OPTS)
    assert v["bundle"] == "/b" and pos == ["id"]


def test_bool_and_multi():
    v, pos = parse(["-d", "--env", "A=1", "--env=B=2", "x"], OPTS)
    assert v["detach"] is True and v["env"] == ["A=1", "B=2"] and pos == ["x"]
    v, _ = parse(["--detach=false"], OPTS)
    assert v["detach"] is False


def test_double_dash_and_stop_at_positional():
    _, pos = parse(["id", "--", "-d"], OPTS)
    assert pos == ["id", "-d"]
    v, pos = parse(["id", "sh", "-d"], OPTS, stop_at_positional=True)
    assert pos == ["id", "sh", "-d"] and v["detach"] is None


@pytest.mark.parametrize("argv", [["--nope"], ["--bundle"], ["--detach=maybe"]])
def test_usage_errors(argv):
    with pytest.raises(UsageError):
        parse(argv, OPTS)


def test_global_options_before_command():
    g, rest = split_global(["--root", "/r", "--log-format=json", "--systemd-cgroup", "state", "x"])
    assert g["root"] == "/r" and g["log_format"] == "json" and g["systemd_cgroup"] and rest == ["state", "x"]


@pytest.mark.parametrize("s,n", [("KILL", 9), ("SIGKILL", 9), ("9", 9), ("term", 15), ("SIGUSR1", signal.SIGUSR1),
                                 ("RTMIN+1", signal.SIGRTMIN + 1)])
def test_signals(s, n):
    assert parse_signal(s) == n


@pytest.mark.parametrize("s", ["SIGNOPE", "0", "65", "-1", "KILLX"])
def test_bad_signals(s):
    with pytest.raises(ConfigError):
        parse_signal(s)


def test_mount_options():
    o = mo.parse(["rbind", "ro", "nosuid", "rslave", "mode=755", "rnoexec", "rw"])
    assert o.flags & mo.MS_BIND and o.flags & mo.MS_REC and o.flags & mo.MS_NOSUID
    assert not o.flags & mo.MS_RDONLY          # rw after ro clears it
    assert o.props == [mo.MS_SLAVE | mo.MS_REC]
    assert o.attr_set == mo.MOUNT_ATTR_NOEXEC
    assert o.data == ["mode=755"]
