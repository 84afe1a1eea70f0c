/*
 * File mode probes, run inside a session from the working dir. Each probe tries to leave
 * something in the working dir that would matter on the host (a setuid or setgid file, a
 * file owned by another user, a file capability, a device node) through one raw syscall,
 * and prints one line:
 *     <name>\t<what it tried>\t<expect>\t<path>\t<what happened inside>
 * <path> (relative to the working dir) is what the host then examines with lstat, which
 * decides the outcome; <expect> says how: "clean" (nothing there may be setuid, setgid,
 * owned by anyone but the working dir's owner, a device or carry a file capability),
 * "fifo" / "socket" (an allowed special file that must exist), "hostleft" (a setuid file
 * the host left: it must not keep its bit once the session changed its content).
 * The last line is "done". Syscalls are made with syscall(2), so each probe reaches the
 * kernel as the call it names (libc turns open into openat, chmod into fchmodat...).
 * Built statically on the host (cc -static) so it runs in any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#define OTHER 1234 /* a uid and gid that is not the session's */
#define NR_FCHMODAT2 452
#define X32_BIT 0x40000000L

/* i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
enum { I386_CREAT = 8, I386_MKNOD = 14, I386_CHMOD = 15, I386_OPEN = 5, I386_FCHMOD = 94,
       I386_OPENAT = 295, I386_MKNODAT = 297, I386_FCHMODAT = 306 };

/* One probe's line; `note` (or NULL) is added when the call succeeded. */
static void line_note(const char *name, const char *what, const char *expect, const char *path, long rc, int err,
                      const char *note) {
    if (rc < 0) printf("%s\t%s\t%s\t%s\t%s (errno %d)\n", name, what, expect, path, strerror(err), err);
    else printf("%s\t%s\t%s\t%s\tthe call succeeded%s%s\n", name, what, expect, path, note ? "; " : "", note ? note : "");
}

static void line(const char *name, const char *what, const char *expect, const char *path, long rc, int err) {
    line_note(name, what, expect, path, rc, err, NULL);
}

/* Runs `call` and prints its line. */
#define PROBE(name, what, expect, path, call)       \
    do {                                            \
        errno = 0;                                  \
        long rc_ = (long)(call);                    \
        line(name, what, expect, path, rc_, errno); \
    } while (0)

/* The same for a call that returns a file descriptor, which is then closed. */
#define PROBE_FD(name, what, expect, path, call)    \
    do {                                            \
        errno = 0;                                  \
        long rc_ = (long)(call);                    \
        line(name, what, expect, path, rc_, errno); \
        if (rc_ >= 0) close((int)rc_);              \
    } while (0)

/* A plain 0755 file to change, made by the ordinary call. */
static int plain(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
}

static void plain_closed(const char *path) {
    int fd = plain(path);
    if (fd >= 0) close(fd);
}

/* The i386 entry (int 0x80) from this 64-bit process: the kernel sees AUDIT_ARCH_I386 and
   the i386 numbers, which a filter must cover separately. Pointers must be below 4 GiB. */
static long sys32(long nr, long a, long b, long c, long d) {
    long r;
    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
                     : "memory", "r8", "r9", "r10", "r11");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static char *low; /* a page below 4 GiB for the i386 calls' paths */

static long low_path(const char *path) {
    strcpy(low, path);
    return (long)(uintptr_t)low;
}

/* Links an O_TMPFILE file into the tree through /proc (no CAP_DAC_READ_SEARCH needed). */
static long link_tmpfile(int fd, const char *path) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    mkdir("fm", 0755);
    low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        printf("setup\tmap a page below 4 GiB\tclean\t-\t%s\n", strerror(errno));
        return 1;
    }

    /* Setuid and setgid bits, one syscall each. */
    plain_closed("fm/chmod-suid");
    PROBE("sys_chmod_suid", "chmod(2) 04755", "clean", "fm/chmod-suid", syscall(SYS_chmod, "fm/chmod-suid", 04755));
    plain_closed("fm/chmod-sgid");
    PROBE("sys_chmod_sgid", "chmod(2) 02755", "clean", "fm/chmod-sgid", syscall(SYS_chmod, "fm/chmod-sgid", 02755));
    {
        int fd = plain("fm/fchmod");
        PROBE("sys_fchmod", "fchmod(2) 04755", "clean", "fm/fchmod", syscall(SYS_fchmod, fd, 04755));
        close(fd);
    }
    plain_closed("fm/fchmodat");
    PROBE("sys_fchmodat", "fchmodat(2) 02755", "clean", "fm/fchmodat",
          syscall(SYS_fchmodat, AT_FDCWD, "fm/fchmodat", 02755));
    plain_closed("fm/fchmodat2");
    PROBE("sys_fchmodat2", "fchmodat2(2) (syscall 452) 04755", "clean", "fm/fchmodat2",
          syscall(NR_FCHMODAT2, AT_FDCWD, "fm/fchmodat2", 04755, 0));
    PROBE_FD("sys_open_creat", "open(2) O_CREAT mode 04755", "clean", "fm/open-creat",
          syscall(SYS_open, "fm/open-creat", O_WRONLY | O_CREAT, 04755));
    PROBE_FD("sys_openat_creat", "openat(2) O_CREAT mode 02755", "clean", "fm/openat-creat",
          syscall(SYS_openat, AT_FDCWD, "fm/openat-creat", O_WRONLY | O_CREAT, 02755));
    PROBE_FD("sys_creat", "creat(2) mode 04755", "clean", "fm/creat", syscall(SYS_creat, "fm/creat", 04755));
    {
        long fd = syscall(SYS_open, "fm", O_TMPFILE | O_WRONLY, 04755);
        int e = errno;
        long rc = fd < 0 ? -1 : link_tmpfile((int)fd, "fm/tmpfile");
        if (fd >= 0) e = errno;
        line("sys_open_tmpfile", "open(2) O_TMPFILE mode 04755, then linkat into the dir", "clean", "fm/tmpfile", rc, e);
        if (fd >= 0) close((int)fd);
    }
    {
        long fd = syscall(SYS_openat, AT_FDCWD, "fm", O_TMPFILE | O_WRONLY, 0755);
        long rc = fd < 0 ? -1 : syscall(SYS_fchmod, (int)fd, 04755);
        int e = errno;
        if (fd >= 0) link_tmpfile((int)fd, "fm/tmpfile-fchmod");
        line("sys_tmpfile_fchmod", "openat(2) O_TMPFILE 0755, fchmod 04755, then linkat into the dir", "clean",
             "fm/tmpfile-fchmod", rc, e);
        if (fd >= 0) close((int)fd);
    }
    PROBE("sys_mknod_reg", "mknod(2) S_IFREG|04755", "clean", "fm/mknod-reg",
          syscall(SYS_mknod, "fm/mknod-reg", S_IFREG | 04755, 0));
    PROBE("sys_mknodat_reg", "mknodat(2) S_IFREG|02755", "clean", "fm/mknodat-reg",
          syscall(SYS_mknodat, AT_FDCWD, "fm/mknodat-reg", S_IFREG | 02755, 0));
    {
        /* Not filtered: the kernel keeps only the rwx and sticky bits of mkdir's mode. */
        const char *note = "mkdir keeps only the rwx and sticky bits of its mode";
        errno = 0;
        long rc = syscall(SYS_mkdir, "fm/mkdir-sgid", 02755);
        line_note("sys_mkdir_sgid", "mkdir(2) 02755 (a setgid directory)", "clean", "fm/mkdir-sgid", rc, errno, note);
        errno = 0;
        rc = syscall(SYS_mkdirat, AT_FDCWD, "fm/mkdirat-sgid", 06755);
        line_note("sys_mkdirat_sgid", "mkdirat(2) 06755", "clean", "fm/mkdirat-sgid", rc, errno, note);
    }
    mkdir("fm/dir-chmod", 0755);
    PROBE("sys_chmod_dir_sgid", "chmod(2) 02755 on a directory", "clean", "fm/dir-chmod",
          syscall(SYS_chmod, "fm/dir-chmod", 02755));

    /* The same through the i386 entry. */
    plain_closed("fm/i386-chmod");
    PROBE("i386_chmod", "chmod 04755 via int 0x80 (i386 syscall 15)", "clean", "fm/i386-chmod",
          sys32(I386_CHMOD, low_path("fm/i386-chmod"), 04755, 0, 0));
    {
        int fd = plain("fm/i386-fchmod");
        PROBE("i386_fchmod", "fchmod 04755 via int 0x80 (i386 syscall 94)", "clean", "fm/i386-fchmod",
              sys32(I386_FCHMOD, fd, 04755, 0, 0));
        close(fd);
    }
    plain_closed("fm/i386-fchmodat");
    PROBE("i386_fchmodat", "fchmodat 02755 via int 0x80 (i386 syscall 306)", "clean", "fm/i386-fchmodat",
          sys32(I386_FCHMODAT, AT_FDCWD, low_path("fm/i386-fchmodat"), 02755, 0));
    plain_closed("fm/i386-fchmodat2");
    PROBE("i386_fchmodat2", "fchmodat2 04755 via int 0x80 (syscall 452)", "clean", "fm/i386-fchmodat2",
          sys32(NR_FCHMODAT2, AT_FDCWD, low_path("fm/i386-fchmodat2"), 04755, 0));
    PROBE_FD("i386_open", "open O_CREAT 04755 via int 0x80 (i386 syscall 5)", "clean", "fm/i386-open",
          sys32(I386_OPEN, low_path("fm/i386-open"), O_WRONLY | O_CREAT, 04755, 0));
    PROBE_FD("i386_openat", "openat O_CREAT 02755 via int 0x80 (i386 syscall 295)", "clean", "fm/i386-openat",
          sys32(I386_OPENAT, AT_FDCWD, low_path("fm/i386-openat"), O_WRONLY | O_CREAT, 02755));
    PROBE_FD("i386_creat", "creat 04755 via int 0x80 (i386 syscall 8)", "clean", "fm/i386-creat",
          sys32(I386_CREAT, low_path("fm/i386-creat"), 04755, 0, 0));
    PROBE("i386_mknod", "mknod S_IFREG|04755 via int 0x80 (i386 syscall 14)", "clean", "fm/i386-mknod",
          sys32(I386_MKNOD, low_path("fm/i386-mknod"), S_IFREG | 04755, 0, 0));
    PROBE("i386_mknodat", "mknodat S_IFREG|02755 via int 0x80 (i386 syscall 297)", "clean", "fm/i386-mknodat",
          sys32(I386_MKNODAT, AT_FDCWD, low_path("fm/i386-mknodat"), S_IFREG | 02755, 0));
    PROBE("i386_mknod_chr", "mknod S_IFCHR 1,3 via int 0x80", "clean", "fm/i386-chr",
          sys32(I386_MKNOD, low_path("fm/i386-chr"), S_IFCHR | 0666, makedev(1, 3), 0));
    plain_closed("fm/x32-chmod");
    PROBE("x32_chmod", "chmod 04755 via the x32 syscall number", "clean", "fm/x32-chmod",
          syscall(X32_BIT | SYS_chmod, "fm/x32-chmod", 04755));

    /* Another owner. */
    plain_closed("fm/chown");
    PROBE("sys_chown", "chown(2) to 1234:1234", "clean", "fm/chown", syscall(SYS_chown, "fm/chown", OTHER, OTHER));
    plain_closed("fm/chown-gid");
    PROBE("sys_chown_gid", "chown(2) to -1:1234 (group only)", "clean", "fm/chown-gid",
          syscall(SYS_chown, "fm/chown-gid", -1, OTHER));
    symlink("chown", "fm/lchown");
    PROBE("sys_lchown", "lchown(2) a symlink to 1234:1234", "clean", "fm/lchown",
          syscall(SYS_lchown, "fm/lchown", OTHER, OTHER));
    {
        int fd = plain("fm/fchown");
        PROBE("sys_fchown", "fchown(2) to 1234:1234", "clean", "fm/fchown", syscall(SYS_fchown, fd, OTHER, OTHER));
        close(fd);
    }
    plain_closed("fm/fchownat");
    PROBE("sys_fchownat", "fchownat(2) to 1234:1234", "clean", "fm/fchownat",
          syscall(SYS_fchownat, AT_FDCWD, "fm/fchownat", OTHER, OTHER, 0));
    {
        /* setfsuid/setfsgid return the old id and never fail loudly: read the id back. */
        setfsuid(OTHER);
        setfsgid(OTHER);
        int fsuid = setfsuid(-1), fsgid = setfsgid(-1);
        plain_closed("fm/fsuid");
        printf("sys_setfsuid_create\tsetfsuid/setfsgid(1234), then create a file\tclean\tfm/fsuid\t"
               "the fs ids are %d:%d after the calls\n", fsuid, fsgid);
    }
    {
        long rc = syscall(SYS_setresgid, OTHER, OTHER, OTHER);
        int e = errno;
        plain_closed("fm/setresgid");
        line("sys_setresgid_create", "setresgid(1234), then create a file", "clean", "fm/setresgid", rc, e);
    }
    {
        gid_t g = OTHER;
        long rc = syscall(SYS_setgroups, 1, &g);
        int e = errno;
        plain_closed("fm/setgroups");
        if (rc == 0) {
            rc = syscall(SYS_chown, "fm/setgroups", -1, OTHER);
            e = errno;
        }
        line("sys_setgroups_chgrp", "setgroups([1234]) then chgrp to the new group", "clean", "fm/setgroups", rc, e);
    }

    /* File capabilities (security.capability): need CAP_SETFCAP. */
    {
        struct vfs_cap_data v2;
        memset(&v2, 0, sizeof v2);
        v2.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
        v2.data[0].permitted = 1u << CAP_SETUID;
        struct vfs_ns_cap_data v3;
        memset(&v3, 0, sizeof v3);
        v3.magic_etc = VFS_CAP_REVISION_3 | VFS_CAP_FLAGS_EFFECTIVE;
        v3.data[0].permitted = 1u << CAP_SETUID;
        v3.rootid = 0;
        plain_closed("fm/cap-v2");
        PROBE("xattr_cap_v2", "setxattr security.capability v2 (cap_setuid+ep)", "clean", "fm/cap-v2",
              syscall(SYS_setxattr, "fm/cap-v2", "security.capability", &v2, XATTR_CAPS_SZ_2, 0));
        plain_closed("fm/cap-v3");
        PROBE("xattr_cap_v3", "lsetxattr security.capability v3 (cap_setuid+ep, rootid 0)", "clean", "fm/cap-v3",
              syscall(SYS_lsetxattr, "fm/cap-v3", "security.capability", &v3, XATTR_CAPS_SZ_3, 0));
        int fd = plain("fm/cap-v3-fd");
        v3.rootid = OTHER;
        PROBE("xattr_cap_v3_fd", "fsetxattr security.capability v3 (cap_setuid+ep, rootid 1234)", "clean",
              "fm/cap-v3-fd", syscall(SYS_fsetxattr, fd, "security.capability", &v3, XATTR_CAPS_SZ_3, 0));
        close(fd);
    }

    /* Device nodes: need CAP_MKNOD. */
    PROBE("sys_mknod_chr", "mknod(2) a character device (1,3: /dev/null)", "clean", "fm/chr",
          syscall(SYS_mknod, "fm/chr", S_IFCHR | 0666, makedev(1, 3)));
    PROBE("sys_mknodat_blk", "mknodat(2) a block device (7,0: /dev/loop0)", "clean", "fm/blk",
          syscall(SYS_mknodat, AT_FDCWD, "fm/blk", S_IFBLK | 0660, makedev(7, 0)));
    PROBE("sys_mknod_chr_mem", "mknod(2) a character device (1,1: /dev/mem)", "clean", "fm/mem",
          syscall(SYS_mknod, "fm/mem", S_IFCHR | 0600, makedev(1, 1)));

    /* FIFOs and sockets are ordinary file types: allowed. */
    PROBE("sys_mknod_fifo", "mknod(2) a FIFO", "fifo", "fm/fifo", syscall(SYS_mknod, "fm/fifo", S_IFIFO | 0644, 0));
    PROBE("sys_mknod_fifo_suid", "mknod(2) a FIFO with mode 04644", "clean", "fm/fifo-suid",
          syscall(SYS_mknod, "fm/fifo-suid", S_IFIFO | 04644, 0));
    {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strcpy(a.sun_path, "fm/sock");
        long rc = s < 0 ? -1 : bind(s, (struct sockaddr *)&a, sizeof a);
        line("sys_bind_unix", "bind a unix socket in the working dir", "socket", "fm/sock", rc, errno);
        if (s >= 0) close(s);
    }

    /* Setuid files the host left in the working dir (hostleft/, 04755, 4096 bytes): the
       session may change their content, but then the kernel must drop the bit. */
    {
        int fd = open("hostleft/write", O_WRONLY | O_APPEND);
        long rc = fd < 0 ? -1 : write(fd, "#!/bin/sh\nid\n", 13);
        line("hostleft_write", "append to a setuid file the host left (write(2))", "hostleft", "hostleft/write", rc,
             errno);
        if (fd >= 0) close(fd);
    }
    {
        int fd = open("hostleft/trunc", O_WRONLY | O_TRUNC);
        long rc = fd < 0 ? -1 : write(fd, "#!/bin/sh\nid\n", 13);
        line("hostleft_trunc", "rewrite a setuid file the host left (open O_TRUNC, write)", "hostleft",
             "hostleft/trunc", rc, errno);
        if (fd >= 0) close(fd);
    }
    {
        long rc = truncate("hostleft/truncate", 13);
        line("hostleft_truncate", "truncate(2) a setuid file the host left", "hostleft", "hostleft/truncate", rc,
             errno);
    }
    {
        int fd = open("hostleft/mmap", O_RDWR);
        char *p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        long rc = -1;
        int e = errno;
        if (p != MAP_FAILED) {
            memcpy(p, "#!/bin/sh\nid\n", 13);
            rc = msync(p, 4096, MS_SYNC);
            e = errno;
            munmap(p, 4096);
        }
        line("hostleft_mmap", "rewrite a setuid file the host left through a shared writable mmap", "hostleft",
             "hostleft/mmap", rc, e);
        if (fd >= 0) close(fd);
    }
    printf("done\n");
    return 0;
}
