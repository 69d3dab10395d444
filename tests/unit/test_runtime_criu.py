"""checkpoint / restore without root: runc's flags validated, the exact
criu command lines built for them, the external mounts and stdio keys, and
the one-line error made from a criu log."""
import os
import stat

import pytest

from servin.runtime import _criu
from servin.runtime._criu import CriuOptions, dump_argv, restore_argv
from servin.runtime._errors import ConfigError
from servin.runtime.cli import checkpoint as checkpoint_cmd
from servin.runtime.cli import restore as restore_cmd
from servin.runtime.cli._args import UsageError, parse


def opts(cmd, *argv):
    values, pos = parse(list(argv) + ["c1"], cmd.OPTIONS)
    assert pos == ["c1"]
    return CriuOptions.from_values(values)


# -- flags --------------------------------------------------------------

def test_defaults_are_runcs():
    o = opts(checkpoint_cmd)
    assert o.manage_cgroups_mode == "soft"
    assert o.status_fd == -1
    assert o.image_path is None and o.work_path is None and o.parent_path is None
    assert not (o.leave_running or o.pre_dump or o.tcp_established or o.file_locks)


@pytest.mark.parametrize("mode", ["soft", "full", "strict", "ignore"])
def test_manage_cgroups_modes(mode):
    assert opts(checkpoint_cmd, "--manage-cgroups-mode", mode).manage_cgroups_mode == mode
    assert opts(restore_cmd, "--manage-cgroups-mode=" + mode).manage_cgroups_mode == mode


@pytest.mark.parametrize("mode", ["bogus", "none", "props", "SOFT"])
def test_manage_cgroups_mode_rejected(mode):
    with pytest.raises(ConfigError, match="--manage-cgroups-mode"):
        opts(checkpoint_cmd, "--manage-cgroups-mode", mode)


@pytest.mark.parametrize("flag", ["--bogus", "--bundle", "--detach", "--console-socket"])
def test_checkpoint_unknown_flags(flag):
    with pytest.raises(UsageError, match="flag provided but not defined"):
        parse([flag, "x", "c1"], checkpoint_cmd.OPTIONS)


@pytest.mark.parametrize("flag", ["--leave-running", "--pre-dump", "--parent-path", "--page-server", "--status-fd"])
def test_restore_refuses_checkpoint_only_flags(flag):
    with pytest.raises(UsageError):
        parse([flag, "c1"], restore_cmd.OPTIONS)


def test_restore_short_flags():
    values, pos = parse(["-b", "/b", "-d", "c1"], restore_cmd.OPTIONS)
    assert values["bundle"] == "/b" and values["detach"] and pos == ["c1"]


@pytest.mark.parametrize("ps,want", [("10.0.0.1:27", ("10.0.0.1", 27)), ("[::1]:1000", ("::1", 1000)),
                                     ("host:65535", ("host", 65535))])
def test_page_server(ps, want):
    assert opts(checkpoint_cmd, "--page-server", ps).page_server == want


@pytest.mark.parametrize("ps", ["10.0.0.1", ":27", "h:", "h:port", "h:0", "h:70000"])
def test_page_server_rejected(ps):
    with pytest.raises(ConfigError, match="--page-server"):
        opts(checkpoint_cmd, "--page-server", ps)


def test_status_fd_must_be_an_integer():
    assert opts(checkpoint_cmd, "--status-fd", "7").status_fd == 7
    with pytest.raises(ConfigError, match="--status-fd"):
        opts(checkpoint_cmd, "--status-fd", "seven")


def test_empty_ns_only_network():
    assert opts(checkpoint_cmd, "--empty-ns", "network").empty_ns == ("network",)
    with pytest.raises(ConfigError, match="--empty-ns 'pid'"):
        opts(restore_cmd, "--empty-ns", "pid")


def test_parent_path_must_be_relative():
    assert opts(checkpoint_cmd, "--parent-path", "../pre").parent_path == "../pre"
    with pytest.raises(ConfigError, match="--parent-path"):
        opts(checkpoint_cmd, "--parent-path", "/abs")


def test_lsm_profile_type_name():
    assert opts(restore_cmd, "--lsm-profile", "apparmor:p").lsm_profile == "apparmor:p"
    with pytest.raises(ConfigError, match="--lsm-profile"):
        opts(restore_cmd, "--lsm-profile", "p")


# -- criu dump ------------------------------------------------------------

def test_dump_minimal():
    assert dump_argv("/usr/sbin/criu", CriuOptions(), 42, "/img", "/img", "/b/rootfs") == [
        "/usr/sbin/criu", "dump", "--tree", "42", "--images-dir", "/img", "--work-dir", "/img",
        "--log-file", "dump.log", "-v4", "--root", "/b/rootfs", "--manage-cgroups=soft"]


def test_dump_every_flag():
    o = opts(checkpoint_cmd, "--image-path", "/img", "--work-path", "/w", "--leave-running", "--tcp-established",
             "--ext-unix-sk", "--shell-job", "--file-locks", "--auto-dedup", "--lazy-pages", "--status-fd", "5",
             "--page-server", "10.0.0.2:1234", "--parent-path", "../pre", "--manage-cgroups-mode", "full",
             "--empty-ns", "network")
    argv = dump_argv("criu", o, 42, "/img", "/w", "/r", ext_mounts=[("/data", "/host/data")],
                     externals=["tty[8800:d]", "file[1f:3]"], freezer="/sys/fs/cgroup/freezer/servin/c1",
                     net_ino=4026532000)
    assert argv == [
        "criu", "dump", "--tree", "42", "--images-dir", "/img", "--work-dir", "/w", "--log-file", "dump.log",
        "-v4", "--root", "/r", "--manage-cgroups=full", "--freeze-cgroup", "/sys/fs/cgroup/freezer/servin/c1",
        "--leave-running", "--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks", "--auto-dedup",
        "--lazy-pages", "--status-fd", "5", "--page-server", "--address", "10.0.0.2", "--port", "1234",
        "--track-mem", "--prev-images-dir", "../pre",
        "--external", "mnt[/data]:/data", "--external", "tty[8800:d]", "--external", "file[1f:3]",
        "--external", "net[4026532000]:extRootNetNS", "--empty-ns", "net"]


def test_pre_dump():
    argv = dump_argv("criu", opts(checkpoint_cmd, "--pre-dump", "--leave-running"), 7, "/i", "/i", "/r")
    assert argv[1] == "pre-dump"
    assert "--track-mem" in argv
    assert "--leave-running" not in argv      # a pre-dump always leaves the tasks running


def test_dump_container_netns_is_empty_on_restore():
    # runc does not manage network devices: the netns is never dumped
    argv = dump_argv("criu", CriuOptions(), 7, "/i", "/i", "/r", empty_net=True)
    assert argv[-2:] == ["--empty-ns", "net"]
    assert argv.count("--empty-ns") == 1


# -- criu restore ---------------------------------------------------------

def test_restore_minimal():
    assert restore_argv("criu", CriuOptions(), "/img", "/img", "/st/criu-root", "/st/criu.pid") == [
        "criu", "restore", "--images-dir", "/img", "--work-dir", "/img", "--log-file", "restore.log", "-v4",
        "--root", "/st/criu-root", "--restore-detached", "--restore-sibling", "--pidfile", "/st/criu.pid",
        "--manage-cgroups=soft"]


def test_restore_every_flag():
    o = opts(restore_cmd, "--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks", "--auto-dedup",
             "--lazy-pages", "--manage-cgroups-mode", "strict", "--lsm-profile", "apparmor:prof",
             "--lsm-mount-context", "system_u:object_r:container_file_t:s0", "--empty-ns", "network")
    argv = restore_argv("criu", o, "/img", "/w", "/cr", "/p", ext_mounts=[("/data", "/host/data"),
                                                                       ("/proc/kcore", "/dev/null")],
                        inherit=[(0, "pipe:[77]"), (9, "tty[8800:d]")],
                        cgroup_roots=[("cpu", "/servin/c1"), ("name=systemd", "/servin/c1")])
    assert argv[15:] == [
        "--manage-cgroups=strict", "--cgroup-root", "cpu:/servin/c1", "--cgroup-root", "name=systemd:/servin/c1",
        "--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks", "--auto-dedup", "--lazy-pages",
        "--lsm-profile", "apparmor:prof", "--lsm-mount-context", "system_u:object_r:container_file_t:s0",
        "--external", "mnt[/data]:/host/data", "--external", "mnt[/proc/kcore]:/dev/null",
        "--inherit-fd", "fd[0]:pipe:[77]", "--inherit-fd", "fd[9]:tty[8800:d]", "--empty-ns", "net"]


def test_cgroup_roots_collapse_to_one_path():
    from servin.runtime._cgroups import Hierarchy, Manager
    hs = [Hierarchy("cpu", "/sys/fs/cgroup/cpu", "/", 1), Hierarchy("memory", "/sys/fs/cgroup/memory", "/", 1)]
    cg = Manager("/servin/c1", hs=hs)
    assert _criu.cgroup_roots(cg) == [("", "/servin/c1")]
    hs.append(Hierarchy("pids", "/sys/fs/cgroup/pids", "/outer", 1))
    cg = Manager("/servin/c1", hs=hs)
    roots = dict(_criu.cgroup_roots(cg))
    assert roots["cpu"] == "/servin/c1" and roots["pids"] == "/outer/servin/c1"


# -- what criu must not dump ----------------------------------------------

def test_external_mounts_binds_and_masked_files():
    mounts = [{"destination": "/proc", "type": "proc", "source": "proc"},
              {"destination": "/data", "type": "bind", "source": "/host/data"},
              {"destination": "etc/hosts", "type": "none", "source": "/h/hosts", "options": ["rbind", "ro"]},
              {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}]
    masked = ["/proc/kcore", "/sys/firmware", "/proc/missing"]
    files = {"/proc/kcore"}
    assert _criu.external_mounts(mounts, masked, files.__contains__) == [
        ("/data", "/host/data"), ("/etc/hosts", "/h/hosts"), ("/proc/kcore", "/dev/null")]


def test_stdio_keys():
    pts = os.makedev(136, 3)
    fds = [(0, "/dev/pts/3", stat.S_IFCHR | 0o620, pts, 0x2f, 90, 6),
           (1, "pipe:[1234]", stat.S_IFIFO | 0o600, 0, 0xc, 14, 1234),
           (2, "/tmp/out.log", stat.S_IFREG | 0o644, 0, 0x801, 31, 555)]
    ext, keys = _criu.stdio_keys(fds)
    assert ext == ["tty[8803:2f]", "file[1f:22b]"]
    assert keys == [(0, "tty[8803:2f]"), (1, "pipe:[1234]"), (2, "file[1f:22b]")]


def test_same_tty_on_every_stdio_is_one_external():
    pts = os.makedev(136, 0)
    fds = [(i, "/dev/pts/0", stat.S_IFCHR | 0o620, pts, 0x2f, 90, 3) for i in range(3)]
    ext, keys = _criu.stdio_keys(fds)
    assert ext == ["tty[8800:2f]"] and [k for _, k in keys] == ["tty[8800:2f]"] * 3


# -- errors -----------------------------------------------------------------

LOG = """(00.000000) Version: 3.17.1 (gitid 0)
(00.021315) Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable
(00.021316) Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.
(00.021347) Adjust mmap_min_addr 0x1000 -> 0x10000
(00.021357) files stat: fs/nr_open 1048576
"""


def test_last_error_line():
    assert _criu.last_error(LOG) == \
        "Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat."
    assert _criu.last_error("(00.1) all fine\n(00.2) done\n") == "done"
    assert _criu.last_error("") == ""


def test_failure_message(tmp_path):
    log = tmp_path / "dump.log"
    log.write_text(LOG)
    msg = _criu.failure_message("checkpoint", 1, str(log))
    assert msg == ("checkpoint: criu dump failed (exit 1): Error (criu/kerndat.c:1615): "
                   "kerndat_vdso_fill_symtable failed when initializing kerndat. (log: %s)" % log)
    assert "\n" not in msg
    assert _criu.failure_message("restore", 2, str(tmp_path / "none")).startswith(
        "restore: criu restore failed (exit 2): no log")


def test_missing_criu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_criu.shutil, "which", lambda name: None)
    monkeypatch.setattr(_criu.os, "access", lambda p, m: False)
    with pytest.raises(_criu.CriuError, match="criu not found.*apt install criu"):
        _criu.find_criu()


def test_restore_needs_an_image(tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        _criu._read_meta(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not a checkpoint"):
        _criu._read_meta(str(tmp_path))


def test_criu_global_flag(tmp_path):
    assert _criu.find_criu("/bin/true") == "/bin/true"
    with pytest.raises(_criu.CriuError, match="--criu .*nope: not an executable"):
        _criu.find_criu(str(tmp_path / "nope"))
