/* The container's init, from clone() to execve().
 *
 * This file is part of servin-init, the small static executable that the
 * runtime runs from a sealed memfd (spawn.c): the init is never a copy of
 * the runtime's interpreter, so no container process can reach a host
 * executable through /proc/<pid>/exe (CVE-2019-5736).
 *
 * srv_intermediate() joins what must be joined before the clone and clones
 * the init.  srv_child() is the whole init sequence, in the order of the
 * runtime-spec and with a comment where order matters.  Only system calls
 * from the clone on: no malloc, no stdio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "srv.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_SETPERM 5

struct sched_attr_srv {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

/* Set ids with the raw system calls: glibc's wrappers broadcast the change
 * to every thread it knows of, and after a raw clone from a threaded
 * parent (the shim) it still "knows" the parent's threads and waits for
 * them forever. */
static int raw_setresuid(uid_t u) { return (int)syscall(SYS_setresuid, u, u, u); }
static int raw_setresgid(gid_t g) { return (int)syscall(SYS_setresgid, g, g, g); }

static int g_sync = -1;
static int g_fifo = -1;   /* after start: `start` reads failures from here */

/* Report (stage, errno, message) to the parent and exit. */
static void __attribute__((noreturn)) die(struct srv_err *e)
{
    const char *stage = e->stage ? e->stage : "init";
    char buf[600];
    size_t n = srv_strlcpy(buf, stage, 64);
    buf[n++] = '\0';
    n += srv_strlcpy(buf + n, e->msg, sizeof(buf) - n);
    if (g_sync >= 0)
        srv_send_msg(g_sync, SRV_MSG_ERROR, e->err, buf, n, -1);
    if (g_fifo >= 0) {
        (void)!write(g_fifo, "E", 1);
        (void)!write(g_fifo, e->msg, strlen(e->msg));
    }
    _exit(1);
}

#define FAIL(stage, a, b, c)                     \
    do {                                         \
        srv_fmt(&err, stage, errno, a, b, c);    \
        die(&err);                               \
    } while (0)

static int write_file(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
    if (fd < 0)
        return -1;
    size_t len = strlen(data);
    ssize_t w = write(fd, data, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)len ? 0 : -1;
}

/* Wait for a message of the given type; anything else is a protocol error
 * (EOF means the parent died or gave up: exit quietly). */
static void wait_msg(uint32_t type, char *data, size_t cap, struct srv_err *e)
{
    struct srv_msg_hdr h;
    ssize_t r = srv_recv_msg(g_sync, &h, data, cap, NULL);
    if (r < 0) {
        srv_fmt(e, "sync", errno, "read from the runtime", NULL, NULL);
        die(e);
    }
    if (r == 0 && h.type == 0)
        _exit(1);
    if (h.type != type) {
        srv_fmt(e, "sync", EPROTO, "unexpected message from the runtime", NULL, NULL);
        die(e);
    }
    if (data && (size_t)r < cap)
        data[r] = '\0';
}

/* fork+exec a hook with the state on stdin, honouring its timeout. */
static int run_hook(const struct srv_hook *h, const char *state, const char *kind, struct srv_err *e)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        srv_fmt(e, kind, errno, "pipe for hook ", h->path, NULL);
        return -1;
    }
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) {
        srv_fmt(e, kind, errno, "fork hook ", h->path, NULL);
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        execve(h->path, h->argv, h->envp);
        _exit(127);
    }
    close(in[0]);
    size_t len = strlen(state), off = 0;
    while (off < len) {
        ssize_t w = write(in[1], state + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the hook need not read its stdin */
        off += (size_t)w;
    }
    close(in[1]);

    int status = 0;
    if (h->timeout > 0) {
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            int r;
            do {
                r = poll(&p, 1, h->timeout * 1000);
            } while (r < 0 && errno == EINTR);
            close(pfd);
            if (r == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                srv_fmt(e, kind, ETIMEDOUT, kind, " hook timed out: ", h->path);
                return -1;
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            srv_fmt(e, kind, errno, "wait for hook ", h->path, NULL);
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char num[24];
        srv_itoa(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), num);
        srv_fmt(e, kind, 0, kind, " hook failed with status ", num);
        size_t n = strlen(e->msg);
        n += srv_strlcpy(e->msg + n, ": ", sizeof(e->msg) - n);
        srv_strlcpy(e->msg + n, h->path, sizeof(e->msg) - n);
        return -1;
    }
    return 0;
}

/* Find args[0] the way execvp would, inside the container. */
static int find_exe(const struct srv_plan *p, char *out, size_t cap)
{
    const char *name = p->argv[0];
    struct stat st;
    if (strchr(name, '/')) {
        srv_strlcpy(out, name, cap);
        return stat(out, &st) == 0 ? 0 : -1;
    }
    const char *path = p->path_env ? p->path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t dl = end ? (size_t)(end - path) : strlen(path);
        if (dl + strlen(name) + 2 < cap) {
            size_t n = 0;
            if (dl == 0)
                out[n++] = '.';
            else {
                memcpy(out, path, dl);
                n = dl;
            }
            out[n++] = '/';
            srv_strlcpy(out + n, name, cap - n);
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
                return 0;
        }
        if (!end)
            break;
        path = end + 1;
    }
    errno = ENOENT;
    return -1;
}

static int capset_all(const struct srv_plan *p)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    d[0].effective = (uint32_t)p->cap_effective;
    d[1].effective = (uint32_t)(p->cap_effective >> 32);
    d[0].permitted = (uint32_t)p->cap_permitted;
    d[1].permitted = (uint32_t)(p->cap_permitted >> 32);
    d[0].inheritable = (uint32_t)p->cap_inheritable;
    d[1].inheritable = (uint32_t)(p->cap_inheritable >> 32);
    return (int)syscall(SYS_capset, &hdr, d);
}

/* Close every fd above stdio and --preserve-fds that the plan does not
 * name: the runtime's own (the state-dir lock above all, which would
 * otherwise stay held by the waiting init) must never reach the container. */
static void close_unneeded(struct srv_plan *p)
{
    int keep[64];
    int n = 0;
    int base = 3 + p->preserve_fds;
    int cand[] = {p->sync_fd, p->fifo_fd, p->console_fd};
    for (unsigned i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
        if (cand[i] >= base && n < 64)
            keep[n++] = cand[i];
    for (int i = 0; i < p->njoin && n < 64; i++)
        if (p->join[i].fd >= base)
            keep[n++] = p->join[i].fd;
    for (int i = 0; i < p->nmounts && n < 64; i++)
        if (p->mounts[i].userns_fd >= base)
            keep[n++] = p->mounts[i].userns_fd;
    /* sort (tiny n) */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned int lo = (unsigned int)base;
    for (int i = 0; i < n; i++) {
        if ((unsigned int)keep[i] > lo)
            syscall(SYS_close_range, lo, (unsigned int)keep[i] - 1, 0);
        lo = (unsigned int)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

static void __attribute__((noreturn)) srv_child(struct srv_plan *p)
{
    struct srv_err err = {0};
    static char states[SRV_MSG_MAX + 1];
    char exe[4096];
    int rootfd = -1;

    g_sync = p->sync_fd;
    /* Until execve we hold the plan (hook environments, the runtime's fds
     * for the container): not dumpable, so no process of the container can
     * open our /proc/<pid>/fd/ or mem, nor ptrace us, without
     * CAP_SYS_PTRACE.  Our /proc/<pid>/exe is the sealed memfd copy of
     * servin-init, never a host file (CVE-2019-5736).  execve makes the user
     * program dumpable again as usual.  A rootless parent cannot open the
     * /proc files of a non-dumpable process (they belong to the host's
     * root): then we stay dumpable until GO, while the parent writes the
     * id maps and oom_score_adj; no container process exists yet. */
    if (!p->dumpable_until_go)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    close_unneeded(p);
    /* Python ignores SIGPIPE and SIGXFSZ, and an ignored disposition and
     * the signal mask survive execve: the container's process must start
     * with every signal at its default and none blocked. */
    {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                sigaction(sig, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
    }

    /* Until we are ready, die with the runtime (our parent: CLONE_PARENT). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    umask(0);

    /* 1. Wait until the parent has put us in our cgroups (and written the
     *    id maps of a new user namespace).  Payload: the state JSON for the
     *    createContainer and startContainer hooks. */
    wait_msg(SRV_MSG_GO, states, sizeof(states) - 1, &err);
    if (p->dumpable_until_go)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    const char *cc_state = states;
    const char *sc_state = states + strlen(states) + 1;

    /* 2. Join namespaces given by path: the user namespace first so that
     *    the others are joined with its privileges. */
    for (int i = 0; i < p->njoin; i++) {
        if (p->join[i].type == CLONE_NEWUSER && setns(p->join[i].fd, CLONE_NEWUSER) < 0)
            FAIL("namespaces", "join the user namespace", NULL, NULL);
    }
    for (int i = 0; i < p->njoin; i++) {
        if (p->join[i].type != CLONE_NEWUSER && setns(p->join[i].fd, p->join[i].type) < 0)
            FAIL("namespaces", "join a namespace given by path", NULL, NULL);
        close(p->join[i].fd);
    }
    if (p->userns_new || (p->clone_flags & CLONE_NEWUSER)) {
        if (raw_setresgid(0) < 0 || raw_setresuid(0) < 0)
            FAIL("user", "become root in the user namespace", NULL, NULL);
    }

    if (setsid() < 0)
        FAIL("init", "setsid", NULL, NULL);

    /* 3. The root filesystem and its mounts. */
    rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        FAIL("rootfs", "open rootfs ", p->rootfs, NULL);
    if (p->mount_ns) {
        /* Nothing of ours may propagate to the host: rslave first, then
         * what rootfsPropagation asks for (a non-recursive flag touches
         * "/" only, and pivot_root refuses a shared parent mount). */
        if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            FAIL("rootfs", "make / a recursive slave", NULL, NULL);
        if (p->root_propagation && mount(NULL, "/", NULL, p->root_propagation, NULL) < 0)
            FAIL("rootfs", "set the propagation of /", NULL, NULL);
        if (p->parent_mount && mount(NULL, p->parent_mount, NULL, MS_PRIVATE, NULL) < 0)
            FAIL("rootfs", "make the rootfs parent mount private: ", p->parent_mount, NULL);
        /* pivot_root needs the new root to be a mount point. */
        if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
            FAIL("rootfs", "bind mount rootfs ", p->rootfs, NULL);
        close(rootfd);
        rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            FAIL("rootfs", "reopen rootfs ", p->rootfs, NULL);
        for (int i = 0; i < p->nmounts; i++)
            if (srv_do_mount(rootfd, &p->mounts[i], &err) < 0)
                die(&err);
        for (int i = 0; i < p->ndevices; i++)
            if (srv_make_device(rootfd, &p->devices[i], &err) < 0)
                die(&err);
    }
    if (p->cwd && p->cwd[0] && !p->exec_mode) {
        int fd = srv_mkdir_all(rootfd, p->cwd, 0755);
        if (fd < 0)
            FAIL("cwd", "create the working directory ", p->cwd, NULL);
        close(fd);
    }

    /* 4. The console: a pty from the container's own devpts. */
    if (p->terminal) {
        int master = srv_open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
        if (master < 0)
            master = srv_open_in_root(rootfd, "/dev/ptmx", O_RDWR | O_NOCTTY);
        if (master < 0)
            FAIL("console", "open /dev/ptmx in the container (is devpts mounted on /dev/pts?)", NULL, NULL);
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
            FAIL("console", "unlock the pty", NULL, NULL);
        int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0)
            FAIL("console", "open the pty peer", NULL, NULL);
        if (p->rows || p->cols) {
            struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
            if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
                FAIL("console", "set the console size", NULL, NULL);
        }
        int ptyno = -1;
        char name[40] = "/dev/pts/";
        if (ioctl(master, TIOCGPTN, &ptyno) == 0)
            srv_itoa(ptyno, name + 9);
        if (p->console_fd >= 0) {
            /* runc's protocol: one message, the pty name as data, the master as SCM_RIGHTS */
            struct iovec iov = {name, strlen(name)};
            union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } u;
            memset(&u, 0, sizeof(u));
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                                .msg_controllen = sizeof(u.buf)};
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &master, sizeof(int));
            if (sendmsg(p->console_fd, &mh, MSG_NOSIGNAL) < 0)
                FAIL("console", "send the pty master to the console socket", NULL, NULL);
            close(p->console_fd);
        } else if (srv_send_msg(g_sync, SRV_MSG_PTY, 0, name, strlen(name), master) < 0) {
            FAIL("console", "send the pty master to the runtime", NULL, NULL);
        }
        close(master);
        if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
            FAIL("console", "attach the pty to stdio", NULL, NULL);
        /* /dev/console is the pty (config-linux.md, default devices) */
        {
            char src[64], num[24];
            size_t k = srv_strlcpy(src, "/proc/self/fd/", sizeof(src));
            srv_itoa(slave, num);
            srv_strlcpy(src + k, num, sizeof(src) - k);
            struct srv_mount cm = {.source = src, .target = "/dev/console", .kind = SRV_MNT_BIND,
                                   .file_target = 1, .userns_fd = -1};
            if (p->mount_ns && srv_do_mount(rootfd, &cm, &err) < 0)
                die(&err);
        }
        if (slave > 2)
            close(slave);
        if (ioctl(0, TIOCSCTTY, 0) < 0)
            FAIL("console", "make the pty the controlling terminal", NULL, NULL);
    }

    /* While we mounted, the parent put us in our cgroups (moving a task
     * costs an RCU grace period, ~6 ms: better spent in parallel).  A new
     * cgroup namespace is made only once we are there, so that they are
     * its root. */
    if (p->setup_sync)
        wait_msg(SRV_MSG_SETUP_DONE, NULL, 0, &err);
    if (p->unshare_flags && unshare(p->unshare_flags) < 0)
        FAIL("namespaces", "create the cgroup namespace", NULL, NULL);

    /* 5. prestart/createRuntime hooks run in the runtime namespace, by the
     *    parent; then createContainer hooks here, in the container's
     *    namespaces, before pivot_root (runtime-spec config.md). */
    if (p->hook_sync) {
        if (srv_send_msg(g_sync, SRV_MSG_HOOKS, 0, NULL, 0, -1) < 0)
            FAIL("hooks", "ask the runtime to run hooks", NULL, NULL);
        wait_msg(SRV_MSG_HOOKS_DONE, NULL, 0, &err);
    }
    for (int i = 0; i < p->ncc_hooks; i++)
        if (run_hook(&p->cc_hooks[i], cc_state, "createContainer", &err) < 0)
            die(&err);

    /* 6. Switch to the new root. */
    if (p->mount_ns && !p->no_pivot) {
        int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        int newroot = open(p->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (oldroot < 0 || newroot < 0)
            FAIL("pivot_root", "open / and the rootfs", NULL, NULL);
        if (fchdir(newroot) < 0)
            FAIL("pivot_root", "chdir to the rootfs", NULL, NULL);
        /* Stack the old root under the new one and detach it: no directory
         * of the host stays reachable (runc's pivot_root(".", ".")). */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            FAIL("pivot_root", "pivot_root", NULL, NULL);
        if (fchdir(oldroot) < 0)
            FAIL("pivot_root", "chdir to the old root", NULL, NULL);
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            FAIL("pivot_root", "make the old root a slave", NULL, NULL);
        if (umount2(".", MNT_DETACH) < 0)
            FAIL("pivot_root", "detach the old root", NULL, NULL);
        close(oldroot);
        close(newroot);
    } else if (p->mount_ns) {
        /* --no-pivot: move the rootfs over / and chroot into it */
        if (chdir(p->rootfs) < 0)
            FAIL("rootfs", "chdir to the rootfs", NULL, NULL);
        if (mount(p->rootfs, "/", NULL, MS_MOVE, NULL) < 0)
            FAIL("rootfs", "move the rootfs to /", NULL, NULL);
        if (chroot(".") < 0)
            FAIL("rootfs", "chroot", NULL, NULL);
    } else {
        if (chroot(p->rootfs) < 0)
            FAIL("rootfs", "chroot to ", p->rootfs, NULL);
    }
    if (chdir("/") < 0)
        FAIL("rootfs", "chdir /", NULL, NULL);
    close(rootfd);

    if (p->mount_ns) {
        if (p->rootfs_propagation && mount(NULL, "/", NULL, p->rootfs_propagation, NULL) < 0)
            FAIL("rootfs", "set rootfsPropagation", NULL, NULL);
        /* 7. sysctl through the container's /proc, while /proc/sys is
         *    still writable; then read-only and masked paths and a
         *    read-only root. */
        for (int i = 0; i < p->nsysctl; i++)
            if (write_file(p->sysctl_keys[i], p->sysctl_values[i]) < 0)
                FAIL("sysctl", "write ", p->sysctl_keys[i], NULL);
        for (int i = 0; i < p->nreadonly; i++) {
            if (mount(p->readonly[i], p->readonly[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
                if (errno == ENOENT)
                    continue;
                FAIL("readonlyPaths", "bind ", p->readonly[i], NULL);
            }
            unsigned long f = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
            if (mount(NULL, p->readonly[i], NULL, f, NULL) < 0 &&
                mount(NULL, p->readonly[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                FAIL("readonlyPaths", "remount read-only ", p->readonly[i], NULL);
        }
        for (int i = 0; i < p->nmasked; i++) {
            struct stat st;
            if (stat(p->masked[i], &st) < 0) {
                if (errno == ENOENT)
                    continue;
                FAIL("maskedPaths", "stat ", p->masked[i], NULL);
            }
            int r = S_ISDIR(st.st_mode)
                        ? mount("tmpfs", p->masked[i], "tmpfs", MS_RDONLY, "size=0k")
                        : mount("/dev/null", p->masked[i], NULL, MS_BIND, NULL);
            if (r < 0)
                FAIL("maskedPaths", "mask ", p->masked[i], NULL);
        }
        if (p->readonly_root) {
            if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                FAIL("rootfs", "remount the root read-only", NULL, NULL);
        }
    }

    /* 8. Identity of the container. */
    if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
        FAIL("hostname", "sethostname ", p->hostname, NULL);
    if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
        FAIL("domainname", "setdomainname ", p->domainname, NULL);
    if (p->oom_score_adj && write_file("/proc/self/oom_score_adj", p->oom_score_adj) < 0)
        FAIL("oomScoreAdj", "write /proc/self/oom_score_adj = ", p->oom_score_adj, NULL);
    if (p->keyring) {
        long k = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, p->keyring);
        if (k < 0 && errno != ENOSYS && errno != EACCES && errno != EPERM)
            FAIL("keyring", "join a new session keyring", NULL, NULL);
        if (k >= 0)
            syscall(SYS_keyctl, KEYCTL_SETPERM, k, 0x3f1f0000); /* possessor all, user view|read|write|search|link */
    }

    /* 9. Process attributes that need privilege: before the user switch. */
    for (int i = 0; i < p->nrlimits; i++) {
        struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
        if (setrlimit(p->rlimits[i].resource, &rl) < 0) {
            char num[24];
            srv_itoa(p->rlimits[i].resource, num);
            FAIL("rlimits", "setrlimit of resource ", num, NULL);
        }
    }
    if (p->personality >= 0 && personality((unsigned long)p->personality) < 0)
        FAIL("personality", "personality", NULL, NULL);
    if (p->sched_policy >= 0) {
        struct sched_attr_srv a = {.size = sizeof(a), .sched_policy = (uint32_t)p->sched_policy,
                                   .sched_flags = (uint64_t)p->sched_flags, .sched_nice = p->sched_nice,
                                   .sched_priority = (uint32_t)p->sched_priority,
                                   .sched_runtime = p->sched_runtime, .sched_deadline = p->sched_deadline,
                                   .sched_period = p->sched_period};
        if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
            FAIL("scheduler", "sched_setattr", NULL, NULL);
    }
    if (p->ioprio >= 0 && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, p->ioprio) < 0)
        FAIL("ioPriority", "ioprio_set", NULL, NULL);
    if (p->mempolicy_mode >= 0 &&
        syscall(SYS_set_mempolicy, p->mempolicy_mode,
                p->mempolicy_maxnode ? p->mempolicy_nodes : NULL, p->mempolicy_maxnode) < 0)
        FAIL("memoryPolicy", "set_mempolicy", NULL, NULL);

    /* Without no_new_privs, loading seccomp needs CAP_SYS_ADMIN: do it now,
     * before capabilities are dropped (runc's order). */
    struct sock_fprog prog = {.len = (unsigned short)(p->seccomp_len / sizeof(struct sock_filter)),
                              .filter = (struct sock_filter *)p->seccomp_prog};
    int seccomp_done = 0;
#define LOAD_SECCOMP()                                                                     \
    do {                                                                                   \
        int sfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog); \
        if (sfd < 0)                                                                       \
            FAIL("seccomp", "load the seccomp filter", NULL, NULL);                        \
        if (p->seccomp_listener) {                                                         \
            if (srv_send_msg(g_sync, SRV_MSG_SECCOMP, 0, NULL, 0, sfd) < 0)                \
                FAIL("seccomp", "hand the notify fd to the runtime", NULL, NULL);          \
            close(sfd);                                                                    \
            wait_msg(SRV_MSG_SECCOMP_DONE, NULL, 0, &err);                                 \
        }                                                                                  \
        seccomp_done = 1;                                                                  \
    } while (0)
    if (p->seccomp_prog && !p->no_new_privs)
        LOAD_SECCOMP();

    /* 10. User and capabilities.  The bounding set is dropped while we
     *     still hold CAP_SETPCAP; KEEPCAPS carries the permitted set across
     *     setuid; capset then sets the final sets; ambient comes last. */
    if (p->have_caps) {
        for (int c = 0; c <= p->cap_last; c++) {
            if (!(p->cap_bounding & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                FAIL("capabilities", "drop from the bounding set", NULL, NULL);
        }
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
            FAIL("capabilities", "PR_SET_KEEPCAPS", NULL, NULL);
    }
    if (p->set_user) {
        if (p->set_groups && syscall(SYS_setgroups, (size_t)p->ngroups, p->groups) < 0)
            FAIL("user", "setgroups (additionalGids)", NULL, NULL);
        if (raw_setresgid(p->gid) < 0)
            FAIL("user", "setgid", NULL, NULL);
        if (raw_setresuid(p->uid) < 0)
            FAIL("user", "setuid", NULL, NULL);
    }
    if (p->have_caps) {
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
        if (capset_all(p) < 0)
            FAIL("capabilities", "capset", NULL, NULL);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
            FAIL("capabilities", "clear ambient capabilities", NULL, NULL);
        for (int c = 0; c <= p->cap_last; c++) {
            if ((p->cap_ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
                FAIL("capabilities", "raise an ambient capability (it must be permitted and inheritable)", NULL, NULL);
        }
    }

    /* 11. cwd after the user switch, so it is checked with the user's
     *     rights; then make sure it is inside the container
     *     (CVE-2024-21626: never a leaked host directory). */
    if (chdir(p->cwd && p->cwd[0] ? p->cwd : "/") < 0)
        FAIL("cwd", "chdir to ", p->cwd, NULL);
    {
        /* exe doubles as the buffer: it is filled again just below */
        if (syscall(SYS_getcwd, exe, sizeof(exe)) < 0 || exe[0] != '/') {
            errno = EPERM;
            FAIL("cwd", "the working directory is outside the container", NULL, NULL);
        }
    }
    umask((mode_t)p->umask);

    if (find_exe(p, exe, sizeof(exe)) < 0) {
        int e = errno;
        errno = e ? e : ENOENT;
        if (strchr(p->argv[0], '/'))
            FAIL("exec", "process.args[0] ", p->argv[0], " cannot be executed");
        errno = ENOENT;
        FAIL("exec", "executable file not found in $PATH: ", p->argv[0], NULL);
    }

    if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        FAIL("noNewPrivileges", "PR_SET_NO_NEW_PRIVS", NULL, NULL);
    /* With no_new_privs seccomp comes as late as possible, so that the
     * filter constrains as little of the runtime's own work as it can. */
    if (p->seccomp_prog && !seccomp_done)
        LOAD_SECCOMP();

    /* 12. Every fd but stdio and --preserve-fds closes at exec. */
    syscall(SYS_close_range, 3 + p->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);

    /* 13. Ready: wait for start.  The death signal goes first: `create`
     *     exits as soon as it reads READY. */
    prctl(PR_SET_PDEATHSIG, 0);
    if (srv_send_msg(g_sync, SRV_MSG_READY, 0, NULL, 0, -1) < 0)
        FAIL("sync", "tell the runtime we are ready", NULL, NULL);
    if (p->exec_mode) {
        /* exec: nothing to wait for */
    } else if (p->fifo_fd >= 0) {
        char c;
        ssize_t r;
        do {
            r = read(p->fifo_fd, &c, 1);
        } while (r < 0 && errno == EINTR);
        if (r != 1)
            _exit(1);
        g_fifo = p->fifo_fd;    /* close-on-exec: `start` sees it close */
    } else {
        wait_msg(SRV_MSG_START, NULL, 0, &err);
    }

    /* 14. startContainer hooks: in the container, after start, before the
     *     user process (runtime-spec config.md). */
    for (int i = 0; i < p->nsc_hooks; i++)
        if (run_hook(&p->sc_hooks[i], sc_state, "startContainer", &err) < 0)
            die(&err);

    execve(exe, p->argv, p->envp);
    int exec_errno = errno;
    srv_fmt(&err, "exec", exec_errno, "exec ", exe, NULL);
    die(&err);
}

/* CLONE_PARENT: the init is the runtime's child, as if the runtime had
 * cloned it itself (`run` and the shim wait for it; no subreaper needed). */
static pid_t clone_init(struct srv_plan *p)
{
    return (pid_t)syscall(SYS_clone, (unsigned long)p->clone_flags | CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
}

/* servin-init's main work, in the process the runtime exec'd from a sealed
 * memfd: join what must be joined before the clone (a PID namespace given
 * by path, for exec and for a shared PID namespace), make a new time
 * namespace, clone the init, report its pid and exit. */
void srv_intermediate(struct srv_plan *p)
{
    struct srv_err err = {0};
    g_sync = p->sync_fd;
    for (int i = 0; i < p->npre_join; i++) {
        if (setns(p->pre_join[i].fd, p->pre_join[i].type) < 0)
            FAIL("namespaces", "join a namespace given by path", NULL, NULL);
    }
    if (p->new_time) {
        if (unshare(CLONE_NEWTIME) < 0)
            FAIL("namespaces", "create a time namespace", NULL, NULL);
        if (p->time_offsets && p->time_offsets[0] &&
            write_file("/proc/self/timens_offsets", p->time_offsets) < 0)
            FAIL("timeOffsets", "write /proc/self/timens_offsets", NULL, NULL);
    }
    pid_t pid = clone_init(p);
    if (pid < 0)
        FAIL("spawn", "clone the container init (namespaces)", NULL, NULL);
    if (pid == 0)
        srv_child(p);
    if (srv_send_msg(g_sync, SRV_MSG_PID, pid, NULL, 0, -1) < 0) {
        kill(pid, SIGKILL);
        _exit(1);
    }
    _exit(0);
}
