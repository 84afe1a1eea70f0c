/* Background tasks: spawn, read output (stdout, stderr, tail, a waiting read that times
 * out), wait, kill, list, attach by id, typed errors, close and free. */
#include "check.h"

/* The whole `stream` output of a task must be `want` (bytes, NULs allowed). Reads with
 * waits until the output is complete: the agent may report the task ended before it has
 * drained the task's pipes. */
static void expect_output(const sbx_task *t, uint32_t stream, const char *want, size_t want_len) {
    static uint8_t seen[4096];
    size_t used = 0;
    uint64_t offset = 0;
    bool finished = false;
    while (!finished) {
        sbx_output_chunk *c = NULL;
        const uint8_t *p = NULL;
        size_t n = 0;
        OK(sbx_task_output(t, stream, offset, sizeof seen - used, SBX_NO_TIMEOUT, NULL, &c, err));
        OK(sbx_output_chunk_data(c, &p, &n, err));
        EXPECT(used + n <= sizeof seen);
        memcpy(seen + used, p, n);
        used += n;
        offset = sbx_output_chunk_next_offset(c);
        finished = sbx_output_chunk_finished(c);
        sbx_output_chunk_free(c);
    }
    EXPECT(used == want_len && memcmp(seen, want, used) == 0);
}

static sbx_task *spawn(sbx_session *s, const char *line) {
    sbx_task_spec *spec = NULL;
    sbx_task *t = NULL;
    OK(sbx_task_spec_new_shell(line, &spec, err));
    OK(sbx_session_spawn_task(s, spec, &t, err));
    sbx_task_spec_free(spec);
    return t;
}

int main(void) {
    sbx_context *ctx = check_open_scope("tasks");
    char id[64], task_id[80];
    sbx_session *s;
    sbx_task *t, *sleeper, *again = NULL, *untouched = (sbx_task *)&id;
    sbx_task_info *info = NULL;
    sbx_task_list *list = NULL;
    sbx_output_chunk *c = NULL;
    const uint8_t *p;
    size_t n;
    uint64_t next;

    snprintf(id, sizeof id, "%s", check_id("tasks"));
    s = check_start(ctx, id);

    /* Spawned, waited, read. */
    t = spawn(s, "echo out; echo err >&2; printf 'x\\000y'; exit 4");
    snprintf(task_id, sizeof task_id, "%s", sbx_task_id(t));
    OK(sbx_task_wait(t, SBX_NO_TIMEOUT, NULL, &info, err));
    EXPECT(sbx_task_info_state(info) == SBX_PROCESS_STATE_EXITED);
    EXPECT(sbx_task_info_exit_code(info) == 4 && sbx_task_info_signal(info) == 0);
    EXPECT(strcmp(sbx_task_info_id(info), task_id) == 0);
    EXPECT(strstr(sbx_task_info_command(info), "echo out") != NULL);
    EXPECT(sbx_task_info_pid(info) > 0 && sbx_task_info_ended_unix_ms(info) >= sbx_task_info_started_unix_ms(info));
    sbx_task_info_free(info);
    expect_output(t, SBX_TASK_STREAM_STDOUT, "out\nx\0y", 7);
    expect_output(t, SBX_TASK_STREAM_STDERR, "err\n", 4);
    OK(sbx_task_tail(t, SBX_TASK_STREAM_STDOUT, 3, &c, err));
    OK(sbx_output_chunk_data(c, &p, &n, err));
    EXPECT(n == 3 && memcmp(p, "x\0y", 3) == 0 && sbx_output_chunk_offset(c) == 4);
    EXPECT(sbx_output_chunk_finished(c) && sbx_output_chunk_end(c) == 7);
    sbx_output_chunk_free(c);

    /* Listed, and found again by id. */
    OK(sbx_session_list_tasks(s, &list, err));
    EXPECT(sbx_task_list_len(list) == 1);
    EXPECT(strcmp(sbx_task_info_id(sbx_task_list_get(list, 0)), task_id) == 0);
    EXPECT(sbx_task_list_get(list, 1) == NULL);
    sbx_task_list_free(list);
    OK(sbx_session_attach_task(s, task_id, &again, err));
    OK(sbx_task_get_info(again, &info, err));
    EXPECT(sbx_task_info_exit_code(info) == 4);
    sbx_task_info_free(info);
    sbx_task_free(again);

    /* A running task: a waiting read gets its first line, the next one times out. */
    sleeper = spawn(s, "echo started; exec sleep 60");
    OK(sbx_task_output(sleeper, SBX_TASK_STREAM_MERGED, 0, 100, SBX_NO_TIMEOUT, NULL, &c, err));
    OK(sbx_output_chunk_data(c, &p, &n, err));
    EXPECT(n == 8 && memcmp(p, "started\n", 8) == 0);
    next = sbx_output_chunk_next_offset(c);
    sbx_output_chunk_free(c);
    c = (sbx_output_chunk *)&id;
    FAILS(SBX_STATUS_TIMEOUT, sbx_task_output(sleeper, SBX_TASK_STREAM_MERGED, next, 100, 200, NULL, &c, err));
    EXPECT(c == (sbx_output_chunk *)&id);
    FAILS(SBX_STATUS_TIMEOUT, sbx_task_wait(sleeper, 100, NULL, &info, err));
    OK(sbx_task_kill(sleeper, 9, err));
    OK(sbx_task_wait(sleeper, SBX_NO_TIMEOUT, NULL, &info, err));
    EXPECT(sbx_task_info_state(info) == SBX_PROCESS_STATE_KILLED && sbx_task_info_signal(info) == 9);
    sbx_task_info_free(info);
    FAILS(SBX_STATUS_NOT_RUNNING, sbx_task_kill(sleeper, 9, err));

    /* Typed errors. */
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_task_output(t, 9, 0, 100, 0, NULL, &c, err));
    EXPECT_MESSAGE("stream");
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_task_kill(t, 0, err));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_attach_task(s, "task-nosuch", &untouched, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_attach_task(s, "bad id!", &untouched, err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_spawn_task(s, NULL, &untouched, err));
    EXPECT(untouched == (sbx_task *)&id);

    /* Close is idempotent; calls after it fail; free after close. */
    sbx_task_close(sleeper);
    sbx_task_close(sleeper);
    FAILS(SBX_STATUS_CLOSED, sbx_task_get_info(sleeper, &info, err));
    sbx_task_free(sleeper);
    sbx_task_free(t);

    OK(sbx_session_stop(s, err));
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_tasks: ok");
    return 0;
}
