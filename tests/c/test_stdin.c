/* stdin round trip: every byte value, NUL included, comes back unchanged. */
#include "check.h"

int main(void) {
    sbx_context *ctx = check_open_scope("stdin");
    sbx_session *s = check_start(ctx, check_id("stdin"));
    enum { LEN = 200000 };
    uint8_t *input = malloc(LEN);
    const char *cat[] = {"cat"};
    const char *wc[] = {"wc", "-c"};
    sbx_exec_result *r = NULL;
    const uint8_t *p = NULL;
    size_t n = 0, i;

    EXPECT(input != NULL);
    for (i = 0; i < LEN; i++) input[i] = (uint8_t)(i % 256);
    OK(sbx_session_exec_stdin(s, cat, 1, input, LEN, NULL, &r, err));
    /* The input may be changed or freed once the call returned: it was copied. */
    memset(input, 0xAA, LEN);
    for (i = 0; i < LEN; i++) input[i] = (uint8_t)(i % 256);
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    EXPECT(n == LEN && memcmp(p, input, LEN) == 0);
    EXPECT(sbx_exec_result_success(r));
    sbx_exec_result_free(r);

    /* Only NUL bytes. */
    memset(input, 0, 1000);
    OK(sbx_session_exec_stdin(s, cat, 1, input, 1000, NULL, &r, err));
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    EXPECT(n == 1000 && memcmp(p, input, 1000) == 0);
    sbx_exec_result_free(r);

    /* Empty stdin as (NULL, 0). */
    OK(sbx_session_exec_stdin(s, wc, 2, NULL, 0, NULL, &r, err));
    OK(sbx_exec_result_stdout(r, &p, &n, err));
    EXPECT(n >= 1 && p[0] == '0');
    sbx_exec_result_free(r);
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_exec_stdin(s, wc, 2, NULL, 5, NULL, &r, err));
    EXPECT_MESSAGE("stdin");

    free(input);
    OK(sbx_session_stop(s, err));
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_stdin: ok");
    return 0;
}
