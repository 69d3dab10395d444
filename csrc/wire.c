/* struct srv_plan on the wire: from the runtime to servin-init.
 *
 * The plan is built by the extension (native.c) in the runtime's address
 * space; servin-init is a separate executable, so the plan travels as
 * bytes: the struct itself, then every block it points to, in the order of
 * walk() below.  Scalars need no code here; a new pointer field in srv.h
 * must be added to walk(), or servin-init refuses the plan (the unpacked
 * pointer would point into the runtime's memory).
 *
 *   header { magic, struct size, count of blocks }
 *   struct srv_plan
 *   per block: u32 length (NONE for a NULL pointer), the bytes, padding to 8
 *
 * Unpacking rewires each pointer into the received buffer, in place: no
 * allocation, so it is safe in the freshly exec'd servin-init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define WIRE_MAGIC 0x50565253u  /* "SRVP" */
#define NONE 0xffffffffu
#define PAD(n) (((n) + 7) & ~(size_t)7)

struct wire_hdr {
    uint32_t magic;
    uint32_t plan_size;
    uint32_t blocks;
    uint32_t pad;
};

struct walker {
    int unpack;
    char *buf;
    size_t len, cap, pos;
    uint32_t blocks;
    int err;
};

static void put(struct walker *w, const void *data, size_t n)
{
    if (w->err)
        return;
    if (w->len + PAD(n) > w->cap) {
        size_t nc = w->cap ? w->cap : 4096;
        while (nc < w->len + PAD(n))
            nc *= 2;
        char *nb = realloc(w->buf, nc);
        if (!nb) {
            w->err = ENOMEM;
            return;
        }
        w->buf = nb;
        w->cap = nc;
    }
    if (n)
        memcpy(w->buf + w->len, data, n);
    memset(w->buf + w->len + n, 0, PAD(n) - n);
    w->len += PAD(n);
}

/* One pointer field.  Packing: `size` bytes at *field (or NONE when NULL).
 * Unpacking: point *field into the buffer; `size` is what the struct's own
 * counts say the block must hold (SIZE_MAX: a string, checked for its NUL). */
static void block(struct walker *w, void **field, size_t size)
{
    if (w->err)
        return;
    w->blocks++;
    if (!w->unpack) {
        uint32_t n = *field ? (uint32_t)size : NONE;
        if (*field && size >= NONE) {
            w->err = E2BIG;
            return;
        }
        put(w, &n, sizeof(n));
        if (*field)
            put(w, *field, size);
        return;
    }
    uint32_t n;
    if (w->pos + 8 > w->len) {
        w->err = EPROTO;
        return;
    }
    memcpy(&n, w->buf + w->pos, sizeof(n));
    w->pos += 8;
    if (n == NONE) {
        *field = NULL;
        return;
    }
    if (PAD(n) > w->len - w->pos || (size != SIZE_MAX && n != size) ||
        (size == SIZE_MAX && (n == 0 || w->buf[w->pos + n - 1] != '\0'))) {
        w->err = EPROTO;
        return;
    }
    *field = w->buf + w->pos;
    w->pos += PAD(n);
}

#define STR(f) block(w, (void **)&(f), (f) && !w->unpack ? strlen(f) + 1 : SIZE_MAX)
#define ARR(f, count) block(w, (void **)&(f), sizeof(*(f)) * (size_t)(count))

/* A NULL-terminated char * array and its strings. */
static void strv(struct walker *w, char ***f)
{
    size_t n = 0;
    if (!w->unpack) {
        while (*f && (*f)[n])
            n++;
        block(w, (void **)f, sizeof(char *) * (n + 1));
    } else {
        /* the count comes from the block's length */
        uint32_t len;
        if (w->pos + 8 > w->len) {
            w->err = EPROTO;
            return;
        }
        memcpy(&len, w->buf + w->pos, sizeof(len));
        if (len == NONE) {
            block(w, (void **)f, 0);     /* NULL */
            return;
        }
        if (len == 0 || len % sizeof(char *)) {
            w->err = EPROTO;
            return;
        }
        n = len / sizeof(char *) - 1;
        block(w, (void **)f, len);
    }
    if (w->err || !*f)
        return;
    if (w->unpack && (*f)[n]) {
        w->err = EPROTO;
        return;
    }
    for (size_t i = 0; i < n; i++)
        STR((*f)[i]);
}

static void hooks(struct walker *w, struct srv_hook **h, int n)
{
    ARR(*h, n);
    for (int i = 0; !w->err && *h && i < n; i++) {
        STR((*h)[i].path);
        strv(w, &(*h)[i].argv);
        strv(w, &(*h)[i].envp);
    }
}

static void walk(struct walker *w, struct srv_plan *p)
{
    ARR(p->pre_join, p->npre_join);
    ARR(p->join, p->njoin);
    STR(p->time_offsets);
    STR(p->rootfs);
    STR(p->parent_mount);
    ARR(p->mounts, p->nmounts);
    for (int i = 0; !w->err && p->mounts && i < p->nmounts; i++) {
        struct srv_mount *m = &p->mounts[i];
        STR(m->source);
        STR(m->target);
        STR(m->fstype);
        STR(m->data);
        ARR(m->props, m->nprops);
    }
    ARR(p->devices, p->ndevices);
    for (int i = 0; !w->err && p->devices && i < p->ndevices; i++) {
        STR(p->devices[i].path);
        STR(p->devices[i].host_path);
    }
    strv(w, &p->masked);
    strv(w, &p->readonly);
    STR(p->cwd);
    hooks(w, &p->cc_hooks, p->ncc_hooks);
    hooks(w, &p->sc_hooks, p->nsc_hooks);
    STR(p->hostname);
    STR(p->domainname);
    strv(w, &p->sysctl_keys);
    strv(w, &p->sysctl_values);
    STR(p->oom_score_adj);
    STR(p->keyring);
    ARR(p->rlimits, p->nrlimits);
    ARR(p->groups, p->ngroups);
    block(w, (void **)&p->seccomp_prog, (size_t)(p->seccomp_len > 0 ? p->seccomp_len : 0));
    strv(w, &p->argv);
    strv(w, &p->envp);
    STR(p->path_env);
}

int srv_plan_pack(const struct srv_plan *p, char **out, size_t *len)
{
    struct walker w = {0};
    struct wire_hdr h = {WIRE_MAGIC, sizeof(*p), 0, 0};
    struct srv_plan copy = *p;   /* walk() takes non-const fields; packing only reads them */
    put(&w, &h, sizeof(h));
    put(&w, &copy, sizeof(copy));
    walk(&w, &copy);
    if (w.err) {
        free(w.buf);
        errno = w.err;
        return -1;
    }
    ((struct wire_hdr *)w.buf)->blocks = w.blocks;
    *out = w.buf;
    *len = w.len;
    return 0;
}

struct srv_plan *srv_plan_unpack(char *buf, size_t len)
{
    struct wire_hdr h;
    if (len < sizeof(h) + PAD(sizeof(struct srv_plan)) || ((uintptr_t)buf & 7)) {
        errno = EPROTO;
        return NULL;
    }
    memcpy(&h, buf, sizeof(h));
    if (h.magic != WIRE_MAGIC || h.plan_size != sizeof(struct srv_plan)) {
        errno = EPROTO;
        return NULL;
    }
    struct srv_plan *p = (struct srv_plan *)(buf + sizeof(h));
    struct walker w = {.unpack = 1, .buf = buf, .len = len,
                       .pos = sizeof(h) + PAD(sizeof(struct srv_plan))};
    walk(&w, p);
    if (w.err || w.blocks != h.blocks || w.pos != len) {
        errno = w.err ? w.err : EPROTO;
        return NULL;
    }
    return p;
}
