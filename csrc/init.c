/* servin-init: the small static executable that clones a container's init.
 *
 * The runtime runs it from a sealed memfd (spawn.c) as
 *     servin-init PLAN_FD SYNC_FD
 * with the plan (wire.c) in PLAN_FD and its end of the sync socket in
 * SYNC_FD.  It is not meant to be run by hand.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "srv.h"

static int fail(int sync, const char *msg)
{
    char buf[200];
    int err = errno;
    size_t n = srv_strlcpy(buf, "spawn", sizeof(buf)) + 1;
    n += srv_strlcpy(buf + n, msg, sizeof(buf) - n);
    if (sync < 0 || srv_send_msg(sync, SRV_MSG_ERROR, err, buf, n, -1) < 0) {
        static const char usage[] = "servin-init: started by servin's runtime only\n";
        (void)!write(2, usage, sizeof(usage) - 1);
    }
    return 2;
}

static int fd_arg(const char *s)
{
    char *end;
    long v = s && *s ? strtol(s, &end, 10) : -1;
    return v >= 0 && v < 1 << 20 && s && *s && !*end ? (int)v : -1;
}

int main(int argc, char **argv)
{
    int planfd = argc == 3 ? fd_arg(argv[1]) : -1;
    int sync = argc == 3 ? fd_arg(argv[2]) : -1;
    struct stat st;
    prctl(PR_SET_NAME, "servin-init", 0, 0, 0);
    if (planfd < 0 || sync < 0 || fstat(planfd, &st) < 0 || st.st_size <= 0) {
        errno = EINVAL;
        return fail(sync, "servin-init: no plan");
    }
    /* a private copy: the plan's pointers are rewired in place */
    char *buf = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, planfd, 0);
    close(planfd);
    if (buf == MAP_FAILED)
        return fail(sync, "servin-init: map the plan");
    struct srv_plan *p = srv_plan_unpack(buf, (size_t)st.st_size);
    if (!p || p->sync_fd != sync)
        return fail(sync, "servin-init: the plan does not match this servin-init (reinstall servin)");
    srv_intermediate(p);
}
