"""linux.seccomp -> a BPF program, compiled by libseccomp in the parent.

plan(sec) validates the object (every field named in errors), compiles it
with servin._native.seccomp_compile and returns (program bytes, flags,
listener) for the C child, which loads it with seccomp(2) at the point the
runtime-spec order requires (before the user switch without
noNewPrivileges, as late as possible with it).
"""
from ._errors import ConfigError

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_ERRNO = 0x00050000
SCMP_ACT_TRACE = 0x7FF00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_NOTIFY = 0x7FC00000

ACTIONS = {
    "SCMP_ACT_KILL": SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": SCMP_ACT_TRAP,
    "SCMP_ACT_ERRNO": SCMP_ACT_ERRNO,
    "SCMP_ACT_TRACE": SCMP_ACT_TRACE,
    "SCMP_ACT_ALLOW": SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": SCMP_ACT_LOG,
    "SCMP_ACT_NOTIFY": SCMP_ACT_NOTIFY,
}
WITH_RET = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

ARCHES = ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
          "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
          "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
          "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
          "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64"]

FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
FLAG_NEW_LISTENER = 8
EPERM = 1


class Listener:
    __slots__ = ("path", "metadata")

    def __init__(self, path, metadata):
        self.path = path
        self.metadata = metadata


def _action(name, ret, field, default_ret=EPERM):
    if name not in ACTIONS:
        raise ConfigError(f"{field}: unknown seccomp action {name!r}")
    if ret is not None:
        if name not in WITH_RET:
            raise ConfigError(f"{field}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {name}")
        if isinstance(ret, bool) or not isinstance(ret, int) or not 0 <= ret <= 0xFFFF:
            raise ConfigError(f"{field}: errnoRet {ret!r} is not in 0..65535")
    if name in WITH_RET:
        return ACTIONS[name] | (default_ret if ret is None else ret)
    return ACTIONS[name]


def _uint(v, field):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**64:
        raise ConfigError(f"{field}: {v!r} is not an unsigned 64-bit integer")
    return v


CACHE_VERSION = "libseccomp-2.5/1"


def plan(sec, cache_dir=None):
    """-> (program, flags, listener or None)"""
    if not isinstance(sec, dict):
        raise ConfigError("linux.seccomp: must be an object")
    dname = sec.get("defaultAction")
    if not isinstance(dname, str):
        raise ConfigError("linux.seccomp.defaultAction: required")
    if dname == "SCMP_ACT_NOTIFY":
        raise ConfigError("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
    ddef = sec.get("defaultErrnoRet")
    default = _action(dname, ddef, "linux.seccomp.defaultErrnoRet" if ddef is not None else
                      "linux.seccomp.defaultAction")

    archs = []
    for i, a in enumerate(sec.get("architectures") or []):
        if a not in ARCHES:
            raise ConfigError(f"linux.seccomp.architectures[{i}]: unknown architecture {a!r}")
        archs.append(a[len("SCMP_ARCH_"):].lower())

    flags = 0
    for i, f in enumerate(sec.get("flags") or []):
        if f not in FLAGS:
            raise ConfigError(f"linux.seccomp.flags[{i}]: unknown or unsupported flag {f!r}")
        flags |= FLAGS[f]

    rules = []
    notify = False
    syscalls = sec.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise ConfigError("linux.seccomp.syscalls: must be an array")
    for i, sc in enumerate(syscalls):
        f = f"linux.seccomp.syscalls[{i}]"
        if not isinstance(sc, dict):
            raise ConfigError(f"{f}: must be an object")
        names = sc.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{f}.names: must be a non-empty array of syscall names")
        aname = sc.get("action")
        if not isinstance(aname, str):
            raise ConfigError(f"{f}.action: required")
        action = _action(aname, sc.get("errnoRet"), f + (".errnoRet" if sc.get("errnoRet") is not None else ".action"))
        notify |= aname == "SCMP_ACT_NOTIFY"
        conds = []
        for j, a in enumerate(sc.get("args") or []):
            af = f"{f}.args[{j}]"
            if not isinstance(a, dict):
                raise ConfigError(f"{af}: must be an object")
            idx = a.get("index")
            if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx <= 5:
                raise ConfigError(f"{af}.index: {idx!r} is not in 0..5")
            op = a.get("op")
            if op not in OPERATORS:
                raise ConfigError(f"{af}.op: unknown operator {op!r}")
            conds.append((idx, OPERATORS[op], _uint(a.get("value", 0), af + ".value"),
                          _uint(a.get("valueTwo", 0), af + ".valueTwo")))
        # libseccomp ANDs the conditions of one rule and allows an argument
        # once per rule: conditions that repeat an index become one rule
        # each (runc's reading of the spec)
        if len({c[0] for c in conds}) != len(conds):
            groups = [(c,) for c in conds]
        else:
            groups = [tuple(conds)]
        for name in names:
            for g in groups:
                rules.append((name, action, g))

    listener = None
    path = sec.get("listenerPath")
    if notify:
        if not isinstance(path, str) or not path:
            raise ConfigError("linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY")
        meta = sec.get("listenerMetadata", "")
        if not isinstance(meta, str):
            raise ConfigError("linux.seccomp.listenerMetadata: must be a string")
        listener = Listener(path, meta)
        flags = (flags & ~FLAGS["SECCOMP_FILTER_FLAG_TSYNC"]) | FLAG_NEW_LISTENER
    elif path:
        listener = None     # nothing to send: no NOTIFY action

    return _compile(default, tuple(archs), tuple(rules), cache_dir), flags, listener


def _compile(default, archs, rules, cache_dir):
    """Compile, or reuse a program compiled before from the same input.

    libseccomp takes ~14 ms for a Docker-sized profile on three
    architectures; the cache (under --root, mode 0700, written atomically)
    makes the next create of the same profile pay a file read."""
    import os
    from servin import _native
    key = path = None
    if cache_dir:
        try:
            from _sha256 import sha256
        except ImportError:             # pragma: no cover
            from hashlib import sha256
        h = sha256(repr((CACHE_VERSION, os.uname().machine, default, archs, rules)).encode())
        key = h.hexdigest()
        path = os.path.join(cache_dir, key + ".bpf")
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            pass
    try:
        prog = _native.seccomp_compile(default, archs, rules)
    except ValueError as e:
        raise ConfigError(f"linux.seccomp: {e}".replace("seccomp: ", "", 1)) from None
    if path:
        try:
            os.makedirs(cache_dir, 0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(prog)
            os.rename(tmp, path)
        except OSError:
            pass
    return prog


def send_listener(listener, fd, state, pid):
    """Hand the notify fd and the container process state to listenerPath
    (runtime-spec runtime.md, "Container process state")."""
    import json
    import socket
    from ._errors import SystemError_
    msg = {"ociVersion": state.get("ociVersion", "1.2.0"), "fds": ["seccompFd"], "pid": pid,
           "metadata": listener.metadata, "state": state}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(listener.path)
        socket.send_fds(s, [json.dumps(msg).encode()], [fd])
    except OSError as e:
        raise SystemError_(f"linux.seccomp.listenerPath {listener.path}: send the seccomp fd",
                           errno=e.errno) from None
    finally:
        s.close()
