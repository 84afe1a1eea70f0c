/* Helpers for the C tests: assertions that report the status and message, and a test
 * scope (its own sandbox scope label and working dir) whose sessions are removed at the
 * end, or at exit through podman when a check failed. Built against the installed
 * sandbox.h / libsandbox. */
#ifndef SANDBOX_TEST_CHECK_H
#define SANDBOX_TEST_CHECK_H

#define _XOPEN_SOURCE 700
#include <sandbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char check_last_message[4096];
static char check_scope_name[96];
static char check_dir[256];

/* Removes the scope's containers and control dirs with podman itself, so a failing test
 * leaves nothing behind even when the library misbehaved. */
static void check_cleanup_scope(void) {
    char cmd[1024];
    if (check_scope_name[0] == '\0') return;
    snprintf(cmd, sizeof cmd,
             "podman ps -a --filter label=sandbox.scope=%s --format '{{.Names}} {{index .Labels \"sandbox.control\"}}' "
             "| while read -r name control; do podman rm -f -t 0 \"$name\" >/dev/null 2>&1; "
             "case \"$control\" in /*) rm -rf \"$control\";; esac; done",
             check_scope_name);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of scope %s failed\n", check_scope_name);
    if (check_dir[0] != '\0') {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", check_dir);
        if (system(cmd) != 0) fprintf(stderr, "removing %s failed\n", check_dir);
    }
}

static void check_die(const char *file, int line, const char *expr, sbx_status got, sbx_status want,
                      sbx_error *err) {
    const char *name = sbx_status_name((uint32_t)got);
    fprintf(stderr, "%s:%d: %s\n  returned %s (%u), expected %s: %s\n", file, line, expr, name ? name : "?",
            (unsigned)got, sbx_status_name((uint32_t)want), err ? sbx_error_message(err) : "(no error)");
    sbx_error_free(err);
    check_cleanup_scope();
    exit(1);
}

/* OK(call): the call, which uses the name `err` for its error slot, must succeed. */
#define OK(expr)                                                                        \
    do {                                                                                \
        sbx_error *check_e_ = NULL;                                                     \
        sbx_error **err = &check_e_;                                                    \
        sbx_status check_s_ = (expr);                                                   \
        if (check_s_ != SBX_STATUS_OK || check_e_ != NULL)                              \
            check_die(__FILE__, __LINE__, #expr, check_s_, SBX_STATUS_OK, check_e_);    \
    } while (0)

/* FAILS(status, call): the call must fail with `status`, and its error must carry the
 * same code and a message (kept in check_last_message). */
#define FAILS(want, expr)                                                               \
    do {                                                                                \
        sbx_error *check_e_ = NULL;                                                     \
        sbx_error **err = &check_e_;                                                    \
        sbx_status check_s_ = (expr);                                                   \
        if (check_s_ != (want) || check_e_ == NULL || sbx_error_code(check_e_) != (want) || \
            sbx_error_message(check_e_)[0] == '\0')                                     \
            check_die(__FILE__, __LINE__, #expr, check_s_, (want), check_e_);           \
        snprintf(check_last_message, sizeof check_last_message, "%s", sbx_error_message(check_e_)); \
        sbx_error_free(check_e_);                                                       \
    } while (0)

#define EXPECT(cond)                                                                    \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);         \
            check_cleanup_scope();                                                      \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* The last FAILS message must contain `needle`. */
#define EXPECT_MESSAGE(needle)                                                          \
    do {                                                                                \
        if (strstr(check_last_message, (needle)) == NULL) {                             \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,  \
                    check_last_message, (needle));                                      \
            check_cleanup_scope();                                                      \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* A context for a scope of its own (configuration from the environment, provisioning
 * off), and a fresh working dir. */
static sbx_context *check_open_scope(const char *tag) {
    sbx_config *cfg = NULL;
    sbx_context *ctx = NULL;
    EXPECT(sbx_abi_version() == SBX_ABI_VERSION);
    snprintf(check_scope_name, sizeof check_scope_name, "c-%s-%ld", tag, (long)getpid());
    snprintf(check_dir, sizeof check_dir, "/tmp/sandbox-c-test.XXXXXX");
    EXPECT(mkdtemp(check_dir) != NULL);
    OK(sbx_config_from_env(&cfg, err));
    OK(sbx_config_set_scope(cfg, check_scope_name, err));
    OK(sbx_config_set_provision(cfg, false, err));
    OK(sbx_context_new(cfg, &ctx, err));
    sbx_config_free(cfg);
    return ctx;
}

/* Starts session `id` in the scope's working dir. */
static sbx_session *check_start(sbx_context *ctx, const char *id) {
    sbx_session_spec *spec = NULL;
    sbx_session *s = NULL;
    OK(sbx_session_spec_new(id, check_dir, &spec, err));
    OK(sbx_context_start(ctx, spec, &s, err));
    sbx_session_spec_free(spec);
    return s;
}

/* Reaps whatever the test left in its scope (through the library), frees the context,
 * then checks with podman that nothing is left. */
static void check_close_scope(sbx_context *ctx) {
    sbx_string_list *reaped = NULL;
    char cmd[512];
    OK(sbx_context_reap_orphans(ctx, NULL, 0, &reaped, err));
    sbx_string_list_free(reaped);
    sbx_context_free(ctx);
    snprintf(cmd, sizeof cmd, "test -z \"$(podman ps -aq --filter label=sandbox.scope=%s)\"", check_scope_name);
    EXPECT(system(cmd) == 0);
    check_cleanup_scope();
    check_scope_name[0] = '\0';
}

/* A unique session id. */
static const char *check_id(const char *tag) {
    static char id[64];
    static int n;
    snprintf(id, sizeof id, "%s-%ld-%d", tag, (long)getpid(), n++);
    return id;
}

#endif
