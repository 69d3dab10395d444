/* The runtime's side of spawning a container process.
 *
 * The init is cloned by servin-init, never by the runtime itself: a fork
 * of the runtime is the host's Python interpreter until execve, and a
 * container process that can see it (same PID namespace) and holds
 * CAP_SYS_PTRACE could open /proc/<pid>/exe and, after the exec, reopen
 * the host interpreter for writing (CVE-2019-5736).  servin-init runs from
 * a sealed memfd copy: its /proc/<pid>/exe is that copy, which cannot be
 * written, and the installed file is never executed.
 *
 *   runtime --vfork--> exec servin-init (memfd) --clone(CLONE_PARENT)--> init
 *
 * servin-init reads the plan from a memfd (wire.c), joins the namespaces
 * that must be joined before the clone, clones the init with the
 * namespaces to create, sends its pid on the sync socket and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srv.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* One sealed copy per process (the shim spawns many containers). */
static int g_init_fd = -1;

static int sealed_copy(const char *path, struct srv_err *e)
{
    if (g_init_fd >= 0)
        return g_init_fd;
    int src = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0) {
        srv_fmt(e, "spawn", errno, "open ", path, NULL);
        if (src >= 0)
            close(src);
        return -1;
    }
    /* MFD_EXEC: where vm.memfd_noexec=1 makes memfds non-executable by default */
    int fd = memfd_create("servin-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("servin-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        srv_fmt(e, "spawn", errno, "memfd_create for servin-init", NULL, NULL);
        close(src);
        return -1;
    }
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(fd, src, &off, (size_t)(st.st_size - off));
        if (n <= 0) {
            srv_fmt(e, "spawn", n < 0 ? errno : EIO, "copy ", path, " into a memfd");
            close(src);
            close(fd);
            return -1;
        }
    }
    close(src);
    if (fchmod(fd, 0555) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
        srv_fmt(e, "spawn", errno, "seal the memfd copy of servin-init", NULL, NULL);
        close(fd);
        return -1;
    }
    g_init_fd = fd;
    return fd;
}

/* Move an fd to >= base (keeping it close-on-exec) so that it never sits
 * in the range of --preserve-fds. */
static int lift_fd(int fd, int base)
{
    if (fd < 0 || fd >= base)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, base);
    if (nfd >= 0)
        close(fd);
    return nfd;
}

static int plan_memfd(const struct srv_plan *p, struct srv_err *e)
{
    char *buf;
    size_t len;
    if (srv_plan_pack(p, &buf, &len) < 0) {
        srv_fmt(e, "spawn", errno, "encode the plan", NULL, NULL);
        return -1;
    }
    int fd = memfd_create("servin-plan", MFD_CLOEXEC);
    size_t off = 0;
    while (fd >= 0 && off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            fd = -1;
            break;
        }
        off += (size_t)n;
    }
    if (fd < 0)
        srv_fmt(e, "spawn", errno, "write the plan to a memfd", NULL, NULL);
    free(buf);
    return fd;
}

int srv_spawn(struct srv_plan *p, const char *init_path, int *sync_parent, struct srv_err *e)
{
    int base = 3 + p->preserve_fds;
    int exe = sealed_copy(init_path, e);
    if (exe < 0)
        return -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        srv_fmt(e, "spawn", errno, "socketpair", NULL, NULL);
        return -1;
    }
    sv[1] = lift_fd(sv[1], base);
    p->sync_fd = sv[1];
    p->fifo_fd = lift_fd(p->fifo_fd, base);
    p->console_fd = lift_fd(p->console_fd, base);
    for (int i = 0; i < p->njoin; i++)
        p->join[i].fd = lift_fd(p->join[i].fd, base);
    int planfd = lift_fd(plan_memfd(p, e), base);
    if (planfd < 0) {
        if (!e->stage)
            srv_fmt(e, "spawn", errno, "move the plan fd", NULL, NULL);
        close(sv[0]);
        close(sv[1]);
        return -1;
    }

    /* every fd the plan names crosses the exec into servin-init */
    int nkeep = 0, cap = 4 + p->njoin + p->npre_join + p->nmounts;
    int *keep = malloc(sizeof(int) * (size_t)cap);
    if (!keep) {
        srv_fmt(e, "spawn", ENOMEM, "spawn", NULL, NULL);
        close(sv[0]);
        close(sv[1]);
        close(planfd);
        return -1;
    }
    keep[nkeep++] = sv[1];
    keep[nkeep++] = planfd;
    keep[nkeep++] = p->fifo_fd;
    keep[nkeep++] = p->console_fd;
    for (int i = 0; i < p->njoin; i++)
        keep[nkeep++] = p->join[i].fd;
    for (int i = 0; i < p->npre_join; i++)
        keep[nkeep++] = p->pre_join[i].fd;
    for (int i = 0; i < p->nmounts; i++)
        keep[nkeep++] = p->mounts[i].userns_fd;
    char planarg[16], syncarg[16];
    srv_itoa(planfd, planarg);
    srv_itoa(sv[1], syncarg);
    char *argv[] = {"servin-init", planarg, syncarg, NULL};
    char *envp[] = {NULL};

    /* vfork: no copy of the runtime's page tables, and the exec follows at
     * once.  The child has its own fd table: clearing FD_CLOEXEC there
     * does not touch ours.  Every signal is blocked around it, so that no
     * handler of the runtime's (Python's writes to its wakeup fd) runs in
     * the child, on memory it shares with us; the init unblocks them all
     * (srv_child). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t mid = vfork();
    if (mid == 0) {
        for (int i = 0; i < nkeep; i++)
            if (keep[i] >= 0)
                fcntl(keep[i], F_SETFD, 0);
        syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
        static const char msg[] = "spawn\0execute servin-init from its memfd";
        srv_send_msg(sv[1], SRV_MSG_ERROR, errno, msg, sizeof(msg), -1);
        _exit(127);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(keep);
    close(sv[1]);
    close(planfd);
    if (mid < 0) {
        srv_fmt(e, "spawn", saved, "vfork", NULL, NULL);
        close(sv[0]);
        return -1;
    }
    struct srv_msg_hdr h;
    char buf[600];
    ssize_t r;
    do {
        r = srv_recv_msg(sv[0], &h, buf, sizeof(buf) - 1, NULL);
    } while (r < 0 && errno == EINTR);
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (r >= 0 && h.type == SRV_MSG_PID) {
        *sync_parent = sv[0];
        return h.err;
    }
    if (r > 0 && h.type == SRV_MSG_ERROR) {
        /* "stage\0message" from servin-init; e->stage must outlive buf */
        static const char *stages[] = {"spawn", "timeOffsets", "namespaces"};
        const char *stage = "namespaces";
        buf[r] = '\0';
        size_t sl = strlen(buf);
        for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
            if (strcmp(buf, stages[i]) == 0)
                stage = stages[i];
        srv_fmt(e, stage, h.err, sl + 1 < (size_t)r ? buf + sl + 1 : buf, NULL, NULL);
    } else {
        srv_fmt(e, "spawn", EPROTO, "servin-init failed", NULL, NULL);
    }
    close(sv[0]);
    return -1;
}
