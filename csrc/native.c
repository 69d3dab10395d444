/* servin._native: the Python face of the C side.
 *
 *   spawn(plan: dict) -> (pid, sync_fd)   have servin-init clone the init
 *   send(fd, type, payload=b"")           a message on the sync socket
 *   recv(fd) -> (type, err, payload, fd)  type 0 means EOF
 *
 * The plan is a dict of plain values built by servin.runtime._plan; it is
 * converted to struct srv_plan here, in the parent, before any fork.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "srv.h"

/* ---- an arena for the plan's memory -------------------------------- */

struct arena {
    void **ptrs;
    size_t n, cap;
};

static void *arena_alloc(struct arena *a, size_t size)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        void **np = realloc(a->ptrs, nc * sizeof(void *));
        if (!np)
            return NULL;
        a->ptrs = np;
        a->cap = nc;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        a->ptrs[a->n++] = p;
    return p;
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
}

/* ---- dict accessors -------------------------------------------------- */

static int bad(const char *key, const char *want)
{
    PyErr_Format(PyExc_TypeError, "plan[%s]: expected %s", key, want);
    return -1;
}

static int get_long(PyObject *d, const char *key, long long def, long long *out)
{
    PyObject *v = PyDict_GetItemString(d, key);
    if (!v || v == Py_None) {
        *out = def;
        return 0;
    }
    if (PyBool_Check(v)) {
        *out = v == Py_True;
        return 0;
    }
    if (!PyLong_Check(v))
        return bad(key, "int");
    *out = PyLong_AsLongLong(v);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (PyErr_Occurred())
            return -1;
        *out = (long long)u;
    }
    return 0;
}

static char *dup_bytes(struct arena *a, PyObject *v, const char *key)
{
    char *s;
    Py_ssize_t n;
    if (PyUnicode_Check(v)) {
        s = (char *)PyUnicode_AsUTF8AndSize(v, &n);
        if (!s)
            return NULL;
    } else if (PyBytes_Check(v)) {
        if (PyBytes_AsStringAndSize(v, &s, &n) < 0)
            return NULL;
    } else {
        bad(key, "bytes or str");
        return NULL;
    }
    if ((Py_ssize_t)strlen(s) != n) {
        PyErr_Format(PyExc_ValueError, "plan[%s]: embedded NUL byte", key);
        return NULL;
    }
    char *r = arena_alloc(a, (size_t)n + 1);
    if (!r) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(r, s, (size_t)n);
    return r;
}

/* NULL with no error set when absent or None */
static char *get_str(struct arena *a, PyObject *d, const char *key)
{
    PyObject *v = PyDict_GetItemString(d, key);
    if (!v || v == Py_None)
        return NULL;
    return dup_bytes(a, v, key);
}

static char **str_array(struct arena *a, PyObject *seq, const char *key, int *count)
{
    PyObject *fast = PySequence_Fast(seq, key);
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    char **arr = arena_alloc(a, sizeof(char *) * ((size_t)n + 1));
    if (!arr) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        arr[i] = dup_bytes(a, PySequence_Fast_GET_ITEM(fast, i), key);
        if (!arr[i]) {
            Py_DECREF(fast);
            return NULL;
        }
    }
    Py_DECREF(fast);
    if (count)
        *count = (int)n;
    return arr;
}

static char **get_str_array(struct arena *a, PyObject *d, const char *key, int *count)
{
    PyObject *v = PyDict_GetItemString(d, key);
    if (count)
        *count = 0;
    if (!v || v == Py_None) {
        char **arr = arena_alloc(a, sizeof(char *));
        if (!arr)
            PyErr_NoMemory();
        return arr;
    }
    return str_array(a, v, key, count);
}

/* A list of tuples: returns a new reference to a fast sequence, or NULL
 * (with *n = 0 and no error) when absent. */
static PyObject *get_list(PyObject *d, const char *key, Py_ssize_t *n)
{
    PyObject *v = PyDict_GetItemString(d, key);
    *n = 0;
    if (!v || v == Py_None)
        return NULL;
    PyObject *fast = PySequence_Fast(v, key);
    if (fast)
        *n = PySequence_Fast_GET_SIZE(fast);
    return fast;
}

static int tuple_long(PyObject *t, Py_ssize_t i, const char *key, long long *out)
{
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) <= i)
        return bad(key, "a tuple");
    PyObject *v = PyTuple_GET_ITEM(t, i);
    if (v == Py_None) {
        *out = -1;
        return 0;
    }
    if (!PyLong_Check(v))
        return bad(key, "int in tuple");
    *out = PyLong_AsLongLong(v);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        *out = (long long)PyLong_AsUnsignedLongLong(v);
        if (PyErr_Occurred())
            return -1;
    }
    return 0;
}

static char *tuple_str(struct arena *a, PyObject *t, Py_ssize_t i, const char *key)
{
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) <= i) {
        bad(key, "a tuple");
        return NULL;
    }
    PyObject *v = PyTuple_GET_ITEM(t, i);
    if (v == Py_None)
        return NULL;
    return dup_bytes(a, v, key);
}

#define LONG(key, def, dst)                      \
    do {                                         \
        long long _v;                            \
        if (get_long(d, key, def, &_v) < 0)      \
            return -1;                           \
        dst = _v;                                \
    } while (0)

static int parse_ns(struct arena *a, PyObject *d, const char *key, struct srv_ns **out, int *count)
{
    Py_ssize_t n;
    PyObject *l = get_list(d, key, &n);
    if (!l && PyErr_Occurred())
        return -1;
    *out = arena_alloc(a, sizeof(struct srv_ns) * ((size_t)n + 1));
    *count = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long fd, type;
        PyObject *t = PySequence_Fast_GET_ITEM(l, i);
        if (tuple_long(t, 0, key, &fd) < 0 || tuple_long(t, 1, key, &type) < 0) {
            Py_DECREF(l);
            return -1;
        }
        (*out)[i].fd = (int)fd;
        (*out)[i].type = (int)type;
    }
    Py_XDECREF(l);
    return 0;
}

static int parse_hooks(struct arena *a, PyObject *d, const char *key, struct srv_hook **out, int *count)
{
    Py_ssize_t n;
    PyObject *l = get_list(d, key, &n);
    if (!l && PyErr_Occurred())
        return -1;
    *out = arena_alloc(a, sizeof(struct srv_hook) * ((size_t)n + 1));
    *count = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(l, i);
        long long timeout;
        struct srv_hook *h = &(*out)[i];
        if (!(h->path = tuple_str(a, t, 0, key)) ||
            !(h->argv = str_array(a, PyTuple_GET_ITEM(t, 1), key, NULL)) ||
            !(h->envp = str_array(a, PyTuple_GET_ITEM(t, 2), key, NULL)) ||
            tuple_long(t, 3, key, &timeout) < 0) {
            Py_DECREF(l);
            return -1;
        }
        h->timeout = timeout < 0 ? 0 : (int)timeout;
    }
    Py_XDECREF(l);
    return 0;
}

/* mounts: (kind, source, target, fstype, flags, data, remount, props, file_target,
 *          attr_set, attr_clr, userns_fd, copyup) */
static int parse_mounts(struct arena *a, PyObject *d, struct srv_plan *p)
{
    Py_ssize_t n;
    PyObject *l = get_list(d, "mounts", &n);
    if (!l && PyErr_Occurred())
        return -1;
    p->mounts = arena_alloc(a, sizeof(struct srv_mount) * ((size_t)n + 1));
    p->nmounts = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(l, i);
        struct srv_mount *m = &p->mounts[i];
        long long kind, flags, remount, file, aset, aclr, ufd, copyup;
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 13) {
            Py_DECREF(l);
            return bad("mounts", "13-tuples");
        }
        if (tuple_long(t, 0, "mounts", &kind) < 0 || tuple_long(t, 4, "mounts", &flags) < 0 ||
            tuple_long(t, 6, "mounts", &remount) < 0 || tuple_long(t, 8, "mounts", &file) < 0 ||
            tuple_long(t, 9, "mounts", &aset) < 0 || tuple_long(t, 10, "mounts", &aclr) < 0 ||
            tuple_long(t, 11, "mounts", &ufd) < 0 || tuple_long(t, 12, "mounts", &copyup) < 0)
            goto fail;
        m->kind = (int)kind;
        m->flags = (unsigned long)flags;
        m->remount = (unsigned long)remount;
        m->file_target = (int)file;
        m->attr_set = (uint64_t)aset;
        m->attr_clr = (uint64_t)aclr;
        m->userns_fd = (int)ufd;
        m->copyup = (int)copyup;
        m->source = tuple_str(a, t, 1, "mounts");
        if (PyErr_Occurred())
            goto fail;
        if (!(m->target = tuple_str(a, t, 2, "mounts"))) {
            if (!PyErr_Occurred())
                bad("mounts", "a target");
            goto fail;
        }
        m->fstype = tuple_str(a, t, 3, "mounts");
        if (PyErr_Occurred())
            goto fail;
        m->data = tuple_str(a, t, 5, "mounts");
        if (PyErr_Occurred())
            goto fail;
        PyObject *props = PySequence_Fast(PyTuple_GET_ITEM(t, 7), "mount propagation");
        if (!props)
            goto fail;
        m->nprops = (int)PySequence_Fast_GET_SIZE(props);
        m->props = arena_alloc(a, sizeof(unsigned long) * ((size_t)m->nprops + 1));
        for (int j = 0; j < m->nprops; j++)
            m->props[j] = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(props, j));
        Py_DECREF(props);
        if (PyErr_Occurred())
            goto fail;
    }
    Py_XDECREF(l);
    return 0;
fail:
    Py_DECREF(l);
    return -1;
}

/* devices: (path, mode, major, minor, uid, gid, host_path) */
static int parse_devices(struct arena *a, PyObject *d, struct srv_plan *p)
{
    Py_ssize_t n;
    PyObject *l = get_list(d, "devices", &n);
    if (!l && PyErr_Occurred())
        return -1;
    p->devices = arena_alloc(a, sizeof(struct srv_device) * ((size_t)n + 1));
    p->ndevices = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(l, i);
        struct srv_device *dv = &p->devices[i];
        long long mode, maj, min, uid, gid;
        if (!(dv->path = tuple_str(a, t, 0, "devices")) || tuple_long(t, 1, "devices", &mode) < 0 ||
            tuple_long(t, 2, "devices", &maj) < 0 || tuple_long(t, 3, "devices", &min) < 0 ||
            tuple_long(t, 4, "devices", &uid) < 0 || tuple_long(t, 5, "devices", &gid) < 0) {
            Py_DECREF(l);
            return -1;
        }
        dv->host_path = tuple_str(a, t, 6, "devices");
        if (PyErr_Occurred()) {
            Py_DECREF(l);
            return -1;
        }
        dv->mode = (mode_t)mode;
        dv->dev = makedev((unsigned)maj, (unsigned)min);
        dv->uid = (uid_t)uid;
        dv->gid = (gid_t)gid;
    }
    Py_XDECREF(l);
    return 0;
}

static int parse_plan(struct arena *a, PyObject *d, struct srv_plan *p)
{
    Py_ssize_t n;
    PyObject *l;

    LONG("clone_flags", 0, p->clone_flags);
    if (parse_ns(a, d, "pre_join", &p->pre_join, &p->npre_join) < 0 ||
        parse_ns(a, d, "join", &p->join, &p->njoin) < 0)
        return -1;
    LONG("new_time", 0, p->new_time);
    p->time_offsets = get_str(a, d, "time_offsets");
    LONG("unshare_flags", 0, p->unshare_flags);
    LONG("setup_sync", 0, p->setup_sync);
    LONG("mount_ns", 0, p->mount_ns);
    if (!(p->rootfs = get_str(a, d, "rootfs"))) {
        if (!PyErr_Occurred())
            bad("rootfs", "a path");
        return -1;
    }
    LONG("root_propagation", 0, p->root_propagation);
    LONG("rootfs_propagation", 0, p->rootfs_propagation);
    p->parent_mount = get_str(a, d, "parent_mount");
    LONG("readonly_root", 0, p->readonly_root);
    LONG("no_pivot", 0, p->no_pivot);
    if (parse_mounts(a, d, p) < 0 || parse_devices(a, d, p) < 0)
        return -1;
    if (!(p->masked = get_str_array(a, d, "masked", &p->nmasked)) ||
        !(p->readonly = get_str_array(a, d, "readonly", &p->nreadonly)))
        return -1;
    p->cwd = get_str(a, d, "cwd");
    LONG("console_fd", -1, p->console_fd);
    LONG("terminal", 0, p->terminal);
    LONG("rows", 0, p->rows);
    LONG("cols", 0, p->cols);
    LONG("fifo_fd", -1, p->fifo_fd);
    LONG("hook_sync", 0, p->hook_sync);
    if (parse_hooks(a, d, "create_container_hooks", &p->cc_hooks, &p->ncc_hooks) < 0 ||
        parse_hooks(a, d, "start_container_hooks", &p->sc_hooks, &p->nsc_hooks) < 0)
        return -1;
    LONG("preserve_fds", 0, p->preserve_fds);
    LONG("exec_mode", 0, p->exec_mode);
    p->hostname = get_str(a, d, "hostname");
    p->domainname = get_str(a, d, "domainname");
    l = get_list(d, "sysctl", &n);
    if (!l && PyErr_Occurred())
        return -1;
    p->sysctl_keys = arena_alloc(a, sizeof(char *) * ((size_t)n + 1));
    p->sysctl_values = arena_alloc(a, sizeof(char *) * ((size_t)n + 1));
    p->nsysctl = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(l, i);
        if (!(p->sysctl_keys[i] = tuple_str(a, t, 0, "sysctl")) ||
            !(p->sysctl_values[i] = tuple_str(a, t, 1, "sysctl"))) {
            Py_DECREF(l);
            return -1;
        }
    }
    Py_XDECREF(l);
    p->oom_score_adj = get_str(a, d, "oom_score_adj");
    p->keyring = get_str(a, d, "keyring");
    l = get_list(d, "rlimits", &n);
    if (!l && PyErr_Occurred())
        return -1;
    p->rlimits = arena_alloc(a, sizeof(struct srv_rlimit) * ((size_t)n + 1));
    p->nrlimits = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(l, i);
        long long res, soft, hard;
        if (tuple_long(t, 0, "rlimits", &res) < 0 || tuple_long(t, 1, "rlimits", &soft) < 0 ||
            tuple_long(t, 2, "rlimits", &hard) < 0) {
            Py_DECREF(l);
            return -1;
        }
        p->rlimits[i].resource = (int)res;
        p->rlimits[i].soft = (uint64_t)soft;
        p->rlimits[i].hard = (uint64_t)hard;
    }
    Py_XDECREF(l);
    LONG("set_user", 0, p->set_user);
    LONG("uid", 0, p->uid);
    LONG("gid", 0, p->gid);
    LONG("set_groups", 0, p->set_groups);
    l = get_list(d, "groups", &n);
    if (!l && PyErr_Occurred())
        return -1;
    p->groups = arena_alloc(a, sizeof(gid_t) * ((size_t)n + 1));
    p->ngroups = (int)n;
    for (Py_ssize_t i = 0; i < n; i++)
        p->groups[i] = (gid_t)PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(l, i));
    Py_XDECREF(l);
    if (PyErr_Occurred())
        return -1;
    LONG("umask", 022, p->umask);
    LONG("have_caps", 0, p->have_caps);
    LONG("cap_bounding", 0, p->cap_bounding);
    LONG("cap_effective", 0, p->cap_effective);
    LONG("cap_permitted", 0, p->cap_permitted);
    LONG("cap_inheritable", 0, p->cap_inheritable);
    LONG("cap_ambient", 0, p->cap_ambient);
    LONG("cap_last", 40, p->cap_last);
    LONG("no_new_privs", 0, p->no_new_privs);
    LONG("personality", -1, p->personality);
    LONG("ioprio", -1, p->ioprio);
    LONG("mempolicy_mode", -1, p->mempolicy_mode);
    {
        PyObject *nodes = PyDict_GetItemString(d, "mempolicy_nodes");
        if (nodes && nodes != Py_None) {
            /* an int bitmask of NUMA nodes (< 1024) */
            if (_PyLong_AsByteArray((PyLongObject *)nodes, (unsigned char *)p->mempolicy_nodes,
                                    sizeof(p->mempolicy_nodes), 1, 0) < 0)
                return -1;
            p->mempolicy_maxnode = sizeof(p->mempolicy_nodes) * 8;
        }
    }
    LONG("sched_policy", -1, p->sched_policy);
    LONG("sched_priority", 0, p->sched_priority);
    LONG("sched_flags", 0, p->sched_flags);
    LONG("sched_nice", 0, p->sched_nice);
    LONG("sched_runtime", 0, p->sched_runtime);
    LONG("sched_deadline", 0, p->sched_deadline);
    LONG("sched_period", 0, p->sched_period);
    {
        PyObject *v = PyDict_GetItemString(d, "seccomp_prog");
        if (v && v != Py_None) {
            char *s;
            Py_ssize_t len;
            if (PyBytes_AsStringAndSize(v, &s, &len) < 0)
                return -1;
            p->seccomp_prog = arena_alloc(a, (size_t)len);
            memcpy(p->seccomp_prog, s, (size_t)len);
            p->seccomp_len = (int)len;
        }
    }
    LONG("seccomp_flags", 0, p->seccomp_flags);
    LONG("seccomp_listener", 0, p->seccomp_listener);
    LONG("userns_new", 0, p->userns_new);
    LONG("dumpable_until_go", 0, p->dumpable_until_go);
    int argc = 0, envc = 0;
    if (!(p->argv = get_str_array(a, d, "args", &argc)) || !(p->envp = get_str_array(a, d, "env", &envc)))
        return -1;
    if (argc == 0) {
        PyErr_SetString(PyExc_ValueError, "plan[args]: empty");
        return -1;
    }
    p->path_env = get_str(a, d, "path_env");
    return PyErr_Occurred() ? -1 : 0;
}

/* ---- module functions ------------------------------------------------ */

static PyObject *ChildError;

static PyObject *raise_err(struct srv_err *e)
{
    PyObject *args = Py_BuildValue("(sis)", e->stage ? e->stage : "spawn", e->err, e->msg);
    if (args) {
        PyErr_SetObject(ChildError, args);
        Py_DECREF(args);
    }
    return NULL;
}

/* servin-init is installed next to this extension module. */
static const char *init_path(void)
{
    static char path[4096];
    if (path[0])
        return path;
    Dl_info info;
    const char *slash;
    if (!dladdr((void *)init_path, &info) || !info.dli_fname || !(slash = strrchr(info.dli_fname, '/')) ||
        (size_t)(slash - info.dli_fname) + sizeof("/servin-init") > sizeof(path)) {
        PyErr_SetString(PyExc_RuntimeError, "cannot locate servin-init next to servin._native");
        return NULL;
    }
    memcpy(path, info.dli_fname, (size_t)(slash - info.dli_fname));
    strcpy(path + (slash - info.dli_fname), "/servin-init");
    return path;
}

static PyObject *py_spawn(PyObject *self, PyObject *arg)
{
    if (!PyDict_Check(arg))
        return PyErr_Format(PyExc_TypeError, "spawn() takes a dict");
    const char *init = init_path();
    if (!init)
        return NULL;
    struct arena a = {0};
    struct srv_plan *p = arena_alloc(&a, sizeof(*p));
    struct srv_err e = {0};
    int sync_parent = -1, pid;
    if (!p) {
        arena_free(&a);
        return PyErr_NoMemory();
    }
    if (parse_plan(&a, arg, p) < 0) {
        arena_free(&a);
        return NULL;
    }
    /* vfork + exec and a wait for servin-init's report: no Python here */
    Py_BEGIN_ALLOW_THREADS
    pid = srv_spawn(p, init, &sync_parent, &e);
    Py_END_ALLOW_THREADS
    arena_free(&a);
    if (pid < 0)
        return raise_err(&e);
    return Py_BuildValue("(ii)", pid, sync_parent);
}

static PyObject *py_send(PyObject *self, PyObject *args)
{
    int fd, type, passfd = -1;
    Py_buffer buf = {0};
    if (!PyArg_ParseTuple(args, "ii|y*i", &fd, &type, &buf, &passfd))
        return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = srv_send_msg(fd, (uint32_t)type, 0, buf.buf, buf.buf ? (size_t)buf.len : 0, passfd);
    Py_END_ALLOW_THREADS
    if (buf.buf)
        PyBuffer_Release(&buf);
    if (r < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *py_recv(PyObject *self, PyObject *args)
{
    int fd;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    struct srv_msg_hdr h;
    char *buf = PyMem_Malloc(SRV_MSG_MAX);
    int passfd = -1;
    ssize_t r;
    if (!buf)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    r = srv_recv_msg(fd, &h, buf, SRV_MSG_MAX, &passfd);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        PyMem_Free(buf);
        if (errno == ECONNRESET)
            return Py_BuildValue("(iiy#i)", 0, 0, "", (Py_ssize_t)0, -1);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *res = Py_BuildValue("(iiy#i)", (int)h.type, (int)h.err, buf, (Py_ssize_t)r, passfd);
    PyMem_Free(buf);
    return res;
}

static PyObject *py_set_subreaper(PyObject *self, PyObject *noargs)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* userns_fd(uid_map, gid_map) -> fd of a new user namespace with those
 * mappings (for idmapped mounts).  A child unshares CLONE_NEWUSER and
 * waits; we write its maps, open its ns/user, and let it exit. */
static PyObject *py_userns_fd(PyObject *self, PyObject *args)
{
    const char *umap, *gmap;
    if (!PyArg_ParseTuple(args, "yy", &umap, &gmap))
        return NULL;
    int go[2], ready[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(go[0]);
        close(go[1]);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyOS_BeforeFork();
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        close(go[1]);
        close(ready[0]);
        char c = unshare(CLONE_NEWUSER) == 0 ? 'k' : 'e';
        (void)!write(ready[1], &c, 1);
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    PyOS_AfterFork_Parent();
    close(ready[1]);
    close(go[0]);
    int fd = -1, err = 0;
    char c = 0;
    if (pid < 0 || read(ready[0], &c, 1) != 1 || c != 'k') {
        err = pid < 0 ? errno : EPERM;
    } else {
        char path[64];
        const char *files[2] = {"uid_map", "gid_map"};
        const char *maps[2] = {umap, gmap};
        for (int i = 0; i < 2 && !err; i++) {
            snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
            int mfd = open(path, O_WRONLY | O_CLOEXEC);
            if (mfd < 0 || write(mfd, maps[i], strlen(maps[i])) < 0)
                err = errno;
            if (mfd >= 0)
                close(mfd);
        }
        if (!err) {
            snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                err = errno;
        }
    }
    close(go[1]);        /* EOF: the child exits */
    close(ready[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (err) {
        if (fd >= 0)
            close(fd);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(fd);
}

static PyObject *py_bind_mount(PyObject *self, PyObject *args)
{
    const char *src, *dst;
    if (!PyArg_ParseTuple(args, "ss", &src, &dst))
        return NULL;
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, dst);
    Py_RETURN_NONE;
}

static PyObject *py_umount(PyObject *self, PyObject *args)
{
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    if (umount2(path, MNT_DETACH) < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    Py_RETURN_NONE;
}

PyObject *srv_py_seccomp_compile(PyObject *self, PyObject *args);   /* seccomp.c */
PyObject *srv_py_device_filter(PyObject *self, PyObject *args);     /* devfilter.c */

static PyMethodDef methods[] = {
    {"bind_mount", py_bind_mount, METH_VARARGS, "bind_mount(src, dst)"},
    {"umount", py_umount, METH_VARARGS, "umount(path): lazy unmount"},
    {"userns_fd", py_userns_fd, METH_VARARGS, "userns_fd(uid_map, gid_map) -> fd of a new user namespace"},
    {"seccomp_compile", srv_py_seccomp_compile, METH_VARARGS,
     "seccomp_compile(default_action, archs, rules) -> BPF program bytes (libseccomp)"},
    {"device_filter", srv_py_device_filter, METH_VARARGS, "device_filter(cgroup_dir, default_allow, exceptions) -> BPF program id"},
    {"set_subreaper", py_set_subreaper, METH_NOARGS, "PR_SET_CHILD_SUBREAPER for this process"},
    {"spawn", py_spawn, METH_O, "spawn(plan) -> (pid, sync_fd): servin-init clones the container init"},
    {"send", py_send, METH_VARARGS, "send(fd, type, payload=b'', passfd=-1)"},
    {"recv", py_recv, METH_VARARGS, "recv(fd) -> (type, err, payload, passfd); type 0 = EOF"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef srv_module = {PyModuleDef_HEAD_INIT, "servin._native",
                                        "The C side of servin: the container init and syscall helpers.",
                                        -1, methods};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&srv_module);
    if (!m)
        return NULL;
    ChildError = PyErr_NewException("servin._native.ChildError", PyExc_Exception, NULL);
    if (!ChildError || PyModule_AddObject(m, "ChildError", ChildError) < 0)
        return NULL;
    Py_INCREF(ChildError);
#define C(name, v) PyModule_AddIntConstant(m, name, v)
    C("MSG_GO", SRV_MSG_GO);
    C("MSG_HOOKS", SRV_MSG_HOOKS);
    C("MSG_HOOKS_DONE", SRV_MSG_HOOKS_DONE);
    C("MSG_READY", SRV_MSG_READY);
    C("MSG_START", SRV_MSG_START);
    C("MSG_ERROR", SRV_MSG_ERROR);
    C("MSG_PTY", SRV_MSG_PTY);
    C("MSG_SECCOMP", SRV_MSG_SECCOMP);
    C("MSG_SECCOMP_DONE", SRV_MSG_SECCOMP_DONE);
    C("MSG_SETUP_DONE", SRV_MSG_SETUP_DONE);
    C("KIND_FS", SRV_MNT_FS);
    C("KIND_BIND", SRV_MNT_BIND);
    C("KIND_MKDIR", SRV_MNT_MKDIR);
    C("KIND_SYMLINK", SRV_MNT_SYMLINK);
#undef C
    return m;
}
