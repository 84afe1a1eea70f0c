/* The egress network: a session whose policy lets a pinned .test name through to an HTTP
 * server of this test on the host's loopback (an address rule for its port) and refuses
 * another with 403; the decision log; the policy in force, changed live (rules
 * replaced, pins kept, none allows nothing); restart_network; typed errors; an egress
 * credential from a host environment variable, added outside the session (the server
 * sees it, the log names the header, the policy where the value is). */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

static int server_fd = -1;
static volatile int server_stop = 0;
static volatile int server_saw_key = 0;
/* The header the enforcer adds in the session under test (NULL: none). */
static const char *expect_injected = NULL;

/* Answers every HTTP request with a fixed body until server_stop is set. */
static void *serve(void *unused) {
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nhello from C\r\n";
    (void)unused;
    for (;;) {
        char buf[4096];
        size_t got = 0;
        int c = accept(server_fd, NULL, NULL);
        if (c < 0) continue;
        if (server_stop) {
            close(c);
            return NULL;
        }
        while (got < sizeof buf - 1) {
            ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n")) break;
        }
        if (strstr(buf, "X-C-Key: c-s3cret\r\n")) server_saw_key = 1;
        if (write(c, reply, sizeof reply - 1) < 0) perror("write");
        close(c);
    }
}

static int server_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server_fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(server_fd >= 0);
    EXPECT(bind(server_fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(server_fd, 16) == 0);
    EXPECT(getsockname(server_fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

static void server_shutdown(pthread_t t, int port) {
    struct sockaddr_in a;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server_stop = 1;
    EXPECT(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
    pthread_join(t, NULL);
    close(c);
    close(server_fd);
}

/* What `wget http://name:port/` printed in the session. */
static void get(sbx_session *s, const char *name, int port, char *out, size_t cap) {
    char line[256];
    const char *argv[] = {"sh", "-c", line};
    sbx_exec_result *r = NULL;
    const uint8_t *p;
    size_t n;
    snprintf(line, sizeof line, "wget -q -O- http://%s:%d/ 2>&1; echo rc=$?", name, port);
    OK(sbx_session_exec(s, argv, 3, NULL, &r, err));
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    sbx_exec_result_free(r);
}

/* Whether the log has a decision for `host` with `allowed`. */
static int logged(sbx_session *s, const char *host, bool allowed) {
    sbx_egress_log *log = NULL;
    size_t i;
    int found = 0;
    OK(sbx_session_network_log(s, &log, err));
    for (i = 0; i < sbx_egress_log_len(log); i++) {
        const sbx_egress_decision *d = sbx_egress_log_get(log, i);
        if (strcmp(sbx_egress_decision_host(d), host) != 0 || sbx_egress_decision_allowed(d) != allowed) continue;
        EXPECT(sbx_egress_decision_time_unix_ms(d) > 0 && sbx_egress_decision_via(d) != NULL);
        if (allowed) {
            EXPECT(strcmp(sbx_egress_decision_address(d), "127.0.0.1") == 0);
            EXPECT(sbx_egress_decision_bytes_in(d) > 20 && sbx_egress_decision_reason(d) == NULL);
            /* The header a credential added, named, never valued; NULL without one. */
            EXPECT(expect_injected == NULL ? sbx_egress_decision_injected(d) == NULL
                                           : strcmp(sbx_egress_decision_injected(d), expect_injected) == 0);
        } else {
            EXPECT(strstr(sbx_egress_decision_reason(d), "not in the allow list") != NULL);
        }
        found = 1;
    }
    EXPECT(sbx_egress_log_get(log, i) == NULL && sbx_egress_log_json(log)[0] == '[');
    sbx_egress_log_free(log);
    return found;
}

int main(void) {
    sbx_context *ctx = check_open_scope("egress");
    sbx_session_spec *spec = NULL;
    sbx_session *s = NULL, *plain;
    sbx_egress_policy *policy = NULL;
    pthread_t server;
    char rule[64], out[4096];
    const char *rules[2];
    const char *bad[] = {"ok.test", "**.x"};
    uint32_t pid = 0, again = 0;
    int port = server_port(), tries;
    struct timespec tick = {0, 50000000};
    char id[64];

    EXPECT(pthread_create(&server, NULL, serve, NULL) == 0);
    snprintf(rule, sizeof rule, "127.0.0.1:%d", port);
    rules[0] = "allowed.test";
    rules[1] = rule;

    OK(sbx_session_spec_new(check_id("egress"), check_dir, &spec, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_spec_set_egress(spec, bad, 2, err));
    EXPECT_MESSAGE("\"**.x\"");
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_spec_add_egress_rule(spec, "*", err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_spec_pin_egress_host(spec, "a.test", "nowhere", err));
    EXPECT_MESSAGE("not an IP address");
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_spec_set_egress(spec, NULL, 1, err));
    OK(sbx_session_spec_set_egress(spec, rules, 2, err));
    OK(sbx_session_spec_pin_egress_host(spec, "allowed.test", "127.0.0.1", err));
    OK(sbx_session_spec_pin_egress_host(spec, "denied.test", "127.0.0.1", err));
    OK(sbx_context_start(ctx, spec, &s, err));
    sbx_session_spec_free(spec);
    EXPECT(sbx_session_egress_enforcer_running(s));

    get(s, "allowed.test", port, out, sizeof out);
    EXPECT(strncmp(out, "hello from C\r\n", 14) == 0);
    get(s, "denied.test", port, out, sizeof out);
    EXPECT(strstr(out, "403") != NULL && strstr(out, "hello") == NULL);
    for (tries = 0; tries < 400 && !logged(s, "allowed.test", true); tries++) nanosleep(&tick, NULL);
    EXPECT(logged(s, "allowed.test", true) && logged(s, "denied.test", false));

    OK(sbx_session_egress_policy(s, &policy, err));
    EXPECT(sbx_egress_policy_rule_count(policy) == 2 && strcmp(sbx_egress_policy_rule(policy, 1), rule) == 0);
    EXPECT(sbx_egress_policy_pin_count(policy) == 2);
    EXPECT(strcmp(sbx_egress_policy_pin_name(policy, 1), "denied.test") == 0);
    EXPECT(strcmp(sbx_egress_policy_pin_address(policy, 1), "127.0.0.1") == 0);
    EXPECT(sbx_egress_policy_pin_name(policy, 2) == NULL && strstr(sbx_egress_policy_json(policy), "\"hosts\""));
    sbx_egress_policy_free(policy);

    /* Live: no rules allow nothing, pins kept; a bad rule changes nothing. */
    OK(sbx_session_set_egress(s, NULL, 0, err));
    get(s, "allowed.test", port, out, sizeof out);
    EXPECT(strstr(out, "403") != NULL);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_set_egress(s, bad, 2, err));
    OK(sbx_session_egress_policy(s, &policy, err));
    EXPECT(sbx_egress_policy_rule_count(policy) == 0 && sbx_egress_policy_pin_count(policy) == 2);
    sbx_egress_policy_free(policy);
    OK(sbx_session_set_egress(s, rules, 2, err));
    get(s, "allowed.test", port, out, sizeof out);
    EXPECT(strncmp(out, "hello from C\r\n", 14) == 0);

    OK(sbx_session_restart_network(s, &pid, err));
    OK(sbx_session_restart_network(s, &again, err));
    EXPECT(pid != 0 && pid == again);
    OK(sbx_session_stop(s, err));
    sbx_session_free(s);

    /* Off the egress network. */
    snprintf(id, sizeof id, "%s", check_id("plain"));
    plain = check_start(ctx, id);
    policy = (sbx_egress_policy *)&id;
    FAILS(SBX_STATUS_NOT_AVAILABLE, sbx_session_egress_policy(plain, &policy, err));
    EXPECT(policy == (sbx_egress_policy *)&id);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_set_egress(plain, rules, 2, err));
    EXPECT_MESSAGE("egress network");
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_restart_network(plain, &pid, err));
    EXPECT(!sbx_session_egress_enforcer_running(plain));
    OK(sbx_session_stop(plain, err));
    sbx_session_free(plain);

    /* An egress credential from a host environment variable. */
    EXPECT(setenv("SBX_TEST_EGRESS_KEY", "c-s3cret", 1) == 0);
    OK(sbx_session_spec_new(check_id("cred"), check_dir, &spec, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT,
          sbx_session_spec_add_egress_credential(spec, "allowed.test", "X-C-Key", "SBX_TEST_EGRESS_KEY", NULL, err));
    EXPECT_MESSAGE("egress credential");
    OK(sbx_session_spec_set_egress(spec, rules, 2, err));
    OK(sbx_session_spec_pin_egress_host(spec, "allowed.test", "127.0.0.1", err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT,
          sbx_session_spec_add_egress_credential(spec, "allowed.test", "X-C-Key", "A", "/key", err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_spec_add_egress_upstream_ca(spec, "ca.pem", err));
    OK(sbx_session_spec_add_egress_credential(spec, "allowed.test", "X-C-Key", "SBX_TEST_EGRESS_KEY", NULL, err));
    OK(sbx_context_start(ctx, spec, &s, err));
    sbx_session_spec_free(spec);
    get(s, "allowed.test", port, out, sizeof out);
    EXPECT(strncmp(out, "hello from C\r\n", 14) == 0 && server_saw_key);
    expect_injected = "X-C-Key";
    for (tries = 0; tries < 400 && !logged(s, "allowed.test", true); tries++) nanosleep(&tick, NULL);
    EXPECT(logged(s, "allowed.test", true));
    OK(sbx_session_egress_policy(s, &policy, err));
    EXPECT(sbx_egress_policy_credential_count(policy) == 1);
    EXPECT(strcmp(sbx_egress_policy_credential_host(policy, 0), "allowed.test") == 0);
    EXPECT(strcmp(sbx_egress_policy_credential_header(policy, 0), "X-C-Key") == 0);
    EXPECT(strcmp(sbx_egress_policy_credential_from_env(policy, 0), "SBX_TEST_EGRESS_KEY") == 0);
    EXPECT(sbx_egress_policy_credential_from_file(policy, 0) == NULL);
    EXPECT(strstr(sbx_egress_policy_json(policy), "c-s3cret") == NULL);
    sbx_egress_policy_free(policy);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_set_egress(s, NULL, 0, err));
    EXPECT_MESSAGE("credential");
    OK(sbx_session_stop(s, err));
    sbx_session_free(s);

    server_shutdown(server, port);
    check_close_scope(ctx);
    puts("test_egress: ok");
    return 0;
}
