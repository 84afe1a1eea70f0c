/* Makes unix sockets inside a session for the control_dir probe family (the test
 * image's busybox cannot). Built statically on the host by tests/tests/probe_control_dir.rs.
 *
 *   plant socket PATH   binds a socket at PATH and exits: a socket nobody listens on.
 *   plant listen PATH   binds and listens at PATH, prints "listening", then for each
 *                       connection prints how many bytes the peer sent before it hung up
 *                       (or 2 s passed): a decoy agent socket, to see whether the host
 *                       talks to it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "socket") != 0 && strcmp(argv[1], "listen") != 0)) {
        fprintf(stderr, "usage: plant socket|listen PATH\n");
        return 2;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(argv[2]) >= sizeof addr.sun_path) {
        fprintf(stderr, "path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[2]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("plant: socket/bind");
        return 1;
    }
    if (strcmp(argv[1], "socket") == 0)
        return 0;
    if (listen(fd, 16) != 0) {
        perror("plant: listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            continue;
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        long total = 0;
        char buf[4096];
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0)
            total += n;
        printf("accepted a connection: received %ld bytes\n", total);
        fflush(stdout);
        close(c);
    }
}
