/* servin-checker: a tiny static program that the conformance suite copies
 * into a container's rootfs.  It reports what the process sees, one
 * "key=value" line per fact, for each command given on the command line:
 *
 *   servin-checker id status rlimits umask cwd uts oom personality ns pid
 *   servin-checker sched ioprio              sched.policy=<n> sched.nice=<n>; ioprio=<raw value>
 *   servin-checker all                       (all of the above but sched and ioprio)
 *   servin-checker mounts                    (mount=<point>\t<opts>\t<type>\t<super>\t<optional fields>)
 *   servin-checker env NAME                  env.NAME=value | env.NAME!unset
 *   servin-checker read PATH                 read.PATH=<errno>:<bytes>
 *   servin-checker write PATH                write.PATH=<errno>  (open O_WRONLY|O_APPEND + write 0 bytes)
 *   servin-checker create PATH               create.PATH=<errno> (O_CREAT|O_WRONLY)
 *   servin-checker stat PATH                 stat.PATH=<type>:<mode octal>:<uid>:<gid>:<major>:<minor> | stat.PATH=!<errno>
 *   servin-checker lstat PATH                like stat, without following a symlink
 *   servin-checker readlink PATH             readlink.PATH=<target> | !<errno>
 *   servin-checker sysctl NAME               sysctl.NAME=<value of /proc/sys/NAME with dots as slashes>
 *   servin-checker syscall NAME              syscall.NAME=<errno>  (0 when the call succeeded)
 *   servin-checker clock                     clock.monotonic=<s> clock.boottime=<s>
 *   servin-checker fds                       fds=<comma separated open descriptors>
 *   servin-checker entries DIR               entries.DIR=<number of entries besides . and ..> | !<errno>
 *   servin-checker mknod PATH c|b MAJ MIN    mknod.PATH=<errno>  (the node is removed again)
 *   servin-checker touch PATH                creates PATH (exit 1 on failure)
 *   servin-checker sleep SECONDS             sleeps (for created/running containers)
 *   servin-checker exit CODE                 exits with CODE
 *
 * errno values are printed as numbers.  Output is flushed after every
 * command so a killed checker still leaves what it printed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static void cat_status(void)
{
    static const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                 "NoNewPrivs", "Seccomp", NULL};
    char line[512];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        printf("status=!%d\n", errno);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (int i = 0; keys[i]; i++) {
            if (strcmp(line, keys[i]) == 0) {
                char *v = colon + 1;
                while (*v == ' ' || *v == '\t')
                    v++;
                v[strcspn(v, "\n")] = '\0';
                printf("%s=%s\n", keys[i], v);
            }
        }
    }
    fclose(f);
}

static void do_id(void)
{
    gid_t groups[256];
    int n = getgroups(256, groups);
    printf("uid=%u\ngid=%u\neuid=%u\negid=%u\ngroups=", getuid(), getgid(), geteuid(), getegid());
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", groups[i]);
    printf("\n");
}

static const struct { const char *name; int res; } rlims[] = {
    {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA}, {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}, {NULL, 0},
};

static void print_lim(rlim_t v)
{
    if (v == RLIM_INFINITY)
        printf("unlimited");
    else
        printf("%llu", (unsigned long long)v);
}

static void do_rlimits(void)
{
    for (int i = 0; rlims[i].name; i++) {
        struct rlimit rl;
        if (getrlimit(rlims[i].res, &rl) < 0) {
            printf("%s=!%d\n", rlims[i].name, errno);
            continue;
        }
        printf("%s=", rlims[i].name);
        print_lim(rl.rlim_cur);
        printf(":");
        print_lim(rl.rlim_max);
        printf("\n");
    }
}

static void print_file_line(const char *key, const char *path)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s=!%d\n", key, errno);
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        printf("%s=!%d\n", key, errno);
        return;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = ' ';
    printf("%s=%s\n", key, buf);
}

static void do_ns(void)
{
    static const char *types[] = {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children",
                                  "time", "time_for_children", "user", "uts", NULL};
    for (int i = 0; types[i]; i++) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/proc/self/ns/%s", types[i]);
        if (stat(path, &st) < 0)
            printf("ns.%s=!%d\n", types[i], errno);
        else
            printf("ns.%s=%llu\n", types[i], (unsigned long long)st.st_ino);
    }
}

static void do_mounts(void)
{
    /* mountinfo: id parent maj:min root point opts [optional...] - type source super */
    char line[8192];
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) {
        printf("mounts=!%d\n", errno);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char *fields[64];
        int n = 0;
        line[strcspn(line, "\n")] = '\0';
        for (char *tok = strtok(line, " "); tok && n < 64; tok = strtok(NULL, " "))
            fields[n++] = tok;
        if (n < 7)
            continue;
        int dash = -1;
        for (int i = 6; i < n; i++)
            if (strcmp(fields[i], "-") == 0) {
                dash = i;
                break;
            }
        if (dash < 0 || dash + 3 >= n + 1)
            continue;
        printf("mount=%s\t%s\t%s\t%s\t", fields[4], fields[5], dash + 1 < n ? fields[dash + 1] : "",
               dash + 3 < n ? fields[dash + 3] : "");
        for (int i = 6; i < dash; i++)
            printf("%s%s", i > 6 ? "," : "", fields[i]);
        printf("\n");
    }
    fclose(f);
}

static long try_syscall(const char *name)
{
    long r;
    char buf[PATH_MAX];
    struct utsname u;
    if (strcmp(name, "getcwd") == 0)
        r = syscall(SYS_getcwd, buf, sizeof buf);
    else if (strcmp(name, "mkdir") == 0) {
        r = syscall(SYS_mkdirat, (long)AT_FDCWD, "/tmp/.servin-checker-mkdir", 0700L);
        if (r == 0)
            rmdir("/tmp/.servin-checker-mkdir");
    } else if (strcmp(name, "mkdirat") == 0) {
        r = syscall(SYS_mkdirat, (long)AT_FDCWD, "/tmp/.servin-checker-mkdir", 0700L);
        if (r == 0)
            rmdir("/tmp/.servin-checker-mkdir");
    } else if (strcmp(name, "uname") == 0)
        r = syscall(SYS_uname, &u);
    else if (strcmp(name, "getpid") == 0)
        r = syscall(SYS_getpid);
    else if (strcmp(name, "chdir") == 0)
        r = syscall(SYS_chdir, ".");
    else if (strcmp(name, "sethostname") == 0) {
        if (uname(&u) < 0)
            return errno;
        r = syscall(SYS_sethostname, u.nodename, strlen(u.nodename));
    } else if (strcmp(name, "chown") == 0)
        r = syscall(SYS_fchownat, (long)AT_FDCWD, "/tmp", -1L, -1L, 0L);
    else if (strcmp(name, "fchownat") == 0)
        r = syscall(SYS_fchownat, (long)AT_FDCWD, "/tmp", -1L, -1L, 0L);
    else if (strcmp(name, "getppid") == 0)
        r = syscall(SYS_getppid);
    else if (strcmp(name, "setuid-nobody") == 0)
        r = syscall(SYS_setuid, 65534);
    else if (strcmp(name, "mount-tmpfs") == 0) {
        r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
        if (r == 0)
            syscall(SYS_umount2, "/tmp", 0);
    } else
        return -1;
    return r < 0 ? errno : 0;
}

static void do_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int first = 1, self;
    struct dirent *e;
    if (!d) {
        printf("fds=!%d\n", errno);
        return;
    }
    self = dirfd(d);
    printf("fds=");
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (atoi(e->d_name) == self)
            continue;
        printf("%s%s", first ? "" : ",", e->d_name);
        first = 0;
    }
    printf("\n");
    closedir(d);
}

static void print_stat(const char *key, const char *path, int follow)
{
    struct stat st;
    const char *type = "?";
    if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
        printf("%s.%s=!%d\n", key, path, errno);
        return;
    }
    switch (st.st_mode & S_IFMT) {
    case S_IFREG: type = "f"; break;
    case S_IFDIR: type = "d"; break;
    case S_IFCHR: type = "c"; break;
    case S_IFBLK: type = "b"; break;
    case S_IFIFO: type = "p"; break;
    case S_IFLNK: type = "l"; break;
    case S_IFSOCK: type = "s"; break;
    }
    printf("%s.%s=%s:%o:%u:%u:%u:%u\n", key, path, type, st.st_mode & 07777, st.st_uid, st.st_gid,
           major(st.st_rdev), minor(st.st_rdev));
}

static int usage(const char *what)
{
    fprintf(stderr, "servin-checker: bad command or missing argument: %s\n", what);
    return 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *c = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        int all = strcmp(c, "all") == 0;
        int used = 0;
        if (all || strcmp(c, "id") == 0)
            do_id(), used = 1;
        if (all || strcmp(c, "status") == 0)
            cat_status(), used = 1;
        if (all || strcmp(c, "rlimits") == 0)
            do_rlimits(), used = 1;
        if (all || strcmp(c, "umask") == 0) {
            mode_t m = umask(0);
            umask(m);
            printf("umask=%04o\n", m);
            used = 1;
        }
        if (all || strcmp(c, "cwd") == 0) {
            char buf[PATH_MAX];
            if (getcwd(buf, sizeof buf))
                printf("cwd=%s\n", buf);
            else
                printf("cwd=!%d\n", errno);
            used = 1;
        }
        if (all || strcmp(c, "uts") == 0) {
            struct utsname u;
            if (uname(&u) == 0)
                printf("hostname=%s\ndomainname=%s\n", u.nodename, u.domainname);
            used = 1;
        }
        if (all || strcmp(c, "oom") == 0)
            print_file_line("oom_score_adj", "/proc/self/oom_score_adj"), used = 1;
        if (all || strcmp(c, "personality") == 0) {
            printf("personality=0x%x\n", (unsigned)personality(0xffffffff));
            used = 1;
        }
        if (all || strcmp(c, "ns") == 0)
            do_ns(), used = 1;
        if (all || strcmp(c, "pid") == 0) {
            printf("pid=%d\nppid=%d\n", getpid(), getppid());
            used = 1;
        }
        if (strcmp(c, "sched") == 0) {
            errno = 0;
            int nice = getpriority(PRIO_PROCESS, 0);
            printf("sched.policy=%d\nsched.nice=%d\n", sched_getscheduler(0), errno ? -100 : nice);
            used = 1;
        }
        if (strcmp(c, "ioprio") == 0) {
            long v = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
            printf("ioprio=%ld\n", v < 0 ? -(long)errno : v);
            used = 1;
        }
        if (used)
            goto next;
        if (strcmp(c, "mounts") == 0)
            do_mounts();
        else if (strcmp(c, "fds") == 0)
            do_fds();
        else if (strcmp(c, "clock") == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            printf("clock.monotonic=%lld\n", (long long)ts.tv_sec);
            clock_gettime(CLOCK_BOOTTIME, &ts);
            printf("clock.boottime=%lld\n", (long long)ts.tv_sec);
        } else if (!arg) {
            return usage(c);
        } else if (strcmp(c, "env") == 0) {
            const char *v = getenv(arg);
            if (v)
                printf("env.%s=%s\n", arg, v);
            else
                printf("env.%s!unset\n", arg);
            i++;
        } else if (strcmp(c, "read") == 0) {
            char buf[4096];
            long total = 0;
            ssize_t n;
            int fd = open(arg, O_RDONLY), err = 0;
            if (fd < 0)
                err = errno;
            else {
                while ((n = read(fd, buf, sizeof buf)) > 0 && total < (1 << 20))
                    total += n;
                if (n < 0)
                    err = errno;
                close(fd);
            }
            printf("read.%s=%d:%ld\n", arg, err, total);
            i++;
        } else if (strcmp(c, "write") == 0 || strcmp(c, "create") == 0) {
            int flags = O_WRONLY | (c[0] == 'c' ? O_CREAT : O_APPEND);
            int fd = open(arg, flags, 0644), err = 0;
            if (fd < 0)
                err = errno;
            else {
                if (write(fd, "", 0) < 0)
                    err = errno;
                close(fd);
            }
            printf("%s.%s=%d\n", c, arg, err);
            i++;
        } else if (strcmp(c, "stat") == 0 || strcmp(c, "lstat") == 0) {
            print_stat(c, arg, c[0] == 's');
            i++;
        } else if (strcmp(c, "readlink") == 0) {
            char buf[PATH_MAX];
            ssize_t n = readlink(arg, buf, sizeof buf - 1);
            if (n < 0)
                printf("readlink.%s=!%d\n", arg, errno);
            else {
                buf[n] = '\0';
                printf("readlink.%s=%s\n", arg, buf);
            }
            i++;
        } else if (strcmp(c, "sysctl") == 0) {
            char path[PATH_MAX], key[PATH_MAX];
            snprintf(path, sizeof path, "/proc/sys/%s", arg);
            for (char *p = path + 10; *p; p++)
                if (*p == '.')
                    *p = '/';
            snprintf(key, sizeof key, "sysctl.%s", arg);
            print_file_line(key, path);
            i++;
        } else if (strcmp(c, "syscall") == 0) {
            long r = try_syscall(arg);
            if (r < 0)
                return usage(arg);
            printf("syscall.%s=%ld\n", arg, r);
            i++;
        } else if (strcmp(c, "entries") == 0) {
            DIR *d = opendir(arg);
            struct dirent *e;
            long n = 0;
            if (!d)
                printf("entries.%s=!%d\n", arg, errno);
            else {
                while ((e = readdir(d)))
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        n++;
                closedir(d);
                printf("entries.%s=%ld\n", arg, n);
            }
            i++;
        } else if (strcmp(c, "mknod") == 0) {
            if (i + 4 >= argc)
                return usage(c);
            mode_t type = argv[i + 2][0] == 'b' ? S_IFBLK : S_IFCHR;
            dev_t dev = makedev(atoi(argv[i + 3]), atoi(argv[i + 4]));
            int err = 0;
            if (mknod(arg, type | 0600, dev) < 0)
                err = errno;
            else
                unlink(arg);
            printf("mknod.%s=%d\n", arg, err);
            i += 4;
        } else if (strcmp(c, "touch") == 0) {
            int fd = open(arg, O_WRONLY | O_CREAT, 0644);
            if (fd < 0) {
                printf("touch.%s=%d\n", arg, errno);
                return 1;
            }
            close(fd);
            i++;
        } else if (strcmp(c, "sleep") == 0) {
            fflush(stdout);
            sleep((unsigned)atoi(arg));
            i++;
        } else if (strcmp(c, "exit") == 0) {
            fflush(stdout);
            return atoi(arg);
        } else
            return usage(c);
    next:
        fflush(stdout);
    }
    return 0;
}
