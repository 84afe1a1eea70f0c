/* Errors and their messages: bad input, a missing session, exec after stop, NULL
 * arguments with out-params left alone, the panic boundary, a blocking call from a
 * runtime thread, and close / cancel waking a call blocked on another thread. */
#include "check.h"

#include <pthread.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

struct blocked_call {
    sbx_session *session;
    const sbx_exec_options *options;
    sbx_status status;
    char message[512];
};

static void *run_sleep(void *arg) {
    struct blocked_call *b = arg;
    const char *argv[] = {"sleep", "60"};
    sbx_exec_result *r = NULL;
    sbx_error *e = NULL;
    b->status = sbx_session_exec(b->session, argv, 2, b->options, &r, &e);
    if (e) snprintf(b->message, sizeof b->message, "%s", sbx_error_message(e));
    sbx_error_free(e);
    sbx_exec_result_free(r);
    return NULL;
}

struct on_runtime {
    sbx_session *session;
    sbx_status status;
};

static void exec_on_runtime_thread(void *data) {
    struct on_runtime *o = data;
    const char *argv[] = {"true"};
    sbx_exec_result *r = NULL;
    o->status = sbx_session_exec(o->session, argv, 1, NULL, &r, NULL);
    sbx_exec_result_free(r);
}

static int sleep_is_running(sbx_session *watcher) {
    const char *argv[] = {"sh", "-c", "ps | grep -v grep | grep -q 'sleep 60'"};
    sbx_exec_result *r = NULL;
    int running;
    OK(sbx_session_exec(watcher, argv, 3, NULL, &r, err));
    running = sbx_exec_result_exit_code(r) == 0;
    sbx_exec_result_free(r);
    return running;
}

static void wait_for_sleep(sbx_session *watcher, int want_running) {
    int i;
    for (i = 0; i < 200 && sleep_is_running(watcher) != want_running; i++) sleep_ms(50);
    EXPECT(sleep_is_running(watcher) == want_running);
}

int main(void) {
    sbx_context *ctx = check_open_scope("errors");
    char id[64];
    sbx_session *s, *watcher = NULL, *missing = (sbx_session *)&id; /* sentinel: must stay */
    sbx_session_spec *spec = (sbx_session_spec *)&id;
    sbx_exec_result *r = NULL;
    sbx_exec_options *opts = NULL;
    sbx_cancel_token *token = NULL;
    const char *truth[] = {"true"};
    const char *json = "untouched";
    struct blocked_call b;
    struct on_runtime o;
    pthread_t th;

    /* Bad input never reaches podman. */
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_spec_new("bad id!", check_dir, &spec, err));
    EXPECT_MESSAGE("session id");
    EXPECT(spec == (sbx_session_spec *)&id);
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_spec_new(NULL, check_dir, &spec, err));
    EXPECT_MESSAGE("id is NULL");
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_attach(ctx, "../x", &missing, err));
    FAILS(SBX_STATUS_SESSION_NOT_FOUND, sbx_context_attach(ctx, "no-such-session", &missing, err));
    EXPECT_MESSAGE("no-such-session");
    EXPECT(missing == (sbx_session *)&id);
    FAILS(SBX_STATUS_SESSION_NOT_FOUND, sbx_context_stop(ctx, "no-such-session", err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_context_list(ctx, NULL, err));
    EXPECT_MESSAGE("out");
    EXPECT(sbx_context_list(NULL, NULL, NULL) == SBX_STATUS_NULL_ARGUMENT); /* err may be NULL */

    /* The panic boundary. */
    FAILS(SBX_STATUS_PANIC, sbx_test_trigger_panic(err));
    EXPECT_MESSAGE("deliberate panic");
    EXPECT(strcmp(sbx_status_name(SBX_STATUS_PANIC), "SBX_STATUS_PANIC") == 0);
    EXPECT(sbx_status_name(110) == NULL);

    snprintf(id, sizeof id, "%s", check_id("errors"));
    s = check_start(ctx, id);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_exec(s, truth, 0, NULL, &r, err));
    EXPECT_MESSAGE("argv");
    EXPECT(r == NULL);
    OK(sbx_exec_options_new(&opts, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_exec_options_set_timeout_ms(opts, 0, err));
    OK(sbx_exec_options_set_cwd(opts, "/no/such/dir", err));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_exec(s, truth, 1, opts, &r, err));
    sbx_exec_options_free(opts);

    /* A blocking call on a library runtime thread is refused, not deadlocked. */
    o.session = s;
    o.status = SBX_STATUS_OK;
    OK(sbx_test_call_on_runtime_thread(ctx, exec_on_runtime_thread, &o, err));
    EXPECT(o.status == SBX_STATUS_WRONG_THREAD);

    /* close() on this thread wakes an exec blocked on another; the command is killed. */
    OK(sbx_context_attach(ctx, id, &watcher, err));
    memset(&b, 0, sizeof b);
    b.session = s;
    EXPECT(pthread_create(&th, NULL, run_sleep, &b) == 0);
    wait_for_sleep(watcher, 1);
    sbx_session_close(s);
    EXPECT(pthread_join(th, NULL) == 0);
    EXPECT(b.status == SBX_STATUS_CLOSED);
    EXPECT(strstr(b.message, "closed") != NULL);
    wait_for_sleep(watcher, 0);
    FAILS(SBX_STATUS_CLOSED, sbx_session_ping(s, err));
    sbx_session_free(s); /* free after close */

    /* A cancel token does the same for one call, from another thread. */
    OK(sbx_cancel_token_new(&token, err));
    OK(sbx_exec_options_new(&opts, err));
    OK(sbx_exec_options_set_cancel_token(opts, token, err));
    memset(&b, 0, sizeof b);
    b.session = watcher;
    b.options = opts;
    EXPECT(pthread_create(&th, NULL, run_sleep, &b) == 0);
    wait_for_sleep(watcher, 1);
    sbx_cancel_token_cancel(token);
    EXPECT(pthread_join(th, NULL) == 0);
    EXPECT(b.status == SBX_STATUS_CANCELLED);
    wait_for_sleep(watcher, 0);
    sbx_cancel_token_free(token);
    sbx_exec_options_free(opts);

    /* Exec after stop names the reason. */
    OK(sbx_session_stop(watcher, err));
    FAILS(SBX_STATUS_SESSION_NOT_FOUND, sbx_session_exec(watcher, truth, 1, NULL, &r, err));
    EXPECT_MESSAGE("stopped");
    FAILS(SBX_STATUS_NOT_AVAILABLE, sbx_session_start_report_json(watcher, &json, err));
    EXPECT(strcmp(json, "untouched") == 0);
    sbx_session_free(watcher);

    check_close_scope(ctx);
    puts("test_errors: ok");
    return 0;
}
