/*
 * The in-session side of scripts/bench-egress, built statically at run time.
 *
 *   get <ipv4> <port> <request> <n>  n times: connect, send <request> (with "\n" as
 *                                    CRLF), read to EOF. Prints
 *                                    "lat_us <p50> <p99>" and "bytes <last> secs <last>"
 *                                    (the last fetch's size and duration).
 *   hold <ipv4> <port> <request> <n> <secs>
 *                                    opens n connections at once, sends <request> on
 *                                    each, keeps them open <secs> seconds. Prints "held <n>".
 *   serve <port> <bytes>             listens on <port> (every address); each connection gets
 *                                    <bytes> bytes, then is closed. Runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t request(const char *raw, char *req, size_t cap) {
    size_t len = 0;
    for (const char *p = raw; *p && len < cap - 2; p++) {
        if (p[0] == '\\' && p[1] == 'n') {
            req[len++] = '\r';
            req[len++] = '\n';
            p++;
        } else {
            req[len++] = *p;
        }
    }
    return len;
}

static int dial(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static int hold(const char *ip, int port, const char *raw, int n, int secs) {
    char req[4096];
    size_t len = request(raw, req, sizeof req);
    for (int i = 0; i < n; i++) {
        int fd = dial(ip, port);
        if (write(fd, req, len) != (ssize_t)len) return 1;
    }
    printf("held %d\n", n);
    fflush(stdout);
    sleep(secs);
    return 0;
}

static int get(const char *ip, int port, const char *raw, int n) {
    char req[4096];
    size_t len = request(raw, req, sizeof req);
    double *lat = calloc(n, sizeof *lat);
    static char buf[1 << 20];
    long long last = 0;
    double last_secs = 0;
    for (int i = 0; i < n; i++) {
        double t0 = now();
        int fd = dial(ip, port);
        if (write(fd, req, len) != (ssize_t)len) {
            perror("write");
            return 1;
        }
        long long got = 0;
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0) got += r;
        close(fd);
        lat[i] = now() - t0;
        last = got;
        last_secs = lat[i];
    }
    qsort(lat, n, sizeof *lat, cmp);
    printf("lat_us %.0f %.0f\n", lat[n / 2] * 1e6, lat[(n * 99) / 100] * 1e6);
    printf("bytes %lld secs %.6f\n", last, last_secs);
    return 0;
}

static int serve(int port, long long bytes) {
    /* A client that goes away early must not end the server. */
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 128) != 0) {
        perror("listen");
        return 1;
    }
    static char buf[1 << 20];
    memset(buf, 'x', sizeof buf);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) continue;
        long long left = bytes;
        while (left > 0) {
            ssize_t w = write(c, buf, left < (long long)sizeof buf ? left : (long long)sizeof buf);
            if (w <= 0) break;
            left -= w;
        }
        close(c);
    }
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "get") == 0) return get(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]));
    if (argc == 7 && strcmp(argv[1], "hold") == 0)
        return hold(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]), atoi(argv[6]));
    if (argc == 4 && strcmp(argv[1], "serve") == 0) return serve(atoi(argv[2]), atoll(argv[3]));
    fprintf(stderr, "usage: net_bench get <ip> <port> <request> <n> | serve <port> <bytes>\n");
    return 2;
}
