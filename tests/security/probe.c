/* A static helper run inside test containers (tests/security).
 *
 *   probe euid                 print "uid=U euid=E"
 *   probe fds                  print "fd N -> TARGET" for each open fd, "cwd X", "getcwd X"
 *   probe open-w PATH...       open each PATH O_WRONLY (never writes): "open-w PATH ok|errno"
 *   probe open-r PATH...       the same with O_RDONLY|O_NONBLOCK
 *   probe scan DIR [exe-only]  the /proc attacker: see scan() below (exe-only: leave
 *                              the target's fds, cwd and root alone)
 *   probe hunt DIR             the same, probing each new pid the moment it appears
 *   probe sys NAME...          make each named system call with harmless arguments,
 *                              each in a child of its own: "sys NAME ok|E<errno>|SIG<n>"
 *                              (NAME32: the i386 call through int $0x80)
 *
 * Output goes to stdout with write(2), one line per fact, so a test can
 * parse it; nothing here ever writes to a file it opened.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    (void)!write(1, buf, n);
}

static const char *err(int e)
{
    static char b[64];
    snprintf(b, sizeof(b), "E%d", e);
    return b;
}

static int fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        out("error opendir %s", err(errno));
        return 1;
    }
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        char p[64], t[4096];
        snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, t, sizeof(t) - 1);
        t[n < 0 ? 0 : n] = '\0';
        out("fd %s -> %s", e->d_name, n < 0 ? err(errno) : t);
    }
    closedir(d);
    char t[4096];
    ssize_t n = readlink("/proc/self/cwd", t, sizeof(t) - 1);
    t[n < 0 ? 0 : n] = '\0';
    out("cwd %s", n < 0 ? err(errno) : t);
    if (getcwd(t, sizeof(t)))
        out("getcwd %s", t);
    else
        out("getcwd %s", err(errno));
    struct stat st;
    if (stat(".", &st) == 0)
        out("cwdstat %lu %lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
    if (stat("..", &st) == 0)
        out("parentstat %lu %lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
    return 0;
}

static int open_paths(int argc, char **argv, int flags, const char *tag)
{
    for (int i = 0; i < argc; i++) {
        int fd = open(argv[i], flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            out("%s %s %s", tag, argv[i], err(errno));
        } else {
            out("%s %s ok", tag, argv[i]);
            close(fd);
        }
    }
    return 0;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void touch(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

/* Wait (at most 30 s) for DIR/NAME to appear. */
static int wait_for(const char *dir, const char *name)
{
    for (int i = 0; i < 3000; i++) {
        if (exists(dir, name))
            return 0;
        usleep(10000);
    }
    return -1;
}

#define MAXKEEP 256
static struct {
    int fd;
    int pid;
} keep[MAXKEEP];
static int nkeep;

static void stat_line(const char *what, int pid, const char *name, int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0)
        out("%s %d %s ok dev=%lu ino=%lu mode=%o", what, pid, name, (unsigned long)st.st_dev,
            (unsigned long)st.st_ino, (unsigned)st.st_mode);
    else
        out("%s %d %s ok fstat=%s", what, pid, name, err(errno));
}

/* After the first pass over /proc: wait for DIR/phase2 (the target has
 * exec'd), then re-open every exe handle kept, for writing (never write). */
static int second_phase(const char *dir)
{
    out("phase1 done");
    touch(dir, "phase1.done");
    if (wait_for(dir, "phase2") < 0)
        return 2;
    for (int i = 0; i < nkeep; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", keep[i].fd);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            out("reopen %d %s", keep[i].pid, err(errno));
        else {
            stat_line("reopen", keep[i].pid, "exe", fd);
            close(fd);
        }
    }
    out("phase2 done");
    touch(dir, "phase2.done");
    return 0;
}

/* Everything a process in the container may try on another process it
 * can see in /proc: its exe, root, cwd and fds.  O_PATH handles on exe are
 * kept for the second phase (the CVE-2019-5736 re-open after execve). */
static int exe_only;

static void probe_pid(int pid)
{
    char p[128], t[4096];
    ssize_t n;
    const char *links[] = {"exe", "root", "cwd"};
    for (unsigned i = 0; i < (exe_only ? 1u : 3u); i++) {
        snprintf(p, sizeof(p), "/proc/%d/%s", pid, links[i]);
        n = readlink(p, t, sizeof(t) - 1);
        t[n < 0 ? 0 : n] = '\0';
        out("readlink %d %s %s", pid, links[i], n < 0 ? err(errno) : t);
        int fd = open(p, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            out("opath %d %s %s", pid, links[i], err(errno));
        } else {
            stat_line("opath", pid, links[i], fd);
            if (i == 0 && nkeep < MAXKEEP) {
                keep[nkeep].fd = fd;
                keep[nkeep++].pid = pid;
            } else {
                close(fd);
            }
        }
    }
    snprintf(p, sizeof(p), "/proc/%d/exe", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        out("rdonly %d exe %s", pid, err(errno));
    else {
        stat_line("rdonly", pid, "exe", fd);
        close(fd);
    }
    fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        out("wronly %d exe %s", pid, err(errno));
    else {
        stat_line("wronly", pid, "exe", fd);
        close(fd);
    }
    if (exe_only)
        return;
    snprintf(p, sizeof(p), "/proc/%d/fd", pid);
    DIR *d = opendir(p);
    if (!d) {
        out("fddir %d %s", pid, err(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char q[160];
        snprintf(q, sizeof(q), "/proc/%d/fd/%s", pid, e->d_name);
        n = readlink(q, t, sizeof(t) - 1);
        t[n < 0 ? 0 : n] = '\0';
        out("fdlink %d %s %s", pid, e->d_name, n < 0 ? err(errno) : t);
        int f = open(q, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (f < 0)
            out("fdopen %d %s %s", pid, e->d_name, err(errno));
        else {
            char name[80];
            snprintf(name, sizeof(name), "fd%s", e->d_name);
            stat_line("fdopen", pid, name, f);
            close(f);
        }
    }
    closedir(d);
}

static int scan(const char *dir)
{
    int me = getpid();
    out("scan self %d", me);
    touch(dir, "ready");
    if (wait_for(dir, "phase1") < 0)
        return 2;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid == me)
            continue;
        out("pid %d", pid);
        probe_pid(pid);
    }
    if (d)
        closedir(d);
    return second_phase(dir);
}

/* Probe every pid the moment it first appears in /proc (an `exec`'d
 * process is a fork of the runtime for a few milliseconds) until DIR/stop;
 * then the second phase as in scan(). */
static unsigned char seen[(1 << 22) / 8];

static int hunt(const char *dir)
{
    int me = getpid();
    out("hunt self %d", me);
    touch(dir, "ready");
    time_t end = time(NULL) + 30;
    for (unsigned long iter = 0;; iter++) {
        if ((iter & 63) == 0 && (exists(dir, "stop") || time(NULL) > end))
            break;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == me || pid >= (1 << 22) || (seen[pid / 8] & (1 << (pid % 8))))
                continue;
            seen[pid / 8] |= 1 << (pid % 8);
            out("pid %d", pid);
            probe_pid(pid);
        }
        if (d)
            closedir(d);
    }
    return second_phase(dir);
}

/* The attacker's system calls, with arguments that do nothing even where
 * the call is allowed (bad fds, missing paths, NULL buffers, no-op
 * commands): what matters is whether seccomp answers first. */
static long raw32(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
#else
    errno = ENOSYS;
    return -1;
#endif
}

static long call(const char *n)
{
#define IS(x) (strcmp(n, x) == 0)
    if (IS("keyctl"))           /* KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING */
        return syscall(SYS_keyctl, 0, -3, 0);
    if (IS("keyctl32"))         /* i386 keyctl is 288 */
        return raw32(288, 0, -3, 0);
    if (IS("getpid32"))         /* i386 getpid is 20 */
        return raw32(20, 0, 0, 0);
    if (IS("add_key"))
        return syscall(SYS_add_key, "user", "servin-probe", "x", 1, -2);
    if (IS("request_key"))
        return syscall(SYS_request_key, "user", "servin-probe-none", NULL, 0);
    if (IS("kexec_load"))
        return syscall(SYS_kexec_load, 0, 0, NULL, 0);
    if (IS("kexec_file_load"))
        return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0);
    if (IS("bpf"))              /* BPF_MAP_CREATE with no attributes */
        return syscall(SYS_bpf, 0, NULL, 0);
    if (IS("userfaultfd"))
        return syscall(SYS_userfaultfd, O_CLOEXEC);
    if (IS("perf_event_open"))
        return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    if (IS("mount"))
        return syscall(SYS_mount, "none", "/nonexistent-probe", "tmpfs", 0, NULL);
    if (IS("umount2"))
        return syscall(SYS_umount2, "/nonexistent-probe", 0);
    if (IS("unshare-user"))     /* in the child: harmless if it works */
        return syscall(SYS_unshare, 0x10000000);
    if (IS("unshare-mount"))
        return syscall(SYS_unshare, 0x00020000);
    if (IS("clone-newuser")) {
        long r = syscall(SYS_clone, 0x10000000 | SIGCHLD, 0, 0, 0, 0);
        if (r == 0)
            _exit(0);
        if (r > 0)
            waitpid((pid_t)r, NULL, 0);
        return r;
    }
    if (IS("clone3"))
        return syscall(SYS_clone3, NULL, 0);
    if (IS("setns"))
        return syscall(SYS_setns, -1, 0);
    if (IS("pivot_root"))
        return syscall(SYS_pivot_root, "/nonexistent-probe", "/nonexistent-probe");
    if (IS("open_by_handle_at"))
        return syscall(SYS_open_by_handle_at, -1, NULL, 0);
    if (IS("init_module"))
        return syscall(SYS_init_module, NULL, 0, "");
    if (IS("finit_module"))
        return syscall(SYS_finit_module, -1, "", 0);
    if (IS("delete_module"))
        return syscall(SYS_delete_module, "servin_probe_none", O_NONBLOCK);
    if (IS("swapon"))
        return syscall(SYS_swapon, "/nonexistent-probe", 0);
    if (IS("reboot"))           /* wrong magic numbers: EINVAL where allowed */
        return syscall(SYS_reboot, 0, 0, 0, NULL);
    if (IS("acct"))
        return syscall(SYS_acct, "/nonexistent-probe");
    if (IS("settimeofday"))     /* both NULL: a no-op where allowed */
        return syscall(SYS_settimeofday, NULL, NULL);
    if (IS("clock_settime"))
        return syscall(SYS_clock_settime, 0, NULL);
    if (IS("iopl"))
        return syscall(SYS_iopl, 0);
    if (IS("ioperm"))
        return syscall(SYS_ioperm, 0, 0, 0);
    if (IS("io_uring_setup"))
        return syscall(SYS_io_uring_setup, 0, NULL);
    if (IS("fsopen"))
        return syscall(SYS_fsopen, "tmpfs", 0);
    if (IS("open_tree"))
        return syscall(SYS_open_tree, -1, "/nonexistent-probe", 0);
    if (IS("move_mount"))
        return syscall(SYS_move_mount, -1, "", -1, "", 0);
    if (IS("quotactl"))
        return syscall(SYS_quotactl, 0, NULL, 0, NULL);
    if (IS("getpid"))
        return syscall(SYS_getpid);
    if (IS("uname")) {
        char buf[512];
        return syscall(SYS_uname, buf);
    }
#undef IS
    errno = ENOENT;
    return -2;
}

static int sys_calls(int n, char **names)
{
    for (int i = 0; i < n; i++) {
        int pfd[2];
        if (pipe(pfd) < 0)
            return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            long r = call(names[i]);
            int e = r < 0 ? errno : 0;
            if (r == -2 && e == ENOENT) {
                (void)!write(pfd[1], "unknown", 7);
                _exit(0);
            }
            char b[32];
            int len = r < 0 ? snprintf(b, sizeof(b), "E%d", e) : snprintf(b, sizeof(b), "ok");
            (void)!write(pfd[1], b, (size_t)len);
            _exit(0);
        }
        close(pfd[1]);
        char b[32] = {0};
        ssize_t got = read(pfd[0], b, sizeof(b) - 1);
        close(pfd[0]);
        int st = 0;
        waitpid(pid, &st, 0);
        if (got > 0)
            out("sys %s %s", names[i], b);
        else if (WIFSIGNALED(st))
            out("sys %s SIG%d", names[i], WTERMSIG(st));
        else
            out("sys %s none", names[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "euid")) {
        out("uid=%d euid=%d", (int)getuid(), (int)geteuid());
        return 0;
    }
    if (!strcmp(argv[1], "fds"))
        return fds();
    if (!strcmp(argv[1], "open-w"))
        return open_paths(argc - 2, argv + 2, O_WRONLY, "open-w");
    if (!strcmp(argv[1], "open-r"))
        return open_paths(argc - 2, argv + 2, O_RDONLY | O_NONBLOCK, "open-r");
    if (!strcmp(argv[1], "scan") && argc > 2) {
        exe_only = argc > 3 && !strcmp(argv[3], "exe-only");
        return scan(argv[2]);
    }
    if (!strcmp(argv[1], "hunt") && argc > 2)
        return hunt(argv[2]);
    if (!strcmp(argv[1], "sys"))
        return sys_calls(argc - 2, argv + 2);
    return 2;
}
