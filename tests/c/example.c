/* The README's C example: start a session, run a command, stop it. */
#include <sandbox.h>
#include <stdio.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    sbx_config *cfg = NULL;
    sbx_context *ctx = NULL;
    sbx_session_spec *spec = NULL;
    sbx_session *session = NULL;
    sbx_exec_result *result = NULL;
    sbx_error *err = NULL;
    const char *cmd[] = {"sh", "-c", "echo hello from $(uname -s)"};
    const uint8_t *out;
    size_t len;

    if (sbx_abi_version() != SBX_ABI_VERSION) return 2;
    if (sbx_config_from_env(&cfg, &err) || sbx_context_new(cfg, &ctx, &err)) goto fail;
    if (sbx_session_spec_new("c-example", dir, &spec, &err)) goto fail;
    if (sbx_context_start(ctx, spec, &session, &err)) goto fail;
    if (sbx_session_exec(session, cmd, 3, NULL, &result, &err) == SBX_STATUS_OK) {
        sbx_exec_result_stdout(result, &out, &len, NULL);
        printf("exit %d: %.*s", sbx_exec_result_exit_code(result), (int)len, (const char *)out);
        sbx_exec_result_free(result);
    } else {
        fprintf(stderr, "exec failed: %s\n", sbx_error_message(err));
        sbx_error_free(err);
        err = NULL;
    }
    if (sbx_session_stop(session, &err)) goto fail;
    sbx_session_free(session);
    sbx_session_spec_free(spec);
    sbx_context_free(ctx);
    sbx_config_free(cfg);
    return 0;
fail:
    fprintf(stderr, "error %s: %s\n", sbx_status_name(sbx_error_code(err)), sbx_error_message(err));
    sbx_error_free(err);
    if (session) sbx_session_stop(session, NULL);
    sbx_session_free(session);
    sbx_session_spec_free(spec);
    sbx_context_free(ctx);
    sbx_config_free(cfg);
    return 1;
}
