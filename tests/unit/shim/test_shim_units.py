"""Pure parts of the shim: the process state table (row by row), command
line parsing, socket naming, mount options, reaper bookkeeping."""
import os

import pytest

pytest.importorskip("servin.shim")

from servin.shim import _process as P  # noqa: E402
from servin.shim._errors import FailedPrecondition, NotFound  # noqa: E402


@pytest.mark.parametrize("op,allowed", sorted(P.ALLOWED.items()))
def test_state_table_rows(op, allowed):
    for state in (P.CREATED, P.RUNNING, P.PAUSED, P.STOPPED, P.DELETED):
        if state in allowed:
            P.check(op, state)
        else:
            with pytest.raises((FailedPrecondition, NotFound)):
                P.check(op, state)


def test_state_errors_are_the_ones_containerd_expects():
    with pytest.raises(FailedPrecondition, match="cannot delete a running process"):
        P.check("delete", P.RUNNING)
    with pytest.raises(NotFound, match="already finished"):
        P.check("kill", P.STOPPED)
    with pytest.raises(FailedPrecondition, match="cannot start a running process"):
        P.check("start", P.RUNNING)


def test_transitions():
    class IO:
        stdin = stdout = stderr = ""
        terminal = False
    p = P.Process("c", "", IO())
    assert p.state == P.CREATED
    p.transition("start")
    assert p.state == P.RUNNING
    p.transition("pause")
    assert p.state == P.PAUSED
    p.transition("resume")
    p.set_exited(137, 1.0)
    assert (p.state, p.exit_status, p.exited) == (P.STOPPED, 137, True)
    p.transition("delete")
    assert p.state == P.DELETED


def test_cli_parse_go_flags():
    from servin.shim.cli import parse
    flags, action = parse(["-namespace", "k8s.io", "-address", "/run/c.sock", "-publish-binary",
                           "/usr/bin/containerd", "-id", "abc", "-debug", "start"])
    assert action == "start" and flags["namespace"] == "k8s.io" and flags["debug"] is True
    flags, action = parse(["--id=x", "-bundle=/b", "delete"])
    assert (flags["id"], flags["bundle"], action) == ("x", "/b", "delete")
    assert parse(["-v"])[0]["v"] is True


def test_cli_rejects_unknown_flags():
    from servin.shim.cli import UsageError, parse
    with pytest.raises(UsageError):
        parse(["-bogus", "start"])
    with pytest.raises(UsageError):
        parse(["-id"])


def test_cli_main_errors_exit_nonzero(capsys):
    from servin.shim.cli import main
    assert main(["frobnicate"]) == 2
    assert "unknown action" in capsys.readouterr().err
    assert main(["-v"]) == 0
    assert "Version" in capsys.readouterr().out


def test_socket_path_is_short_private_and_grouped():
    from servin.shim.cli import socket_path
    a = socket_path("/tmp/x/c.sock", "default", "pod1")
    assert a.startswith("/tmp/x/s/") and len(a) < 108
    assert a == socket_path("/tmp/x/c.sock", "default", "pod1")
    assert a != socket_path("/tmp/x/c.sock", "default", "pod2")
    assert a != socket_path("/tmp/x/c.sock", "other", "pod1")


def test_group_id_from_sandbox_annotation(tmp_path):
    import json
    from servin.shim.cli import group_id
    (tmp_path / "config.json").write_text(json.dumps(
        {"annotations": {"io.kubernetes.cri.sandbox-id": "sb1"}}))
    assert group_id(str(tmp_path), "c1") == "sb1"
    (tmp_path / "config.json").write_text("{}")
    assert group_id(str(tmp_path), "c1") == "c1"


def test_mount_options():
    from servin.shim._mount import MS_BIND, MS_RDONLY, MS_REC, parse_options
    flags, data = parse_options(["rbind", "ro"])
    assert flags == MS_BIND | MS_REC | MS_RDONLY and data == ""
    flags, data = parse_options(["index=off", "lowerdir=/a:/b", "upperdir=/u", "workdir=/w"])
    assert flags == 0 and data == "index=off,lowerdir=/a:/b,upperdir=/u,workdir=/w"
    assert parse_options(["ro", "rw"])[0] == 0


def test_reaper_holds_early_exits_for_monitor():
    from servin.shim._reaper import Reaper, exit_code
    r = Reaper()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    assert r.wait(pid, timeout=10) == 7
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    import time
    deadline = time.time() + 10
    while pid not in r._exits and time.time() < deadline:
        r.reap()
        time.sleep(0.01)
    got = []
    r.monitor(pid, lambda p, code, when: got.append((p, code)))
    assert got == [(pid, 3)]
    assert exit_code(9) == 137          # killed by SIGKILL -> 128+9


def test_reaper_run_captures_output():
    from servin.shim._reaper import Reaper
    code, out, err = Reaper().run(["sh", "-c", "echo out; echo err >&2; exit 4"], capture=True)
    assert (code, out, err) == (4, b"out\n", b"err\n")


def test_read_runtime_config(tmp_path):
    from servin.shim._service import _read_config
    p = tmp_path / "rt.toml"
    p.write_text('BinaryName = "/usr/bin/runc"\nRoot = "/tmp/r"\n')
    assert _read_config(str(p)) == {"BinaryName": "/usr/bin/runc", "Root": "/tmp/r"}
    assert _read_config("", '{"binary_name": "crun"}') == {"binary_name": "crun"}


def test_reaper_run_timeout_kills_the_child():
    import time
    from servin.shim._reaper import Reaper
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        Reaper().run(["sleep", "30"], capture=True, timeout=0.3)
    assert time.monotonic() - t0 < 5


ALL_COMMANDS = ["create", "start", "run", "state", "kill", "delete", "list", "spec", "features",
                "exec", "pause", "resume", "ps", "update"]
LIFECYCLE = ALL_COMMANDS[:9]


def _fake_servin_runc(tmp_path, annotations, commands=LIFECYCLE, features_ok=True):
    import json
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "servin-runc"
    body = json.dumps({"ociVersionMax": "1.2.0", "annotations": annotations})
    listing = "\\n".join(f"  {c:<10} does {c}" for c in commands)
    script.write_text(
        f"#!/bin/sh\necho $@ >> {tmp_path}/calls\n"
        f'if [ "$1" = --help ]; then printf "usage: servin-runc\\n\\ncommands:\\n{listing}'
        f'\\n\\nglobal options:\\n  --root value  x\\n"; exit 0; fi\n'
        + (f"echo '{body}'\n" if features_ok else "exit 1\n"))
    script.chmod(0o755)
    return str(bindir)


def test_help_commands_of_runc_and_servin_runc():
    from servin.shim._runtime import help_commands
    runc = ("NAME:\n   runc\n\nCOMMANDS:\n     checkpoint  checkpoint\n     exec        x\n"
            "     help, h     Shows\n\nGLOBAL OPTIONS:\n   --debug  x\n")
    assert help_commands(runc) == {"checkpoint", "exec", "help"}
    servin = "usage: s\n\ncommands:\n  create     c\n  ps         p\n\nglobal options:\n  --root v\n"
    assert help_commands(servin) == {"create", "ps"}


@pytest.mark.parametrize("annotations,commands,features_ok,want_servin", [
    ({}, LIFECYCLE, True, False),                         # no exec/pause/ps/update yet
    ({}, ALL_COMMANDS, True, True),                       # what the shim needs is listed
    ({}, ALL_COMMANDS, False, False),                     # `features` fails
    ({"io.github.servin.containerd-shim": "supported"}, LIFECYCLE, True, True),
    ({"io.github.servin.containerd-shim": "unsupported"}, ALL_COMMANDS, True, False),
])
def test_default_runtime_follows_what_servin_runc_reports(tmp_path, monkeypatch, annotations,
                                                          commands, features_ok, want_servin):
    from servin.shim._reaper import Reaper
    from servin.shim._runtime import default_binary
    bindir = _fake_servin_runc(tmp_path, annotations, commands, features_ok)
    monkeypatch.delenv("SERVIN_SHIM_RUNTIME", raising=False)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    cache = tmp_path / "cache"
    cache.mkdir()
    got = default_binary(Reaper(), str(cache), in_process=False)
    assert got == (os.path.join(bindir, "servin-runc") if want_servin else "runc")
    assert default_binary(Reaper(), str(cache), in_process=False) == got
    assert (tmp_path / "calls").read_text().count("features") == 1    # cached


def test_default_runtime_is_in_process_when_servin_runc_works(tmp_path, monkeypatch):
    from servin.shim._reaper import Reaper
    from servin.shim._runtime import default_binary
    monkeypatch.delenv("SERVIN_SHIM_RUNTIME", raising=False)
    bindir = _fake_servin_runc(tmp_path, {}, ALL_COMMANDS)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    assert default_binary(Reaper(), in_process=True) == "servin.runtime"


@pytest.mark.parametrize("annotations,want_in_process", [
    ({}, False),                                                  # not reported: the binary
    ({"io.github.servin.shim-in-process": "supported"}, True),
])
def test_in_process_default_follows_what_servin_runc_reports(tmp_path, monkeypatch, annotations,
                                                             want_in_process):
    pytest.importorskip("servin.runtime._container")
    from servin.shim._reaper import Reaper
    from servin.shim._runtime import default_binary
    monkeypatch.delenv("SERVIN_SHIM_RUNTIME", raising=False)
    bindir = _fake_servin_runc(tmp_path, annotations, ALL_COMMANDS)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    got = default_binary(Reaper())
    assert got == ("servin.runtime" if want_in_process else os.path.join(bindir, "servin-runc"))


def test_default_runtime_env_wins(monkeypatch):
    from servin.shim._reaper import Reaper
    from servin.shim._runtime import default_binary
    monkeypatch.setenv("SERVIN_SHIM_RUNTIME", "/opt/crun")
    assert default_binary(Reaper()) == "/opt/crun"


def test_reaper_hold_defers_reaping_until_released():
    import time
    from servin.shim._reaper import Reaper
    r = Reaper()
    pid = os.posix_spawnp("true", ["true"], os.environ)
    with r.hold():
        time.sleep(0.2)
        r.reap()                                   # deferred: the child stays ours to wait for
        assert os.waitpid(pid, 0)[0] == pid
        pid2 = os.posix_spawnp("true", ["true"], os.environ)
        time.sleep(0.2)
        r.reap()
    # released: the pending reap ran and took pid2's exit
    assert r.wait(pid2, timeout=5) == 0


def test_inprocess_stdio_swap_puts_fds_on_0_1_2_and_restores_them():
    from servin.shim._inproc import _Stdio
    before = [os.fstat(i) for i in range(3)]
    r, w = os.pipe()
    try:
        with _Stdio((None, w, w)):
            assert os.path.samestat(os.fstat(1), os.fstat(w))
            assert os.path.samestat(os.fstat(2), os.fstat(w))
            assert os.path.samestat(os.fstat(0), os.stat(os.devnull))
        after = [os.fstat(i) for i in range(3)]
        assert all(os.path.samestat(a, b) for a, b in zip(before, after))
    finally:
        os.close(r)
        os.close(w)


def test_make_runtime_servin_runtime_is_in_process(tmp_path):
    from servin.shim._inproc import InProcessRuntime
    from servin.shim._reaper import Reaper
    from servin.shim._runtime import make_runtime, RuntimeBinary
    assert isinstance(make_runtime("servin.runtime", str(tmp_path), Reaper()), InProcessRuntime)
    assert isinstance(make_runtime("runc", str(tmp_path), Reaper()), RuntimeBinary)


def test_inprocess_errors_map_to_shim_errors(tmp_path):
    pytest.importorskip("servin.runtime._container")
    from servin.shim._errors import NotFound, RuntimeFailed
    from servin.shim._inproc import InProcessRuntime
    from servin.shim._reaper import Reaper
    log = tmp_path / "log.json"
    rt = InProcessRuntime(str(tmp_path / "root"), Reaper(), str(log))
    with pytest.raises(NotFound):
        rt.kill("nope", 9)
    with pytest.raises(RuntimeFailed, match="servin.runtime create failed"):
        rt.create("bad/id", str(tmp_path), str(tmp_path / "pid"), None)
    assert '"level": "error"' in log.read_text()
