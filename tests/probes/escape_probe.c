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

/* Runs `fn` in a child as uid/gid 65534 (so capabilities and root do not apply). */
static int as_nobody(int (*fn)(void)) {
    pid_t p = fork();
    if (p == 0) {
        if (setgid(65534) || setuid(65534)) _exit(100);
        _exit(fn());
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 101;
}

static const char *suid_copy = "/var/tmp/.probe-suid"; /* not /tmp: that is nosuid */
static int exec_suid(void) {
    char *argv[] = {(char *)suid_copy, "--report-euid", NULL};
    execv(suid_copy, argv);
    return 102;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--report-euid") == 0) {
        /* Exit status 0 means the setuid bit made us root: escalation. */
        return geteuid() == 0 ? 0 : 1;
    }
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
        /* Setuid-root copy of this binary, executed as nobody: no-new-privileges must
           keep the effective uid unprivileged. */
        int in = open("/proc/self/exe", O_RDONLY), out = open(suid_copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        char buf[65536];
        ssize_t n;
        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0) {
            if (write(out, buf, n) != n) break;
        }
        if (in >= 0) close(in);
        if (out >= 0) close(out);
        chown(suid_copy, 0, 0);
        chmod(suid_copy, 04755);
        int rc = as_nobody(exec_suid);
        char detail[128];
        snprintf(detail, sizeof detail, "exec as uid 65534: %s",
                 rc == 0 ? "effective uid 0" : rc == 1 ? "effective uid stayed 65534" : "could not run");
        /* Only "the euid stayed unprivileged" counts as refused: a probe that could not
           run proves nothing. */
        report("setuid", "gain root through a setuid-root binary (no-new-privileges)", rc != 1, detail);
        unlink(suid_copy);
    }
    check_priv("keyctl", "use the kernel keyring (add_key)", syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
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
