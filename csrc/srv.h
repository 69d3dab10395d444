/* servin._native — shared declarations.
 *
 * Error convention (STYLE.md item 6): every fallible function returns < 0
 * and fills a struct srv_err; the child side reports (stage, errno,
 * message) to the parent over the sync socket and _exit()s.
 *
 * Everything the child uses is in struct srv_plan, built by the extension
 * from a Python dict and sent (wire.c) to servin-init, a static executable
 * that the runtime runs from a sealed memfd (spawn.c) and that clones the
 * init.  From clone() to execve() the init only makes system calls and
 * touches memory it already has.
 */
#ifndef SRV_H
#define SRV_H

#include <stdint.h>
#include <sys/types.h>

/* The extension (glibc) and servin-init (musl or glibc) must agree on the
 * plan's layout (wire.c also checks the struct sizes at run time). */
_Static_assert(sizeof(dev_t) == 8 && sizeof(mode_t) == 4 && sizeof(uid_t) == 4 &&
               sizeof(gid_t) == 4 && sizeof(pid_t) == 4 && sizeof(long) == 8,
               "struct srv_plan's layout differs between libcs on this platform");

/* Messages on the sync socket (a SOCK_SEQPACKET socketpair). */
enum srv_msg_type {
    SRV_MSG_GO = 1,         /* parent -> child: cgroups/id maps done; payload: hook states */
    SRV_MSG_HOOKS = 2,      /* child -> parent: run prestart + createRuntime hooks now */
    SRV_MSG_HOOKS_DONE = 3, /* parent -> child */
    SRV_MSG_READY = 4,      /* child -> parent: waiting for start */
    SRV_MSG_START = 5,      /* parent -> child: start now (used when there is no fifo) */
    SRV_MSG_ERROR = 6,      /* child -> parent: stage, errno, message */
    SRV_MSG_PTY = 7,        /* child -> parent: pty master attached (SCM_RIGHTS) */
    SRV_MSG_PID = 8,        /* intermediate -> parent: pid of the init, in errno field */
    SRV_MSG_SECCOMP = 9,    /* child -> parent: seccomp notify fd attached */
    SRV_MSG_SECCOMP_DONE = 10,
    SRV_MSG_SETUP_DONE = 11, /* parent -> child: cgroups joined, net devices moved in */
};

struct srv_msg_hdr {
    uint32_t type;
    int32_t err;      /* errno for ERROR, pid for PID */
    uint32_t len;     /* payload bytes that follow in the same datagram */
};

#define SRV_MSG_MAX 65536

struct srv_ns {
    int fd;
    int type;         /* CLONE_NEW* */
};

enum srv_mount_kind {
    SRV_MNT_FS = 0,    /* a filesystem: mount(source, target, type, flags, data) */
    SRV_MNT_BIND = 1,  /* bind mount of a host path (source) */
    SRV_MNT_MKDIR = 2, /* only create the directory target */
    SRV_MNT_SYMLINK = 3, /* create symlink target -> source (if absent) */
};

struct srv_mount {
    char *source;
    char *target;     /* absolute path inside the container */
    char *fstype;
    char *data;
    unsigned long flags;      /* MS_* for the mount call, without propagation */
    unsigned long remount;    /* MS_* to apply by a bind remount afterwards (0 = none) */
    unsigned long *props;     /* MS_SHARED/SLAVE/PRIVATE/UNBINDABLE [|MS_REC] in order */
    int nprops;
    int kind;
    int file_target;  /* create the target as a file, not a directory */
    uint64_t attr_set, attr_clr; /* mount_setattr MOUNT_ATTR_* applied recursively */
    int userns_fd;    /* idmapped mount: user namespace fd, or -1 */
    int copyup;       /* tmpcopyup: SRV_COPYUP_* bits, 0 = none */
};

/* tmpcopyup (a tmpfs mount): copy the covered directory's contents in;
 * the tmpfs root takes the covered directory's mode/uid/gid unless the
 * mount's options set them (mode=, uid=, gid=). */
enum srv_copyup {
    SRV_COPYUP_CONTENTS = 1,
    SRV_COPYUP_MODE = 2,
    SRV_COPYUP_UID = 4,
    SRV_COPYUP_GID = 8,
};

struct srv_device {
    char *path;       /* absolute inside the container */
    mode_t mode;      /* S_IFCHR/S_IFBLK/S_IFIFO | permission bits */
    dev_t dev;
    uid_t uid;
    gid_t gid;
    char *host_path;  /* for the bind fallback: the same node on the host, or NULL */
};

struct srv_hook {
    char *path;
    char **argv;
    char **envp;
    int timeout;      /* seconds, 0 = none */
};

struct srv_rlimit {
    int resource;
    uint64_t soft, hard;
};

struct srv_plan {
    /* namespaces */
    int clone_flags;          /* CLONE_NEW* created by clone() for the init */
    struct srv_ns *pre_join;  /* joined by the intermediate before the init is cloned */
    int npre_join;
    struct srv_ns *join;      /* joined by the init itself */
    int njoin;
    int new_time;             /* unshare(CLONE_NEWTIME) in the intermediate */
    char *time_offsets;       /* written to /proc/self/timens_offsets */
    int unshare_flags;        /* unshared by the init once in its cgroups (cgroup ns) */
    int setup_sync;           /* wait for SETUP_DONE before the cgroup ns and hooks: the
                                 parent joins the cgroups while the init mounts */

    /* rootfs and mounts */
    int mount_ns;             /* a mount namespace is in effect: mounts and pivot_root */
    char *rootfs;             /* absolute host path */
    unsigned long root_propagation; /* applied to "/" first (0 = MS_SLAVE|MS_REC) */
    unsigned long rootfs_propagation; /* applied to the new "/" after pivot (0 = none) */
    char *parent_mount;       /* made private before pivot_root when it is shared */
    int readonly_root;
    int no_pivot;
    struct srv_mount *mounts;
    int nmounts;
    struct srv_device *devices;
    int ndevices;
    char **masked;
    int nmasked;
    char **readonly;
    int nreadonly;
    char *cwd;

    /* console */
    int console_fd;           /* connected --console-socket, or -1 */
    int terminal;             /* allocate a pty */
    unsigned short rows, cols;

    /* create/start */
    int fifo_fd;              /* exec fifo opened O_RDWR, or -1: wait for SRV_MSG_START */
    int hook_sync;            /* parent has prestart/createRuntime hooks */
    struct srv_hook *cc_hooks;   /* createContainer */
    int ncc_hooks;
    struct srv_hook *sc_hooks;   /* startContainer */
    int nsc_hooks;
    int preserve_fds;
    int exec_mode;            /* exec into a running container: every namespace is
                                 joined (mount_ns = 0, rootfs "/"), no cwd creation,
                                 no wait for start after READY */

    /* the process */
    char *hostname;
    char *domainname;
    char **sysctl_keys;       /* paths under /proc/sys */
    char **sysctl_values;
    int nsysctl;
    char *oom_score_adj;
    char *keyring;            /* session keyring name, or NULL for --no-new-keyring */
    struct srv_rlimit *rlimits;
    int nrlimits;
    int set_user;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    int set_groups;           /* call setgroups() (not allowed with setgroups=deny) */
    int umask;
    int have_caps;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int cap_last;
    int no_new_privs;
    long personality;         /* -1 = leave */
    int ioprio;               /* -1 = leave */
    int mempolicy_mode;       /* -1 = leave; MPOL_* | MPOL_F_* flags */
    unsigned long mempolicy_nodes[16]; /* node mask, 1024 nodes */
    unsigned long mempolicy_maxnode;
    int sched_policy;         /* -1 = leave */
    int sched_priority;
    int sched_flags;
    uint64_t sched_runtime, sched_deadline, sched_period;
    int sched_nice;
    int set_nice;
    /* seccomp: a compiled classic BPF program (struct sock_filter[]) */
    unsigned char *seccomp_prog;
    int seccomp_len;          /* bytes */
    unsigned int seccomp_flags;
    int seccomp_listener;     /* the filter has a NOTIFY action: hand the fd to the parent */
    int userns_new;           /* the init got a new user namespace: wait for id maps */
    int dumpable_until_go;    /* rootless: stay dumpable until GO, so that the unprivileged
                                 parent (and newuidmap) may open our /proc files */
    char **argv;
    char **envp;
    char *path_env;           /* PATH value for the executable lookup */

    /* parent-side */
    int sync_fd;              /* child's end */
};

struct srv_err {
    const char *stage;
    int err;
    char msg[512];
};

/* spawn.c (the extension): run servin-init; returns the init's pid and the
 * parent's end of the sync socket in *sync_parent */
int srv_spawn(struct srv_plan *p, const char *init_path, int *sync_parent, struct srv_err *e);

/* wire.c: the plan as bytes, and back (in place, no allocation) */
int srv_plan_pack(const struct srv_plan *p, char **out, size_t *len);
struct srv_plan *srv_plan_unpack(char *buf, size_t len);

/* child.c (servin-init) */
void srv_intermediate(struct srv_plan *p) __attribute__((noreturn));

/* mounts.c */
int srv_open_in_root(int rootfd, const char *path, int flags);
int srv_mkdir_all(int rootfd, const char *path, mode_t mode);
int srv_make_target(int rootfd, const char *path, int file);
int srv_do_mount(int rootfd, const struct srv_mount *m, struct srv_err *e);
int srv_make_device(int rootfd, const struct srv_device *d, struct srv_err *e);

/* util.c: async-signal-safe formatting */
void srv_fmt(struct srv_err *e, const char *stage, int err, const char *a, const char *b, const char *c);
size_t srv_strlcpy(char *dst, const char *src, size_t n);
void srv_itoa(long v, char *buf);
int srv_send_msg(int fd, uint32_t type, int32_t err, const void *data, size_t len, int passfd);
ssize_t srv_recv_msg(int fd, struct srv_msg_hdr *h, void *data, size_t cap, int *passfd);

#endif
