#!/usr/bin/env python3
"""Generate seccomp-default.json, servin's default seccomp profile.

    python3 runtime/data/gen-seccomp.py            # rewrite the profile
    python3 runtime/data/gen-seccomp.py --check    # exit 1 if it is stale
    python3 runtime/data/gen-seccomp.py --caps CAP_SYS_ADMIN,... -o FILE

What it follows
---------------
The facts -- which syscalls a container may make, which are gated on a
capability, which are filtered by argument and why -- are Docker's
default profile: moby/moby ``profiles/seccomp/default.json`` (the
version whose ``socket`` rule refuses AF_VSOCK and which gates ``bpf``
on CAP_BPF and ``perf_event_open`` on CAP_PERFMON), and its generator
``profiles/seccomp/default_linux.go``.  The tables below are written
out by topic for this project; the JSON is produced from them here.

The output is runtime-spec ``linux.seccomp`` (config-linux.md, "Seccomp"):
``defaultAction`` SCMP_ACT_ERRNO with ``defaultErrnoRet`` 1 (EPERM), a
flat ``architectures`` list, and ``syscalls`` rules of names + action
(+ ``args``, + ``errnoRet``).

What runtime-spec cannot say, and what we do about it
-----------------------------------------------------
- ``includes.caps`` / ``excludes.caps`` (Docker's "allow X only if the
  container has CAP_Y").  runtime-spec has no such condition, so the
  profile is resolved here for one capability set: by default the
  bounding set of ``default_spec()`` (CAP_AUDIT_WRITE, CAP_KILL,
  CAP_NET_BIND_SERVICE).  None of Docker's capability-gated rules fire
  for that set, so every gated syscall (mount, unshare, setns, bpf,
  perf_event_open, ptrace's CAP_SYS_PTRACE extras, chroot, reboot,
  module loading, ...) is refused, and the CAP_SYS_ADMIN exclusions
  (the clone flag filter, clone3 -> ENOSYS) apply.  A caller that grants
  more capabilities should regenerate with ``--caps`` (or build the
  profile with ``build_profile(caps)``), as Docker does at run time.
  Note Docker's own default capability set is larger (it includes
  CAP_SYS_CHROOT, so Docker allows ``chroot``; we don't).
- ``includes.minKernel`` ("ptrace only on >= 4.8", where seccomp can no
  longer be bypassed through ptrace).  We allow ptrace,
  process_vm_readv and process_vm_writev unconditionally, as Docker does
  on every kernel it supports today; do not use this profile on a
  kernel older than 4.8.
- ``includes.arches`` / ``excludes.arches``.  The profile lists the x86
  family (x86_64 with x86 and x32 sub-architectures) and the arm family
  (aarch64 with arm).  Arch-only syscalls of both families are in one
  allow list; a name that does not exist on an architecture resolves to
  nothing there.  The runtime must skip names its libseccomp cannot
  resolve (runc and crun do the same) rather than fail.  s390's swapped
  clone arguments are not needed for these architectures.

Argument filters
----------------
- clone: allowed only if ``flags & (CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|
  CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWCGROUP) == 0``
  (SCMP_CMP_MASKED_EQ on argument 0; ``value`` is the mask and
  ``valueTwo`` the expected result, as runc passes them to libseccomp).
- clone3: SCMP_ACT_ERRNO with errnoRet 38 (ENOSYS).  Its flags live in a
  struct in memory that seccomp cannot inspect, so it is refused with
  ENOSYS, which makes glibc fall back to clone(2), where the filter
  above applies.
- personality: only PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000),
  UNAME26|PER_LINUX32 (0x20008) and the query value 0xffffffff.  The
  other persona bits (e.g. ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weaken
  ASLR and W^X.
- socket: allowed for every address family except AF_VSOCK (40), which
  would reach the host's vsock transport.  On 32-bit x86 ``socketcall``
  multiplexes socket(2) and its arguments can't be inspected, so the
  AF_VSOCK refusal is x86_64/aarch64-only there (Docker has the same
  gap).

Additions beyond the Docker snapshot followed
---------------------------------------------
Newer kernels split or extend syscalls that the profile already allows;
refusing them with EPERM (not ENOSYS) breaks libc fallbacks, so these
are allowed: fchmodat2 (fchmodat with flags, Linux 6.6; glibc >= 2.39
calls it for lchmod), futex_wait / futex_wake / futex_requeue (futex2,
Linux 6.7), map_shadow_stack (CET shadow stacks for the calling process
only, Linux 6.6).

Refused (not in any allow rule), with Docker's reasons
-------------------------------------------------------
See ``REFUSED`` below: the kernel keyring (keyctl, add_key,
request_key: not namespaced), kexec_load/kexec_file_load, module
loading, bpf, perf_event_open, userfaultfd (used to widen kernel race
windows), mount/umount2/pivot_root and the new mount API, unshare and
setns, open_by_handle_at (the "shocker" escape), swapon/swapoff,
reboot, acct, quotactl, lookup_dcookie, iopl/ioperm, vm86, syslog,
settimeofday/clock_settime, sethostname/setdomainname, chroot, and
obsolete calls (uselib, ustat, sysfs, _sysctl, nfsservctl, ...).
"""
import argparse
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILE = os.path.join(HERE, "seccomp-default.json")

ARCHITECTURES = [
    "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
]

EPERM = 1
ENOSYS = 38

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACE_FLAGS = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC
                         | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
UNAME26 = 0x0020000
PERSONALITY_QUERY = 0xffffffff
PERSONALITIES = [PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PERSONALITY_QUERY]

AF_VSOCK = 40

# --- Allowed for every container, grouped by what they are for. ---------

FILES = """
access chdir chmod chown chown32 close close_range copy_file_range creat dup dup2
dup3 faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat
fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
ftruncate64 futimesat getcwd getdents getdents64 getxattr lchown lchown32 lgetxattr
link linkat listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
mkdir mkdirat mknod mknodat name_to_handle_at newfstatat open openat openat2 pread64
preadv preadv2 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv
removexattr rename renameat renameat2 rmdir sendfile sendfile64 setxattr splice
stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs tee
truncate truncate64 umask unlink unlinkat utime utimensat utimensat_time64 utimes
vmsplice write writev
"""

FS_EVENTS = """
fanotify_mark inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
"""

POLLING = """
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
epoll_wait epoll_wait_old eventfd eventfd2 poll ppoll ppoll_time64 pselect6
pselect6_time64 select _newselect signalfd signalfd4 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 pipe pipe2
"""

ASYNC_IO = """
io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup
io_submit ioctl ioprio_get ioprio_set
"""

MEMORY = """
brk madvise membarrier memfd_create memfd_secret mincore mlock mlock2 mlockall mmap
mmap2 mprotect mremap msync munlock munlockall munmap pkey_alloc pkey_free
pkey_mprotect remap_file_pages process_mrelease
"""

PROCESSES = """
execve execveat exit exit_group fork vfork wait4 waitid waitpid getpid getppid
gettid getpgid getpgrp getsid setpgid setsid set_tid_address set_robust_list
get_robust_list futex futex_time64 futex_waitv rseq restart_syscall kill tgkill
tkill pidfd_open pidfd_send_signal prctl capget capset get_thread_area
set_thread_area getcpu getpriority setpriority getrlimit setrlimit ugetrlimit
prlimit64 getrusage times sysinfo uname seccomp landlock_add_rule
landlock_create_ruleset landlock_restrict_self getrandom
"""

SCHEDULING = """
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield
"""

CREDENTIALS = """
getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getresgid
getresgid32 getresuid getresuid32 getuid getuid32 setfsgid setfsgid32 setfsuid
setfsuid32 setgid setgid32 setgroups setgroups32 setregid setregid32 setresgid
setresgid32 setresuid setresuid32 setreuid setreuid32 setuid setuid32
"""

SIGNALS = """
alarm pause rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack
sigprocmask sigreturn
"""

TIME = """
adjtimex clock_adjtime clock_adjtime64 clock_getres clock_getres_time64
clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 gettimeofday
nanosleep time getitimer setitimer timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64
"""

NETWORK = """
accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom
recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown
socketcall socketpair
"""

SYSV_POSIX_IPC = """
ipc mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd semctl
semget semop semtimedop semtimedop_time64 shmat shmctl shmdt shmget
"""

# Docker: includes.minKernel 4.8 (see the module doc).
PTRACE = "ptrace process_vm_readv process_vm_writev"

# Docker: includes.arches.
ARCH_X86 = "arch_prctl modify_ldt"
ARCH_ARM = "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"

# Ours: newer forms of syscalls allowed above (see the module doc).
NEWER_EQUIVALENTS = "fchmodat2 futex_wait futex_wake futex_requeue map_shadow_stack"

ALLOW_GROUPS = [FILES, FS_EVENTS, POLLING, ASYNC_IO, MEMORY, PROCESSES, SCHEDULING,
                CREDENTIALS, SIGNALS, TIME, NETWORK, SYSV_POSIX_IPC, PTRACE,
                ARCH_X86, ARCH_ARM, NEWER_EQUIVALENTS]

# --- Allowed only with a capability (Docker's includes.caps). -------------

CAP_GATED = {
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_SYS_ADMIN": """bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick
        lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open
        quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2
        unshare""",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}

# Never allowed, whatever the capabilities (no rule in Docker's profile
# either).  Listed for the tests and for readers; the default action
# refuses them.  io_uring: Docker's profile dropped io_uring_* in 2023
# (moby 25.0): a large kernel surface behind many privilege-escalation
# bugs, which containers rarely need.
REFUSED = """
io_uring_enter io_uring_register io_uring_setup
keyctl add_key request_key kexec_load kexec_file_load userfaultfd swapon swapoff
vm86 vm86old uselib ustat sysfs _sysctl nfsservctl create_module get_kernel_syms
query_module pivot_root afs_syscall bdflush break ftime getpmsg gtty idle lock
mpx prof profil putpmsg security stty tuxcall vserver
"""


def words(text):
    return text.split()


def _default_caps():
    """The bounding set of default_spec(), read from runtime/_spec.py."""
    path = os.path.join(os.path.dirname(HERE), "_spec.py")
    spec = importlib.util.spec_from_file_location("_servin_spec_for_gen", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.default_spec()["process"]["capabilities"]["bounding"]


def _arg(index, value, op, value_two=0):
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def build_profile(caps):
    """The profile (a dict) for a container whose capabilities are ``caps``."""
    caps = set(caps)
    allowed = set()
    for group in ALLOW_GROUPS:
        allowed.update(words(group))
    for cap, names in CAP_GATED.items():
        if cap in caps:
            allowed.update(words(names))
    sys_admin = "CAP_SYS_ADMIN" in caps

    rules = [{"names": sorted(allowed), "action": "SCMP_ACT_ALLOW"}]
    rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                  "args": [_arg(0, AF_VSOCK, "SCMP_CMP_NE")]})
    for value in PERSONALITIES:
        rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [_arg(0, value, "SCMP_CMP_EQ")]})
    if not sys_admin:
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [_arg(0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ", 0)]})
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": list(ARCHITECTURES),
        "syscalls": rules,
    }


def render(profile):
    return json.dumps(profile, indent=2) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--caps", help="comma-separated capabilities (default: default_spec's)")
    p.add_argument("-o", "--output", default=PROFILE)
    p.add_argument("--check", action="store_true", help="exit 1 if the output is stale")
    args = p.parse_args(argv)
    caps = args.caps.split(",") if args.caps else _default_caps()
    text = render(build_profile(caps))
    if args.check:
        try:
            with open(args.output) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.output} is stale: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
