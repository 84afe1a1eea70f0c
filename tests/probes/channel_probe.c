/*
 * Cross-session channel probes, run inside sandbox sessions by
 * tests/tests/probe_cross_session.rs. Each subcommand tries one kind of channel and
 * prints tab-separated lines the test parses:
 *
 *   keyring                          add_key, keyctl, request_key: "<call>\t<OK|errno name>"
 *   ipc-create <key>                 creates a SysV shm segment, message queue and
 *                                    semaphore set with <key>, then opens them again:
 *                                    "<kind>\tcreate\t<OK|errno>" and "<kind>\topen\t<OK|errno>"
 *   ipc-open <key>                   opens them by <key> only: "<kind>\topen\t<OK|errno>"
 *   abstract-listen <name> <secs>    binds the abstract unix socket @<name>, prints
 *                                    "listening", answers "hi" to every connection for
 *                                    <secs> seconds
 *   abstract-connect <name>          "connect\t<OK|errno>\t<what it read>"
 *   pids <a> <b> [pid...]            every pid this namespace can signal: "visible\t<n>";
 *                                    whether one's command line holds "<a>-<b>" (given
 *                                    in two parts so this probe's own command line does
 *                                    not): "marker\t<0|1>"; then for each given pid
 *                                    kill 0: "kill0\t<pid>\t<OK|errno>" (and, only if
 *                                    that pid is the marked process, SIGKILL: "kill9...")
 *
 * Built statically (cc -static) so it runs in any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static const char *result(long rc) {
    if (rc >= 0) return "OK";
    const char *name = strerrorname_np(errno);
    return name ? name : "E?";
}

static int keyring(void) {
    long rc = syscall(SYS_add_key, "user", "sbx-probe", "x", 1, -3 /* KEY_SPEC_SESSION_KEYRING */);
    printf("add_key\t%s\n", result(rc));
    rc = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4 /* KEY_SPEC_USER_KEYRING */, 0);
    printf("keyctl\t%s\n", result(rc));
    rc = syscall(SYS_request_key, "user", "sbx-probe", NULL, 0);
    printf("request_key\t%s\n", result(rc));
    return 0;
}

static int ipc(key_t key, int create) {
    if (create) {
        printf("shm\tcreate\t%s\n", result(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)));
        printf("msg\tcreate\t%s\n", result(msgget(key, IPC_CREAT | IPC_EXCL | 0600)));
        printf("sem\tcreate\t%s\n", result(semget(key, 1, IPC_CREAT | IPC_EXCL | 0600)));
    }
    printf("shm\topen\t%s\n", result(shmget(key, 0, 0)));
    printf("msg\topen\t%s\n", result(msgget(key, 0)));
    printf("sem\topen\t%s\n", result(semget(key, 0, 0)));
    return 0;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof a->sun_path - 2) n = sizeof a->sun_path - 2;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int abstract_listen(const char *name, int secs) {
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, name);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, len) < 0 || listen(s, 16) < 0) {
        printf("listen\t%s\n", result(-1));
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    alarm(secs);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        if (write(c, "hi\n", 3) < 0) { /* the peer went away */ }
        close(c);
    }
}

static int abstract_connect(const char *name) {
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, name);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, len) < 0) {
        printf("connect\t%s\t\n", result(-1));
        return 0;
    }
    char buf[64] = {0};
    ssize_t n = read(s, buf, sizeof buf - 1);
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("connect\tOK\t%s\n", buf);
    return 0;
}

static int cmdline_has(int pid, const char *marker) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0) buf[i] = ' ';
    buf[n] = 0;
    return strstr(buf, marker) != NULL;
}

static int pids(const char *a, const char *b, int argc, char **argv) {
    char marker[256];
    snprintf(marker, sizeof marker, "%s-%s", a, b);
    long max = 32768;
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1) max = 32768;
        fclose(f);
    }
    if (max > 4194304) max = 4194304;
    long visible = 0;
    int seen = 0;
    for (long pid = 1; pid <= max; pid++) {
        if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
            visible++;
            if (cmdline_has((int)pid, marker)) seen = 1;
        }
    }
    printf("visible\t%ld\n", visible);
    printf("marker\t%d\n", seen);
    for (int i = 0; i < argc; i++) {
        pid_t pid = (pid_t)atol(argv[i]);
        if (pid <= 1) continue;
        long rc = kill(pid, 0);
        printf("kill0\t%d\t%s\n", (int)pid, result(rc));
        /* Only a process this namespace can see could be hit; B's must stay invisible. */
        if (rc == 0 && cmdline_has((int)pid, marker)) {
            printf("kill9\t%d\t%s\n", (int)pid, result(kill(pid, SIGKILL)));
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "keyring") == 0) return keyring();
    if (argc == 3 && strcmp(argv[1], "ipc-create") == 0) return ipc((key_t)strtol(argv[2], NULL, 0), 1);
    if (argc == 3 && strcmp(argv[1], "ipc-open") == 0) return ipc((key_t)strtol(argv[2], NULL, 0), 0);
    if (argc == 4 && strcmp(argv[1], "abstract-listen") == 0) return abstract_listen(argv[2], atoi(argv[3]));
    if (argc == 3 && strcmp(argv[1], "abstract-connect") == 0) return abstract_connect(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "pids") == 0) return pids(argv[2], argv[3], argc - 4, argv + 4);
    fprintf(stderr, "usage: see the comment at the top of channel_probe.c\n");
    return 2;
}
