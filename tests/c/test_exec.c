/* start -> exec -> stop, with the start report, options, a timeout, attach and list. */
#include "check.h"

static void expect_stdout(const sbx_exec_result *r, const char *want) {
    const uint8_t *p = NULL;
    size_t n = 0;
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    EXPECT(p != NULL);
    EXPECT(n == strlen(want) && memcmp(p, want, n) == 0);
}

int main(void) {
    sbx_context *ctx = check_open_scope("exec");
    char id[64];
    const char *json = NULL, *version = NULL;
    sbx_exec_result *r = NULL;
    sbx_exec_options *opts = NULL;
    sbx_session *s, *again = NULL;
    sbx_session_list *list = NULL;
    const char *hello[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3"};
    const char *env_cwd[] = {"sh", "-c", "echo $GREETING; pwd"};
    const char *sleeper[] = {"sleep", "30"};
    const char *truth[] = {"true"};
    const char *counted[] = {"sh", "-c", "printf 12345; printf abc >&2"};
    const char *stubborn[] = {"sh", "-c", "trap 'echo got-term' TERM; sleep 30; echo after"};
    const uint8_t *p;
    size_t n;

    snprintf(id, sizeof id, "%s", check_id("exec"));
    s = check_start(ctx, id);
    EXPECT(strcmp(sbx_session_id(s), id) == 0);
    OK(sbx_session_start_report_json(s, &json, err));
    EXPECT(strstr(json, "\"session_id\"") != NULL && strstr(json, id) != NULL);
    OK(sbx_session_ping(s, err));
    OK(sbx_session_agent_version(s, &version, err));
    EXPECT(version[0] != '\0');

    OK(sbx_session_exec(s, hello, 3, NULL, &r, err));
    expect_stdout(r, "hello\n");
    OK(sbx_exec_result_stderr(r, &p, &n, err));
    EXPECT(n == 5 && memcmp(p, "oops\n", 5) == 0);
    EXPECT(sbx_exec_result_exit_code(r) == 3);
    EXPECT(!sbx_exec_result_success(r) && !sbx_exec_result_timed_out(r));
    EXPECT(sbx_exec_result_stdout_total(r) == 6 && sbx_exec_result_stderr_total(r) == 5);
    sbx_exec_result_free(r);

    OK(sbx_exec_options_new(&opts, err));
    OK(sbx_exec_options_add_env(opts, "GREETING", "hi there", err));
    OK(sbx_exec_options_set_cwd(opts, "/tmp", err));
    OK(sbx_exec_options_set_timeout_ms(opts, 300, err));
    OK(sbx_session_exec(s, env_cwd, 3, opts, &r, err));
    expect_stdout(r, "hi there\n/tmp\n");
    sbx_exec_result_free(r);
    OK(sbx_session_exec(s, sleeper, 2, opts, &r, err));
    EXPECT(sbx_exec_result_timed_out(r));
    EXPECT(sbx_exec_result_exit_code(r) == -1 && sbx_exec_result_signal(r) > 0);
    sbx_exec_result_free(r);
    sbx_exec_options_free(opts);

    /* The options rule: zero is zero where it means something (an output cap of 0
     * captures nothing and counts everything; a kill grace of 0 kills at once) and
     * SBX_STATUS_INVALID_ARGUMENT where it does not (a timeout of 0). */
    OK(sbx_exec_options_new(&opts, err));
    OK(sbx_exec_options_set_output_cap(opts, 0, err));
    OK(sbx_session_exec(s, counted, 3, opts, &r, err));
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    EXPECT(n == 0);
    OK(sbx_exec_result_stderr(r, &p, &n, err));
    EXPECT(n == 0);
    EXPECT(sbx_exec_result_stdout_total(r) == 5 && sbx_exec_result_stderr_total(r) == 3);
    EXPECT(sbx_exec_result_stdout_truncated(r) && sbx_exec_result_stderr_truncated(r));
    sbx_exec_result_free(r);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_exec_options_set_timeout_ms(opts, 0, err));
    EXPECT_MESSAGE("timeout");
    OK(sbx_exec_options_set_timeout_ms(opts, 200, err));
    OK(sbx_exec_options_set_kill_grace_ms(opts, 0, err));
    OK(sbx_session_exec(s, stubborn, 3, opts, &r, err));
    EXPECT(sbx_exec_result_timed_out(r) && sbx_exec_result_signal(r) == 9);
    /* No SIGTERM came (the trap would have printed): SIGKILL at once. */
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    EXPECT(n == 0);
    sbx_exec_result_free(r);
    sbx_exec_options_free(opts);

    OK(sbx_context_list(ctx, &list, err));
    EXPECT(sbx_session_list_len(list) == 1);
    EXPECT(strcmp(sbx_session_list_id(list, 0), id) == 0);
    EXPECT(strcmp(sbx_session_list_state(list, 0), "running") == 0);
    EXPECT(sbx_session_list_id(list, 1) == NULL);
    sbx_session_list_free(list);

    OK(sbx_context_attach(ctx, id, &again, err));
    OK(sbx_session_exec(again, truth, 1, NULL, &r, err));
    EXPECT(sbx_exec_result_success(r));
    sbx_exec_result_free(r);
    FAILS(SBX_STATUS_NOT_AVAILABLE, sbx_session_start_report_json(again, &json, err));
    sbx_session_free(again);

    OK(sbx_session_stop(s, err));
    OK(sbx_session_stop(s, err)); /* idempotent */
    sbx_session_close(s);
    sbx_session_close(s); /* idempotent */
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_exec: ok");
    return 0;
}
