/* linux.seccomp compiled with libseccomp, in the parent, before the fork.
 *
 *   seccomp_compile(default_action, archs, rules) -> bytes
 *
 * default_action and each rule's action are libseccomp action values
 * (SCMP_ACT_*, computed by servin.runtime._seccomp); archs are libseccomp
 * architecture names; a rule is (syscall_name, action, ((index, op, a, b), ...)).
 * The result is the classic-BPF program (struct sock_filter[]) that the
 * child hands to seccomp(SECCOMP_SET_MODE_FILTER) — no library call in the
 * child.  Syscall names libseccomp does not know are skipped, as runc does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include "srv.h"

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, PyObject *conds)
{
    Py_ssize_t n = PyTuple_GET_SIZE(conds);
    struct scmp_arg_cmp cmp[6];
    if (n > 6)
        n = 6;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned int index, op;
        unsigned long long a, b;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(conds, i), "IIKK", &index, &op, &a, &b))
            return -1000;
        cmp[i].arg = index;
        cmp[i].op = (enum scmp_compare)op;
        cmp[i].datum_a = a;
        cmp[i].datum_b = b;
    }
    return seccomp_rule_add_array(ctx, action, nr, (unsigned int)n, n ? cmp : NULL);
}

PyObject *srv_py_seccomp_compile(PyObject *self, PyObject *args)
{
    unsigned int defact;
    PyObject *archs, *rules;
    if (!PyArg_ParseTuple(args, "IO!O!", &defact, &PyTuple_Type, &archs, &PyTuple_Type, &rules))
        return NULL;
    scmp_filter_ctx ctx = seccomp_init(defact);
    if (!ctx)
        return PyErr_Format(PyExc_ValueError, "seccomp: invalid defaultAction");
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    PyObject *result = NULL;
    int mfd = -1;

    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(archs); i++) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(archs, i));
        if (!name)
            goto out;
        uint32_t arch = seccomp_arch_resolve_name(name);
        if (arch == 0) {
            PyErr_Format(PyExc_ValueError, "seccomp: unknown architecture %s", name);
            goto out;
        }
        int r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST) {
            PyErr_Format(PyExc_ValueError, "seccomp: architecture %s: %s", name, strerror(-r));
            goto out;
        }
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(rules); i++) {
        const char *name;
        unsigned int action;
        PyObject *conds;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(rules, i), "sIO!", &name, &action, &PyTuple_Type, &conds))
            goto out;
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
            continue;
        int r = add_rule(ctx, action, nr, conds);
        if (r == -1000)
            goto out;
        /* -EACCES: the action is the default one (nothing to add) */
        if (r < 0 && r != -EACCES) {
            PyErr_Format(PyExc_ValueError, "seccomp: rule for %s: %s", name, strerror(-r));
            goto out;
        }
    }
    mfd = memfd_create("servin-seccomp", MFD_CLOEXEC);
    if (mfd < 0 || seccomp_export_bpf(ctx, mfd) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto out;
    }
    off_t len = lseek(mfd, 0, SEEK_END);
    result = PyBytes_FromStringAndSize(NULL, len);
    if (!result)
        goto out;
    if (pread(mfd, PyBytes_AS_STRING(result), (size_t)len, 0) != len) {
        Py_CLEAR(result);
        PyErr_SetFromErrno(PyExc_OSError);
    }
out:
    if (mfd >= 0)
        close(mfd);
    seccomp_release(ctx);
    return result;
}
