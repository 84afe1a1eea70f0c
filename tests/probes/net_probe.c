/*
 * Network probes, run inside sandbox sessions by tests/tests/egress.rs. Each
 * subcommand tries one way out and prints what happened; the test parses it:
 *
 *   send <target> <file|-> <secs>    connects to <target> (unix:<path>, tcp:<ipv4>:<port>
 *                                    or tcp6:<ipv6>:<port>), writes the bytes of <file>
 *                                    (none for -), reads until the peer closes or <secs>
 *                                    pass. Prints "connect\t<OK|error>\n", then on
 *                                    success "reply\t<n>\n" and the <n> bytes read.
 *   hold <target> <n> <secs> <text>  opens <n> connections to <target>, writes <text> on
 *                                    each (e.g. half a request head), keeps them open
 *                                    <secs> seconds: "held\t<opened>\t<first error or OK>"
 *   udp <ipv4|ipv6> <port>           sends one datagram: "udp\t<OK|error>"
 *   raw                              opens a raw ICMP socket: "raw\t<OK|error>"
 *   packet                           opens an AF_PACKET socket: "packet\t<OK|error>"
 *
 * Built statically (cc -static) so it runs in any image.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("%s\t%s\n", what, strerror(errno));
    return 0;
}

static int open_target(const char *target) {
    if (strncmp(target, "unix:", 5) == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, target + 5, sizeof a.sun_path - 1);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
        return fd;
    }
    int v6 = strncmp(target, "tcp6:", 5) == 0;
    if (!v6 && strncmp(target, "tcp:", 4) != 0) {
        errno = EINVAL;
        return -1;
    }
    char host[128];
    const char *rest = target + (v6 ? 5 : 4);
    const char *colon = strrchr(rest, ':');
    if (!colon || (size_t)(colon - rest) >= sizeof host) {
        errno = EINVAL;
        return -1;
    }
    memcpy(host, rest, colon - rest);
    host[colon - rest] = 0;
    int port = atoi(colon + 1);
    if (v6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        if (inet_pton(AF_INET6, host, &a.sin6_addr) != 1) {
            errno = EINVAL;
            return -1;
        }
        int fd = socket(AF_INET6, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
        return fd;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    return fd;
}

static int send_cmd(const char *target, const char *file, int secs) {
    int fd = open_target(target);
    if (fd < 0) return fail("connect");
    printf("connect\tOK\n");
    if (strcmp(file, "-") != 0) {
        int in = open(file, O_RDONLY);
        if (in < 0) return fail("open");
        char buf[65536];
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0) {
            if (write(fd, buf, n) != n) break;
        }
        close(in);
    }
    static char reply[1 << 20];
    size_t got = 0;
    time_t end = time(NULL) + secs;
    while (got < sizeof reply) {
        int left = (int)(end - time(NULL));
        if (left <= 0) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left * 1000) <= 0) break;
        ssize_t n = read(fd, reply + got, sizeof reply - got);
        if (n <= 0) break;
        got += n;
    }
    printf("reply\t%zu\n", got);
    fflush(stdout);
    fwrite(reply, 1, got, stdout);
    return 0;
}

static int udp_cmd(const char *host, int port) {
    int fd;
    int r;
    if (strchr(host, ':')) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        inet_pton(AF_INET6, host, &a.sin6_addr);
        fd = socket(AF_INET6, SOCK_DGRAM, 0);
        if (fd < 0) return fail("udp");
        r = sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, host, &a.sin_addr);
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) return fail("udp");
        r = sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
    }
    if (r < 0) return fail("udp");
    printf("udp\tOK\n");
    return 0;
}

static int hold_cmd(const char *target, int n, int secs, const char *text) {
    int opened = 0;
    const char *err = "OK";
    for (int i = 0; i < n; i++) {
        int fd = open_target(target);
        if (fd < 0) {
            err = strerror(errno);
            break;
        }
        if (write(fd, text, strlen(text)) < 0) {
            err = strerror(errno);
            break;
        }
        opened++;
    }
    printf("held\t%d\t%s\n", opened, err);
    fflush(stdout);
    sleep(secs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "hold") == 0) return hold_cmd(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    if (argc == 5 && strcmp(argv[1], "send") == 0) return send_cmd(argv[2], argv[3], atoi(argv[4]));
    if (argc == 4 && strcmp(argv[1], "udp") == 0) return udp_cmd(argv[2], atoi(argv[3]));
    if (argc == 2 && strcmp(argv[1], "raw") == 0) {
        if (socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) < 0) return fail("raw");
        printf("raw\tOK\n");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "packet") == 0) {
        if (socket(AF_PACKET, SOCK_RAW, htons(3)) < 0) return fail("packet");
        printf("packet\tOK\n");
        return 0;
    }
    fprintf(stderr, "usage: net_probe send <target> <file|-> <secs> | udp <ip> <port> | raw | packet\n");
    return 2;
}
