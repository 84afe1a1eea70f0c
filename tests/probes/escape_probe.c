/*
 * Escape probes run inside a sandbox session. Each probe attempts one thing a sandboxed
 * command must not be able to do and prints one line:
 *     <name>\t<what it tried>\t<REFUSED|ESCAPED>\t<detail>
 * The test on the host parses the lines, prints the table and fails on any ESCAPED.
 * Built statically (gcc -static) so it runs in any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void report(const char *name, const char *what, int escaped, const char *detail) {
    printf("%s\t%s\t%s\t%s\n", name, what, escaped ? "ESCAPED" : "REFUSED", detail);
    if (escaped) failures++;
}

/* A probe whose syscall returned `rc` (0 = it worked = escaped). */
static void check(const char *name, const char *what, long rc) {
    char detail[128];
    if (rc < 0) snprintf(detail, sizeof detail, "%s", strerror(errno));
    else snprintf(detail, sizeof detail, "the call succeeded");
    report(name, what, rc >= 0, detail);
}

/* A privileged call: refused only with a permission error. Any other error (EBADF,
   ENOENT, EINVAL...) means the permission check passed and only the arguments were
   wrong, which counts as an escape. */
static void check_priv(const char *name, const char *what, long rc) {
    char detail[128];
    int e = errno;
    int refused = rc < 0 && (e == EPERM || e == EACCES || e == ENOSYS || e == EROFS);
    if (rc >= 0) snprintf(detail, sizeof detail, "the call succeeded");
    else snprintf(detail, sizeof detail, "%s", strerror(e));
    report(name, what, !refused, detail);
}

static void probe_open(const char *name, const char *what, const char *path, int flags) {
    int fd = open(path, flags);
    check(name, what, fd);
    if (fd >= 0) close(fd);
}

static const char *suid_copy = "/var/tmp/.probe-suid"; /* not /tmp: that is nosuid */
int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);

    check_priv("mount", "mount a tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    check_priv("remount", "remount / read-write with new flags", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
    check_priv("kernel_module", "load a kernel module (finit_module)", syscall(SYS_finit_module, -1, "", 0));
    check_priv("kernel_module_init", "load a kernel module (init_module)", syscall(SYS_init_module, NULL, 0, ""));
    {
        /* The agent holds the connection to the host: a command must not be able to
           take it over. It is the process whose comm is ".sandbox-agent". */
        pid_t agent = 0;
        char path[64], comm[64];
        for (pid_t p = 2; p < 4096 && !agent; p++) {
            snprintf(path, sizeof path, "/proc/%d/comm", p);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            if (fgets(comm, sizeof comm, f) && strncmp(comm, ".sandbox-agent", 14) == 0) agent = p;
            fclose(f);
        }
        if (!agent) {
            report("ptrace_agent", "ptrace the session's agent", 1, "agent process not found");
        } else {
            long rc = ptrace(PTRACE_ATTACH, agent, NULL, NULL);
            check_priv("ptrace_agent", "ptrace the session's agent (to hijack its host connection)", rc);
            if (rc == 0) {
                waitpid(agent, NULL, __WALL);
                ptrace(PTRACE_DETACH, agent, NULL, NULL);
            }
            snprintf(path, sizeof path, "/proc/%d/mem", agent);
            probe_open("agent_mem", "open the agent's memory (/proc/<agent>/mem)", path, O_RDWR);
        }
    }
    check("raw_socket", "open a raw IP socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    check("packet_socket", "open a packet socket (sniff/spoof)", socket(AF_PACKET, SOCK_RAW, 0));
    {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        check_priv("set_time", "set the clock (settimeofday)", settimeofday(&tv, NULL));
        struct timex tx = {.modes = ADJ_OFFSET, .offset = 0};
        check_priv("adjtimex", "adjust the clock (adjtimex)", adjtimex(&tx));
    }
    check_priv("sethostname", "change the hostname", sethostname("escaped", 7));
    check_priv("mknod", "create a device node for /dev/mem", mknod("/tmp/.probe-mem", S_IFCHR | 0600, makedev(1, 1)));
    unlink("/tmp/.probe-mem");
    probe_open("dev_mem", "read /dev/mem", "/dev/mem", O_RDONLY);
    probe_open("dev_kmsg", "read the kernel log (/dev/kmsg)", "/dev/kmsg", O_RDONLY);
    probe_open("host_disk", "open the host's disk (/dev/vda)", "/dev/vda", O_RDONLY);
    probe_open("host_disk_sda", "open the host's disk (/dev/sda)", "/dev/sda", O_RDONLY);
    {
        int fd = open("/proc/kcore", O_RDONLY);
        char b[16];
        long rc = fd < 0 ? -1 : (read(fd, b, sizeof b) > 0 ? 0 : -1);
        check("kcore", "read kernel memory (/proc/kcore)", rc);
        if (fd >= 0) close(fd);
    }
    {
        int fd = open("/proc/sysrq-trigger", O_WRONLY);
        long rc = fd < 0 ? -1 : (write(fd, "h", 1) == 1 ? 0 : -1);
        check("sysrq", "write /proc/sysrq-trigger", rc);
        if (fd >= 0) close(fd);
    }
    {
        int fd = open("/proc/sys/kernel/hostname", O_WRONLY);
        long rc = fd < 0 ? -1 : (write(fd, "escaped", 7) == 7 ? 0 : -1);
        check("proc_sys", "write a kernel setting (/proc/sys)", rc);
        if (fd >= 0) close(fd);
    }
    {
        /* The session has one user (container root is the working dir's owner): no other
           uid exists to switch to, so nothing can run as, or leave files owned by,
           anyone else. */
        pid_t p = fork();
        if (p == 0) _exit(setuid(65534) == 0 ? 0 : (errno == EINVAL ? 1 : 2));
        int st = 0;
        waitpid(p, &st, 0);
        int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
        report("other_user", "become another user (setuid 65534)", rc != 1,
               rc == 1 ? "Invalid argument: no other uid is mapped into the session" : "the switch did not fail as expected");
    }
    {
        /* A setuid-root copy of a binary: the syscall filter refuses setuid/setgid
           bits, whatever the file (the working dir's files reach the host). */
        int out = open(suid_copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        if (out >= 0) close(out);
        errno = 0;
        int rc = chmod(suid_copy, 04755);
        struct stat st;
        int has_bit = stat(suid_copy, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
        check("setuid_bit", "make a setuid binary (chmod 4755)", rc == 0 || has_bit ? 0 : -1);
        unlink(suid_copy);
    }
    check_priv("add_key", "use the kernel keyring (add_key)", syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    check_priv("keyctl", "find the host's keys (keyctl on the user keyring)", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
    check_priv("request_key", "look a key up (request_key)", syscall(SYS_request_key, "user", "probe", NULL, 0));
    check_priv("io_uring", "set up io_uring (its operations bypass syscall filters)", syscall(425, 1, calloc(1, 120)));
    {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.map_type = BPF_MAP_TYPE_ARRAY;
        attr.key_size = 4;
        attr.value_size = 4;
        attr.max_entries = 1;
        check_priv("bpf", "create an eBPF map (bpf)", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    }
    check_priv("userfaultfd", "open a userfaultfd", syscall(SYS_userfaultfd, 0));
    check_priv("unshare_user", "unshare a new user namespace", unshare(CLONE_NEWUSER));
    check_priv("unshare_mount", "unshare a new mount namespace", unshare(CLONE_NEWNS));
    check_priv("chroot", "chroot", chroot("/tmp"));
    check_priv("reboot", "reboot (disable ctrl-alt-del via reboot(2))", reboot(RB_DISABLE_CAD));
    check_priv("swapon", "enable swap on a file", swapon("/tmp/.probe-swap", 0));
    check_priv("ioperm", "access I/O ports (ioperm)", syscall(SYS_ioperm, 0x80, 1, 1));
    check_priv("kexec", "load a new kernel (kexec_load)", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    check_priv("open_by_handle", "open a file by handle (shocker)", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
    check_priv("perf_event", "open a perf event on the host", syscall(SYS_perf_event_open, NULL, -1, 0, -1, 0));
    {
        int fd = open("/sys/fs/cgroup/memory/memory.limit_in_bytes", O_WRONLY);
        if (fd < 0) fd = open("/sys/fs/cgroup/memory.max", O_WRONLY);
        long rc = fd < 0 ? -1 : (write(fd, "-1", 2) == 2 ? 0 : -1);
        check("cgroup_limit", "raise its own memory limit (cgroupfs)", rc);
        if (fd >= 0) close(fd);
    }
    check("sys_write", "write to /sys (remount or touch)", open("/sys/kernel/uevent_helper", O_WRONLY));
    return failures ? 1 : 0;
}
