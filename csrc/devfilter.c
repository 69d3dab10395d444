/* linux.resources.devices on cgroup v2: an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE on the container's cgroup directory.
 *
 *   device_filter(cgroup_dir, default_allow, exceptions) -> program id
 *
 * Policy stays in Python: runtime/_resources.py replays the rule list the
 * way the v1 devices controller does and hands over what is left, a
 * default (allow or deny) and its exceptions, each (type, major, minor,
 * access): type "c" or "b", major/minor -1 for any, access a non-empty
 * subset of "rwm".  This file turns that into instructions and talks to
 * the kernel.  The program decides as the v1 controller does:
 *
 *   default deny:  allow when one exception matches the device and grants
 *                  every access asked for (an open O_RDWR asks for two);
 *   default allow: deny when one exception matches the device and names
 *                  any access asked for.
 *
 * The context is struct bpf_cgroup_dev_ctx {u32 access_type; u32 major;
 * u32 minor;}, access_type = BPF_DEVCG_ACC_* << 16 | BPF_DEVCG_DEV_*;
 * the program returns 1 to allow, 0 to deny.
 *
 * The new program is attached with BPF_F_ALLOW_MULTI; only then are the
 * programs servin attached to the same directory before detached (update).
 * They are found with a BPF_PROG_QUERY without BPF_F_QUERY_EFFECTIVE,
 * which lists what is attached to this cgroup itself and never a
 * parent's, and recognised by their name, PROG_NAME: nothing else is
 * touched.  Between the attach and the detach the kernel runs both and a
 * device must pass both: never more than either allows.  If the old ones
 * can't be detached, the new one is detached again and the error raised.
 *
 * cgroup_dir None: load the program and close it (does this kernel let
 * this process load one? `servin-runc features` asks).
 *
 * A refusal raises OSError(errno, "BPF_PROG_...: <why>").
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "srv.h"

#define PROG_NAME "servin_devices"        /* < BPF_OBJ_NAME_LEN; [A-Za-z0-9_.] only */
#define MAX_EXCEPTIONS 100000             /* 9 instructions each at most */
#define MAX_ATTACHED 64                   /* the kernel's limit per cgroup and type */

/* registers: r1 holds the context on entry */
enum { R0 = 0, R1 = 1, R_TYPE = 2, R_ACCESS = 3, R_MAJOR = 4, R_MINOR = 5, R_TMP = 6 };

struct devex {
    uint32_t type;            /* BPF_DEVCG_DEV_* */
    int64_t major, minor;     /* -1: any */
    uint32_t access;          /* BPF_DEVCG_ACC_* bits */
};

struct prog {
    struct bpf_insn *insn;
    int n;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    struct bpf_insn *i = &p->insn[p->n++];
    memset(i, 0, sizeof(*i));
    i->code = code;
    i->dst_reg = dst;
    i->src_reg = src;
    i->off = off;
    i->imm = imm;
}

#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

/* One exception: every test that fails jumps past the block; the block
 * ends with the exception's verdict (the opposite of the default). */
static void emit_exception(struct prog *p, const struct devex *x, int default_allow)
{
    int jumps[4], nj = 0;
    jumps[nj++] = p->n;
    emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R_TYPE, 0, 0, (int32_t)x->type);
    if (x->major >= 0) {
        jumps[nj++] = p->n;
        emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R_MAJOR, 0, 0, (int32_t)(uint32_t)x->major);
    }
    if (x->minor >= 0) {
        jumps[nj++] = p->n;
        emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R_MINOR, 0, 0, (int32_t)(uint32_t)x->minor);
    }
    if (x->access != ACC_ALL) {
        emit(p, BPF_ALU64 | BPF_MOV | BPF_X, R_TMP, R_ACCESS, 0, 0);
        if (default_allow) {
            /* denied only if it names some of the access asked for */
            emit(p, BPF_ALU | BPF_AND | BPF_K, R_TMP, 0, 0, (int32_t)x->access);
            jumps[nj++] = p->n;
            emit(p, BPF_JMP32 | BPF_JEQ | BPF_K, R_TMP, 0, 0, 0);
        } else {
            /* allowed only if it grants all of the access asked for */
            emit(p, BPF_ALU | BPF_AND | BPF_K, R_TMP, 0, 0, (int32_t)~x->access);
            jumps[nj++] = p->n;
            emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R_TMP, 0, 0, 0);
        }
    }
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, default_allow ? 0 : 1);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (int i = 0; i < nj; i++)
        p->insn[jumps[i]].off = (int16_t)(p->n - (jumps[i] + 1));
}

static int build(struct prog *p, const struct devex *x, int nx, int default_allow)
{
    p->n = 0;
    p->insn = calloc((size_t)nx * 9 + 8, sizeof(struct bpf_insn));
    if (!p->insn)
        return -1;
    /* r2 = type, r3 = access, r4 = major, r5 = minor (32-bit loads: the
     * context's fields are u32, which is all the verifier allows) */
    emit(p, BPF_LDX | BPF_W | BPF_MEM, R_TYPE, R1, 0, 0);
    emit(p, BPF_ALU64 | BPF_MOV | BPF_X, R_ACCESS, R_TYPE, 0, 0);
    emit(p, BPF_ALU | BPF_AND | BPF_K, R_TYPE, 0, 0, 0xffff);
    emit(p, BPF_ALU | BPF_RSH | BPF_K, R_ACCESS, 0, 0, 16);
    emit(p, BPF_LDX | BPF_W | BPF_MEM, R_MAJOR, R1, 4, 0);
    emit(p, BPF_LDX | BPF_W | BPF_MEM, R_MINOR, R1, 8, 0);
    for (int i = 0; i < nx; i++)
        emit_exception(p, &x[i], default_allow);
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, default_allow ? 1 : 0);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    return 0;
}

/* ---- the kernel side (no Python objects: runs without the GIL) -------- */

static int sys_bpf(int cmd, union bpf_attr *a)
{
    return (int)syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static int fail(struct srv_err *e, const char *stage, const char *why)
{
    int err = errno;
    srv_fmt(e, stage, err, stage, ": ", why ? why : strerror(err));
    return -1;
}

static int load(const struct prog *p, struct srv_err *e)
{
    char log[4096];
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (uintptr_t)p->insn;
    a.insn_cnt = (uint32_t)p->n;
    a.license = (uintptr_t) "GPL";
    memcpy(a.prog_name, PROG_NAME, sizeof(PROG_NAME));
    int fd = sys_bpf(BPF_PROG_LOAD, &a);
    if (fd >= 0 || (errno != EINVAL && errno != EACCES))
        return fd >= 0 ? fd : fail(e, "BPF_PROG_LOAD", NULL);
    /* the verifier said no (a bug of ours): load again for its reason */
    log[0] = '\0';
    a.log_buf = (uintptr_t)log;
    a.log_size = sizeof(log);
    a.log_level = 1;
    fd = sys_bpf(BPF_PROG_LOAD, &a);
    if (fd >= 0)
        return fd;
    char *nl;
    while ((nl = strrchr(log, '\n')) && nl[1] == '\0')
        *nl = '\0';
    return fail(e, "BPF_PROG_LOAD", log[0] ? (nl ? nl + 1 : log) : NULL);
}

static int prog_info(int fd, struct bpf_prog_info *info)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    memset(info, 0, sizeof(*info));
    a.info.bpf_fd = (uint32_t)fd;
    a.info.info_len = sizeof(*info);
    a.info.info = (uintptr_t)info;
    return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
}

static int detach(int cgfd, int progfd)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)progfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    return sys_bpf(BPF_PROG_DETACH, &a);
}

/* Detach every program named PROG_NAME attached to this cgroup itself,
 * except the one with id keep. */
static int detach_old(int cgfd, uint32_t keep, struct srv_err *e)
{
    uint32_t ids[MAX_ATTACHED];
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)cgfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uintptr_t)ids;
    a.query.prog_cnt = MAX_ATTACHED;
    if (sys_bpf(BPF_PROG_QUERY, &a) < 0 && errno != ENOSPC)
        return fail(e, "BPF_PROG_QUERY", NULL);
    uint32_t n = a.query.prog_cnt < MAX_ATTACHED ? a.query.prog_cnt : MAX_ATTACHED;
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == keep)
            continue;
        union bpf_attr g;
        memset(&g, 0, sizeof(g));
        g.prog_id = ids[i];
        int fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &g);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;         /* detached and freed meanwhile */
            return fail(e, "BPF_PROG_GET_FD_BY_ID", NULL);
        }
        struct bpf_prog_info info;
        const char *stage = NULL;
        if (prog_info(fd, &info) < 0)
            stage = "BPF_OBJ_GET_INFO_BY_FD";
        else if (info.type == BPF_PROG_TYPE_CGROUP_DEVICE &&
                 strncmp(info.name, PROG_NAME, sizeof(info.name)) == 0 &&
                 detach(cgfd, fd) < 0 && errno != ENOENT)
            stage = "BPF_PROG_DETACH";
        int err = errno;
        close(fd);
        if (stage) {
            errno = err;
            return fail(e, stage, NULL);
        }
    }
    return 0;
}

/* Load p; with a cgroup directory, attach it there and detach the
 * programs of ours it replaces.  Returns the new program's id (0 without
 * a directory), or -1 with e filled. */
static long replace(const char *dir, const struct prog *p, struct srv_err *e)
{
    int cgfd = -1, fd = -1;
    long id = -1;
    if (dir && (cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int err = errno;
        srv_fmt(e, "open", err, dir, ": ", strerror(err));
        return -1;
    }
    if ((fd = load(p, e)) < 0)
        goto out;
    if (cgfd < 0) {
        id = 0;
        goto out;
    }
    struct bpf_prog_info info;
    if (prog_info(fd, &info) < 0) {
        fail(e, "BPF_OBJ_GET_INFO_BY_FD", NULL);
        goto out;
    }
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &a) < 0) {
        fail(e, "BPF_PROG_ATTACH", NULL);
        goto out;
    }
    if (detach_old(cgfd, info.id, e) < 0) {
        detach(cgfd, fd);     /* as it was: the old program alone */
        goto out;
    }
    id = info.id;
out:
    if (fd >= 0)
        close(fd);            /* an attached program stays while attached */
    if (cgfd >= 0)
        close(cgfd);
    return id;
}

/* ---- Python ------------------------------------------------------------ */

static int parse_exception(PyObject *item, struct devex *x)
{
    const char *type, *access;
    long long major, minor;
    if (!PyArg_ParseTuple(item, "sLLs;an exception is (type, major, minor, access)",
                          &type, &major, &minor, &access))
        return -1;
    if (strcmp(type, "c") == 0)
        x->type = BPF_DEVCG_DEV_CHAR;
    else if (strcmp(type, "b") == 0)
        x->type = BPF_DEVCG_DEV_BLOCK;
    else
        goto bad;
    if (major < -1 || major > UINT32_MAX || minor < -1 || minor > UINT32_MAX)
        goto bad;
    x->major = major;
    x->minor = minor;
    x->access = 0;
    for (const char *c = access; *c; c++) {
        if (*c == 'r')
            x->access |= BPF_DEVCG_ACC_READ;
        else if (*c == 'w')
            x->access |= BPF_DEVCG_ACC_WRITE;
        else if (*c == 'm')
            x->access |= BPF_DEVCG_ACC_MKNOD;
        else
            goto bad;
    }
    if (x->access)
        return 0;
bad:
    PyErr_Format(PyExc_ValueError, "device_filter: bad exception (%s, %lld, %lld, %s)",
                 type, major, minor, access);
    return -1;
}

PyObject *srv_py_device_filter(PyObject *self, PyObject *args)
{
    PyObject *dirobj, *excs, *dirbytes = NULL, *result = NULL;
    int default_allow;
    if (!PyArg_ParseTuple(args, "OpO!", &dirobj, &default_allow, &PyTuple_Type, &excs))
        return NULL;
    if (dirobj != Py_None && !PyUnicode_FSConverter(dirobj, &dirbytes))
        return NULL;
    Py_ssize_t nx = PyTuple_GET_SIZE(excs);
    if (nx > MAX_EXCEPTIONS) {
        Py_XDECREF(dirbytes);
        return PyErr_Format(PyExc_ValueError, "device_filter: more than %d exceptions", MAX_EXCEPTIONS);
    }
    struct devex *x = calloc((size_t)nx + 1, sizeof(*x));
    struct prog p = {0};
    if (!x) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < nx; i++)
        if (parse_exception(PyTuple_GET_ITEM(excs, i), &x[i]) < 0)
            goto out;
    if (build(&p, x, (int)nx, default_allow) < 0) {
        PyErr_NoMemory();
        goto out;
    }
    const char *dir = dirbytes ? PyBytes_AS_STRING(dirbytes) : NULL;
    struct srv_err e = {0};
    long id;
    Py_BEGIN_ALLOW_THREADS
    id = replace(dir, &p, &e);
    Py_END_ALLOW_THREADS
    if (id < 0) {
        PyObject *exc = Py_BuildValue("(is)", e.err, e.msg);
        if (exc) {
            PyErr_SetObject(PyExc_OSError, exc);
            Py_DECREF(exc);
        }
        goto out;
    }
    result = PyLong_FromLong(id);
out:
    free(p.insn);
    free(x);
    Py_XDECREF(dirbytes);
    return result;
}
