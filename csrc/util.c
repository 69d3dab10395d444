/* Small async-signal-safe helpers: string formatting without stdio and the
 * sync-socket message framing shared by the parent and the child. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "srv.h"

size_t srv_strlcpy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = src[i];
    dst[i] = '\0';
    return i;
}

void srv_itoa(long v, char *buf)
{
    char tmp[24];
    int i = 0, j = 0;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    do {
        tmp[i++] = '0' + u % 10;
        u /= 10;
    } while (u);
    if (v < 0)
        buf[j++] = '-';
    while (i)
        buf[j++] = tmp[--i];
    buf[j] = '\0';
}

/* e->msg = a b c (each may be NULL) */
void srv_fmt(struct srv_err *e, const char *stage, int err, const char *a, const char *b, const char *c)
{
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    e->stage = stage;
    e->err = err;
    e->msg[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        n += srv_strlcpy(e->msg + n, parts[i], sizeof(e->msg) - n);
    }
}

int srv_send_msg(int fd, uint32_t type, int32_t err, const void *data, size_t len, int passfd)
{
    struct srv_msg_hdr h = {.type = type, .err = err, .len = (uint32_t)len};
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)data, len}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    if (passfd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &passfd, sizeof(int));
    }
    ssize_t r;
    do {
        r = sendmsg(fd, &mh, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -1 : 0;
}

/* Returns the payload length, 0 with h->type == 0 on EOF, -1 on error. */
ssize_t srv_recv_msg(int fd, struct srv_msg_hdr *h, void *data, size_t cap, int *passfd)
{
    struct iovec iov[2] = {{h, sizeof(*h)}, {data, cap}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf)};
    ssize_t r;
    if (passfd)
        *passfd = -1;
    memset(h, 0, sizeof(*h));
    do {
        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && passfd)
            memcpy(passfd, CMSG_DATA(c), sizeof(int));
    }
    if ((size_t)r < sizeof(*h)) {
        errno = EPROTO;
        return -1;
    }
    return r - (ssize_t)sizeof(*h);
}
