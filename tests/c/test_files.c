/* Files: a byte-exact round trip (NUL bytes included), stat, list_dir, remove, and typed
 * errors. */
#include "check.h"

int main(void) {
    sbx_context *ctx = check_open_scope("files");
    char id[64], path[600];
    sbx_session *s;
    sbx_buffer *buf = NULL;
    sbx_file_info *info = NULL;
    sbx_file_list *list = NULL;
    static uint8_t data[300000];
    const uint8_t *p;
    size_t i, n;

    for (i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i % 251);
    snprintf(id, sizeof id, "%s", check_id("files"));
    s = check_start(ctx, id);
    snprintf(path, sizeof path, "%s/data.bin", check_dir);

    OK(sbx_session_write_file(s, path, data, sizeof data, -1, err));
    OK(sbx_session_read_file(s, path, &buf, err));
    OK(sbx_buffer_data(buf, &p, &n, err));
    EXPECT(n == sizeof data && sbx_buffer_len(buf) == n && memcmp(p, data, n) == 0);
    sbx_buffer_free(buf);

    OK(sbx_session_stat(s, path, &info, err));
    EXPECT(strcmp(sbx_file_info_name(info), "data.bin") == 0);
    EXPECT(sbx_file_info_kind(info) == SBX_FILE_KIND_FILE);
    EXPECT(sbx_file_info_size(info) == sizeof data && sbx_file_info_mode(info) == 0644);
    EXPECT(sbx_file_info_target(info) == NULL && sbx_file_info_modified_unix_ms(info) > 0);
    sbx_file_info_free(info);

    OK(sbx_session_list_dir(s, check_dir, &list, err));
    EXPECT(sbx_file_list_len(list) == 1);
    EXPECT(strcmp(sbx_file_info_name(sbx_file_list_get(list, 0)), "data.bin") == 0);
    EXPECT(sbx_file_list_get(list, 1) == NULL);
    sbx_file_list_free(list);

    OK(sbx_session_write_file(s, path, NULL, 0, 0600, err));
    OK(sbx_session_stat(s, path, &info, err));
    EXPECT(sbx_file_info_size(info) == 0 && sbx_file_info_mode(info) == 0600);
    sbx_file_info_free(info);
    OK(sbx_session_remove(s, path, false, err));
    info = (sbx_file_info *)&id;
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_stat(s, path, &info, err));
    EXPECT(info == (sbx_file_info *)&id);
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_read_file(s, "/no/such/file", &buf, err));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_write_file(s, "/no/such/dir/f", data, 1, -1, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_write_file(s, path, data, 1, 010000, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_read_file(s, "", &buf, err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_write_file(s, path, NULL, 5, -1, err));

    OK(sbx_session_stop(s, err));
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_files: ok");
    return 0;
}
