/* The README's C example: start a session, run a command, run a background task and
 * read its output, stop. */
#include <sandbox.h>
#include <stdio.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    sbx_config *cfg = NULL;
    sbx_context *ctx = NULL;
    sbx_session_spec *spec = NULL;
    sbx_session *session = NULL;
    sbx_exec_result *result = NULL;
    sbx_task_spec *task_spec = NULL;
    sbx_task *task = NULL;
    sbx_task_info *info = NULL;
    sbx_output_chunk *chunk = NULL;
    sbx_error *err = NULL;
    const char *cmd[] = {"sh", "-c", "echo hello from $(uname -s)"};
    const uint8_t *out;
    size_t len;
    uint64_t offset = 0;

    if (sbx_abi_version() != SBX_ABI_VERSION) return 2;
    if (sbx_config_from_env(&cfg, &err) || sbx_context_new(cfg, &ctx, &err)) goto fail;
    if (sbx_session_spec_new("c-example", dir, &spec, &err)) goto fail;
    if (sbx_context_start(ctx, spec, &session, &err)) goto fail;

    if (sbx_session_exec(session, cmd, 3, NULL, &result, &err)) goto fail;
    sbx_exec_result_stdout(result, &out, &len, NULL);
    printf("exit %d: %.*s", sbx_exec_result_exit_code(result), (int)len, (const char *)out);
    sbx_exec_result_free(result);

    /* A background task: it lives in the session, so any process could read it later.
     * Follow its output (each read waits for more) until it is complete. */
    if (sbx_task_spec_new_shell("for i in 1 2 3; do echo tick $i; done", &task_spec, &err)) goto fail;
    if (sbx_session_spawn_task(session, task_spec, &task, &err)) goto fail;
    do {
        sbx_output_chunk_free(chunk);
        chunk = NULL;
        if (sbx_task_output(task, SBX_TASK_STREAM_MERGED, offset, 4096, SBX_NO_TIMEOUT, NULL, &chunk, &err)) goto fail;
        sbx_output_chunk_data(chunk, &out, &len, NULL);
        printf("%.*s", (int)len, (const char *)out);
        offset = sbx_output_chunk_next_offset(chunk);
    } while (!sbx_output_chunk_finished(chunk));
    if (sbx_task_wait(task, SBX_NO_TIMEOUT, NULL, &info, &err)) goto fail;
    printf("task exited %d\n", sbx_task_info_exit_code(info));

    if (sbx_session_stop(session, &err)) goto fail;
    sbx_output_chunk_free(chunk);
    sbx_task_info_free(info);
    sbx_task_free(task);
    sbx_task_spec_free(task_spec);
    sbx_session_free(session);
    sbx_session_spec_free(spec);
    sbx_context_free(ctx);
    sbx_config_free(cfg);
    return 0;
fail:
    fprintf(stderr, "error %s: %s\n", sbx_status_name(sbx_error_code(err)), sbx_error_message(err));
    sbx_error_free(err);
    if (session) sbx_session_stop(session, NULL);
    sbx_output_chunk_free(chunk);
    sbx_task_info_free(info);
    sbx_task_free(task);
    sbx_task_spec_free(task_spec);
    sbx_session_free(session);
    sbx_session_spec_free(spec);
    sbx_context_free(ctx);
    sbx_config_free(cfg);
    return 1;
}
