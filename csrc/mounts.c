/* Mounts and device nodes inside the rootfs, resolved without ever leaving it.
 *
 * Every path inside the container is opened with openat2(RESOLVE_IN_ROOT)
 * relative to an O_PATH fd of the rootfs, so a symlink or ".." in the
 * rootfs (even one swapped in while we run: CVE-2021-30465) resolves as it
 * would inside the container and can never reach the host.  Mounts then
 * target the opened fd through /proc/self/fd/N, never a path string.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "srv.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

int srv_open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*path == '/')
        path++;
    if (*path == '\0')
        path = ".";
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN);
    return fd;
}

/* Split path into parent (written to buf) and last component (returned). */
static const char *split_last(const char *path, char *buf, size_t cap)
{
    size_t n = srv_strlcpy(buf, path, cap);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '/')
            slash = buf + i;
    if (!slash) {
        /* "name" -> parent "" (the root) */
        memmove(buf + 1, buf, n + 1);
        buf[0] = '\0';
        return buf + 1;
    }
    *slash = '\0';
    return slash + 1;
}

static int mkdir_all(int rootfd, const char *path, mode_t mode, int depth);

/* mkdir -p inside the root; returns an O_PATH fd of the directory.  A
 * dangling symlink on the way is followed as the container would see it
 * (an absolute target is relative to the rootfs) and its target created. */
int srv_mkdir_all(int rootfd, const char *path, mode_t mode)
{
    return mkdir_all(rootfd, path, mode, 0);
}

static int mkdir_all(int rootfd, const char *path, mode_t mode, int depth)
{
    char buf[4096 + 2];
    if (depth > 40) {
        errno = ELOOP;
        return -1;
    }
    int fd = srv_open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    const char *last = split_last(path, buf, sizeof(buf) - 1);
    if (last[0] == '\0' || (last[0] == '.' && (last[1] == '\0' || (last[1] == '.' && last[2] == '\0')))) {
        errno = ENOENT;
        return -1;
    }
    int parent = mkdir_all(rootfd, buf, mode, depth + 1);
    if (parent < 0)
        return -1;
    if (mkdirat(parent, last, mode) < 0 && errno != EEXIST) {
        int saved = errno;
        close(parent);
        errno = saved;
        return -1;
    }
    fd = srv_open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
        /* last exists but does not resolve: a dangling symlink */
        char target[4096], next[4096 * 2 + 2];
        ssize_t n = readlinkat(parent, last, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            size_t k = 0;
            if (target[0] != '/') {
                k = srv_strlcpy(next, buf, sizeof(next));
                k += srv_strlcpy(next + k, "/", sizeof(next) - k);
            }
            srv_strlcpy(next + k, target, sizeof(next) - k);
            int t = mkdir_all(rootfd, next, mode, depth + 1);
            if (t >= 0) {
                close(t);
                fd = srv_open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
            }
        } else {
            errno = ENOENT;
        }
    }
    int saved = errno;
    close(parent);
    errno = saved;
    return fd;
}

/* Create (if needed) and open a mount target: a directory or a file. */
int srv_make_target(int rootfd, const char *path, int file)
{
    if (!file)
        return srv_mkdir_all(rootfd, path, 0755);
    int fd = srv_open_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char buf[4096 + 2];
    const char *last = split_last(path, buf, sizeof(buf) - 1);
    int parent = srv_mkdir_all(rootfd, buf, 0755);
    if (parent < 0)
        return -1;
    if (mknodat(parent, last, S_IFREG | 0644, 0) < 0 && errno != EEXIST) {
        int saved = errno;
        close(parent);
        errno = saved;
        return -1;
    }
    close(parent);
    return srv_open_in_root(rootfd, path, O_PATH);
}

static void fd_path(int fd, char *buf)
{
    char num[24];
    size_t n = srv_strlcpy(buf, "/proc/self/fd/", 64);
    srv_itoa(fd, num);
    srv_strlcpy(buf + n, num, 64 - n);
}

/* Flags a bind remount must keep: the kernel refuses to clear flags that
 * are locked on the source mount (e.g. nosuid inherited in a user ns). */
static unsigned long locked_flags(const char *path)
{
    struct statvfs st;
    unsigned long f = 0;
    if (statvfs(path, &st) < 0)
        return 0;
    if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) f |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flag & ST_RDONLY) f |= MS_RDONLY;
    if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

/* -- tmpcopyup: the covered directory's tree copied into the new tmpfs --
 *
 * Both sides are walked by fd only: every entry is opened relative to its
 * directory's fd with O_NOFOLLOW, so a symlink in the rootfs is copied as
 * a symlink and never followed (in or out of the rootfs).  Regular files,
 * directories, symlinks and special files (mknod) are copied with their
 * mode, owner and atime/mtime; an owner the user namespace cannot map is
 * left as is.  Hard links become separate files; xattrs are not copied.
 * The recursion keeps a small frame (the getdents buffer) per level. */

#define COPYUP_MAX_DEPTH 256

struct dirent64_srv {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct copyup {
    const char *target;     /* for messages */
    struct srv_err *e;
};

static int copyup_fail(struct copyup *c, const char *what, const char *name)
{
    srv_fmt(c->e, "mounts", errno, "tmpcopyup into ", c->target, ": ");
    size_t n = strlen(c->e->msg);
    n += srv_strlcpy(c->e->msg + n, what, sizeof(c->e->msg) - n);
    srv_strlcpy(c->e->msg + n, name, sizeof(c->e->msg) - n);
    return -1;
}

/* Owner, mode and times of dst/name from st (after its contents). */
static int copyup_meta(struct copyup *c, int dst, const char *name, const struct stat *st)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
        errno != EINVAL && errno != EPERM)
        return copyup_fail(c, "chown ", name);
    /* after the chown, which clears set-id bits */
    if (!S_ISLNK(st->st_mode) && fchmodat(dst, name, st->st_mode & 07777, 0) < 0)
        return copyup_fail(c, "chmod ", name);
    if (utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return copyup_fail(c, "set the times of ", name);
    return 0;
}

static __attribute__((noinline)) int copyup_data(int in, int out)
{
    for (;;) {
        ssize_t n = sendfile(out, in, NULL, 1 << 30);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno != EINVAL && errno != ENOSYS)
            return -1;
        break;
    }
    char buf[8192];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (int)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            off += w;
        }
    }
}

static __attribute__((noinline)) int copyup_file(struct copyup *c, int src, int dst, const char *name,
                                                 const struct stat *st)
{
    int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (in < 0)
        return copyup_fail(c, "open ", name);
    struct stat now;
    if (fstat(in, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
        if (now.st_ino != st->st_ino || now.st_dev != st->st_dev)
            errno = ESTALE;     /* replaced since the stat: refuse, do not guess */
        int saved = errno;
        close(in);
        errno = saved;
        return copyup_fail(c, "open ", name);
    }
    int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return copyup_fail(c, "create ", name);
    }
    int r = copyup_data(in, out);
    int saved = errno;
    close(in);
    close(out);
    errno = saved;
    return r < 0 ? copyup_fail(c, "copy ", name) : 0;
}

static __attribute__((noinline)) int copyup_symlink(struct copyup *c, int src, int dst, const char *name)
{
    char target[4096];
    ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
    if (n < 0)
        return copyup_fail(c, "readlink ", name);
    target[n] = '\0';
    if (symlinkat(target, dst, name) < 0)
        return copyup_fail(c, "symlink ", name);
    return 0;
}

static int copyup_tree(struct copyup *c, int src, int dst, int depth);

static int copyup_entry(struct copyup *c, int src, int dst, const char *name, int depth)
{
    struct stat st;
    if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return copyup_fail(c, "stat ", name);
    switch (st.st_mode & S_IFMT) {
    case S_IFDIR: {
        if (mkdirat(dst, name, 0700) < 0)
            return copyup_fail(c, "mkdir ", name);
        int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0)
            return copyup_fail(c, "open ", name);
        int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0) {
            close(s);
            return copyup_fail(c, "open ", name);
        }
        int r = copyup_tree(c, s, d, depth + 1);
        close(s);
        close(d);
        if (r < 0)
            return -1;
        break;
    }
    case S_IFREG:
        if (copyup_file(c, src, dst, name, &st) < 0)
            return -1;
        break;
    case S_IFLNK:
        if (copyup_symlink(c, src, dst, name) < 0)
            return -1;
        break;
    default:            /* fifo, socket, device node */
        if (mknodat(dst, name, st.st_mode & (S_IFMT | 0600), st.st_rdev) < 0)
            return copyup_fail(c, "mknod ", name);
        break;
    }
    return copyup_meta(c, dst, name, &st);
}

static int copyup_tree(struct copyup *c, int src, int dst, int depth)
{
    char buf[1024] __attribute__((aligned(8)));
    if (depth > COPYUP_MAX_DEPTH) {
        errno = ELOOP;
        return copyup_fail(c, "more than 256 directory levels", "");
    }
    for (;;) {
        long n = syscall(SYS_getdents64, src, buf, sizeof(buf));
        if (n < 0)
            return copyup_fail(c, "read a directory", "");
        if (n == 0)
            return 0;
        for (long off = 0; off < n;) {
            struct dirent64_srv *d = (struct dirent64_srv *)(buf + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (copyup_entry(c, src, dst, name, depth) < 0)
                return -1;
        }
    }
}

/* After the tmpfs is mounted on m->target: copy the directory it covers
 * (src, opened before the mount) into it; the tmpfs root takes the covered
 * directory's mode/owner (where the options did not set them) and times. */
static int tmpfs_copyup(int rootfd, int src, const struct srv_mount *m, struct srv_err *e)
{
    struct copyup c = {.target = m->target, .e = e};
    struct stat st;
    int dst = srv_open_in_root(rootfd, m->target, O_RDONLY | O_DIRECTORY);
    if (dst < 0)
        return copyup_fail(&c, "open the new tmpfs", "");
    if (fstat(src, &st) < 0) {
        copyup_fail(&c, "stat the covered directory", "");
        close(dst);
        return -1;
    }
    int r = copyup_tree(&c, src, dst, 0);
    if (r == 0) {
        uid_t uid = (m->copyup & SRV_COPYUP_UID) ? st.st_uid : (uid_t)-1;
        gid_t gid = (m->copyup & SRV_COPYUP_GID) ? st.st_gid : (gid_t)-1;
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        if (fchown(dst, uid, gid) < 0 && errno != EINVAL && errno != EPERM)
            r = copyup_fail(&c, "chown the tmpfs root", "");
        else if ((m->copyup & SRV_COPYUP_MODE) && fchmod(dst, st.st_mode & 07777) < 0)
            r = copyup_fail(&c, "chmod the tmpfs root", "");
        else if (futimens(dst, ts) < 0)
            r = copyup_fail(&c, "set the times of the tmpfs root", "");
    }
    if (r == 0 && (m->flags & MS_RDONLY)) {
        /* mounted writable for the copy: now as asked (superblock and mount) */
        char dpath[64];
        fd_path(dst, dpath);
        if (mount(NULL, dpath, NULL, MS_REMOUNT | m->flags, NULL) < 0) {
            srv_fmt(e, "mounts", errno, "remount ", m->target, " read-only after tmpcopyup");
            r = -1;
        }
    }
    close(dst);
    return r;
}

int srv_do_mount(int rootfd, const struct srv_mount *m, struct srv_err *e)
{
    char tpath[64];
    int fd;

    if (m->kind == SRV_MNT_SYMLINK) {
        char buf[4096 + 2];
        const char *last = split_last(m->target, buf, sizeof(buf) - 1);
        int parent = srv_mkdir_all(rootfd, buf, 0755);
        if (parent < 0) {
            srv_fmt(e, "mounts", errno, "create parent of symlink ", m->target, NULL);
            return -1;
        }
        if (symlinkat(m->source, parent, last) < 0 && errno != EEXIST) {
            srv_fmt(e, "mounts", errno, "symlink ", m->target, NULL);
            close(parent);
            return -1;
        }
        close(parent);
        return 0;
    }

    /* tmpcopyup: the directory the tmpfs will cover, if there is one */
    int covered = -1;
    if (m->kind == SRV_MNT_FS && m->copyup) {
        covered = srv_open_in_root(rootfd, m->target, O_RDONLY | O_DIRECTORY);
        if (covered < 0 && errno != ENOENT) {
            srv_fmt(e, "mounts", errno, "tmpcopyup: open ", m->target, " in the rootfs");
            return -1;
        }
    }
    fd = srv_make_target(rootfd, m->target, m->file_target);
    if (fd < 0) {
        srv_fmt(e, "mounts", errno, "create mount point ", m->target, " in the rootfs");
        if (covered >= 0)
            close(covered);
        return -1;
    }
    if (m->kind == SRV_MNT_MKDIR) {
        close(fd);
        return 0;
    }
    fd_path(fd, tpath);

    if (m->kind == SRV_MNT_BIND && m->userns_fd >= 0) {
        /* idmapped bind: clone the source tree, set its idmap, attach it */
        int tree = (int)syscall(SYS_open_tree, AT_FDCWD, m->source,
                                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                ((m->flags & MS_REC) ? AT_RECURSIVE : 0));
        if (tree < 0) {
            srv_fmt(e, "mounts", errno, "open_tree ", m->source, NULL);
            close(fd);
            return -1;
        }
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)m->userns_fd};
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | ((m->flags & MS_REC) ? AT_RECURSIVE : 0),
                    &attr, sizeof(attr)) < 0) {
            srv_fmt(e, "mounts", errno, "idmap mount of ", m->source, " (mount_setattr)");
            close(tree);
            close(fd);
            return -1;
        }
        if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
            srv_fmt(e, "mounts", errno, "move_mount onto ", m->target, NULL);
            close(tree);
            close(fd);
            return -1;
        }
        close(tree);
    } else {
        unsigned long flags = m->flags;
        const char *src = m->source;
        const char *type = m->fstype;
        const char *data = m->data;
        if (m->kind == SRV_MNT_BIND) {
            flags = MS_BIND | (m->flags & MS_REC);
            type = NULL;
            data = NULL;
        } else if (covered >= 0) {
            flags &= ~MS_RDONLY;    /* writable for the copy, read-only after it */
        }
        if (mount(src, tpath, type, flags, data) < 0) {
            int err = errno;
            srv_fmt(e, "mounts", err, "mount ", m->source ? m->source : "none", " on ");
            size_t n = strlen(e->msg);
            srv_strlcpy(e->msg + n, m->target, sizeof(e->msg) - n);
            if (covered >= 0)
                close(covered);
            close(fd);
            return -1;
        }
        if (covered >= 0) {
            int r = tmpfs_copyup(rootfd, covered, m, e);
            close(covered);
            if (r < 0) {
                close(fd);
                return -1;
            }
        }
    }
    close(fd);

    /* Reopen: the fd we had is the directory under the new mount. */
    if (m->remount || m->nprops || m->attr_set || m->attr_clr) {
        fd = srv_open_in_root(rootfd, m->target, O_PATH);
        if (fd < 0) {
            srv_fmt(e, "mounts", errno, "reopen mount ", m->target, NULL);
            return -1;
        }
        fd_path(fd, tpath);
        if (m->remount) {
            unsigned long rf = MS_REMOUNT | MS_BIND | m->remount;
            if (mount(NULL, tpath, NULL, rf, NULL) < 0) {
                if (errno != EPERM || mount(NULL, tpath, NULL, rf | locked_flags(tpath), NULL) < 0) {
                    srv_fmt(e, "mounts", errno, "remount ", m->target, " with its options");
                    close(fd);
                    return -1;
                }
            }
        }
        if (m->attr_set || m->attr_clr) {
            struct mount_attr attr = {.attr_set = m->attr_set, .attr_clr = m->attr_clr};
            if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
                srv_fmt(e, "mounts", errno, "recursive mount attributes on ", m->target, NULL);
                close(fd);
                return -1;
            }
        }
        for (int i = 0; i < m->nprops; i++) {
            if (mount(NULL, tpath, NULL, m->props[i], NULL) < 0) {
                srv_fmt(e, "mounts", errno, "set propagation of ", m->target, NULL);
                close(fd);
                return -1;
            }
        }
        close(fd);
    }
    return 0;
}

int srv_make_device(int rootfd, const struct srv_device *d, struct srv_err *e)
{
    char buf[4096 + 2];
    const char *last = split_last(d->path, buf, sizeof(buf) - 1);
    int parent = srv_mkdir_all(rootfd, buf, 0755);
    if (parent < 0) {
        srv_fmt(e, "devices", errno, "create parent of ", d->path, NULL);
        return -1;
    }
    /* Something already there is left as it is (as runc does): it may be
     * the user's file, in the rootfs or in a directory bound from the host. */
    struct stat st;
    if (fstatat(parent, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        close(parent);
        return 0;
    }
    if (mknodat(parent, last, d->mode, d->dev) == 0) {
        if (fchownat(parent, last, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(parent, last, d->mode & 07777, 0) < 0) {
            srv_fmt(e, "devices", errno, "chown/chmod ", d->path, NULL);
            close(parent);
            return -1;
        }
        close(parent);
        return 0;
    }
    if (errno != EPERM || !d->host_path) {
        srv_fmt(e, "devices", errno, "mknod ", d->path, NULL);
        close(parent);
        return -1;
    }
    /* Not allowed to mknod (user namespace): bind the host's node. */
    close(parent);
    struct srv_mount m = {.source = d->host_path, .target = d->path, .kind = SRV_MNT_BIND,
                          .file_target = 1, .userns_fd = -1};
    return srv_do_mount(rootfd, &m, e);
}
