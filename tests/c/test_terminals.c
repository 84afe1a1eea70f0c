/* Terminals: write `stty size`, resize, read the new size, read with a timeout returns
 * SBX_STATUS_TIMEOUT, kill, wait; a reader thread blocked in a terminal read is unblocked
 * by close on another thread; attach by id replays the scrollback. */
#include "check.h"

#include <pthread.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* Reads from *offset until the output read contains `needle`. */
static void read_until(const sbx_terminal *t, uint64_t *offset, const char *needle) {
    static char seen[65536];
    size_t used = 0;
    int i;
    seen[0] = '\0';
    for (i = 0; i < 100; i++) {
        sbx_output_chunk *c = NULL;
        sbx_error *e = NULL;
        const uint8_t *p;
        size_t n;
        sbx_status st = sbx_terminal_read(t, *offset, sizeof seen - 1 - used, 200, NULL, &c, &e);
        if (st == SBX_STATUS_TIMEOUT) {
            sbx_error_free(e);
            continue;
        }
        if (st != SBX_STATUS_OK) check_die(__FILE__, __LINE__, "sbx_terminal_read", st, SBX_STATUS_OK, e);
        OK(sbx_output_chunk_data(c, &p, &n, err));
        memcpy(seen + used, p, n);
        used += n;
        seen[used] = '\0';
        *offset = sbx_output_chunk_next_offset(c);
        sbx_output_chunk_free(c);
        if (strstr(seen, needle) != NULL) return;
    }
    fprintf(stderr, "terminal output never contained \"%s\": \"%s\"\n", needle, seen);
    EXPECT(0);
}

/* Reads until a short wait brings nothing; returns the next offset. */
static uint64_t drain(const sbx_terminal *t, uint64_t offset) {
    for (;;) {
        sbx_output_chunk *c = NULL;
        sbx_error *e = NULL;
        sbx_status st = sbx_terminal_read(t, offset, 65536, 300, NULL, &c, &e);
        if (st == SBX_STATUS_TIMEOUT) {
            sbx_error_free(e);
            return offset;
        }
        if (st != SBX_STATUS_OK) check_die(__FILE__, __LINE__, "sbx_terminal_read", st, SBX_STATUS_OK, e);
        offset = sbx_output_chunk_next_offset(c);
        sbx_output_chunk_free(c);
    }
}

static sbx_terminal *open_terminal(sbx_session *s, const char *command) {
    sbx_terminal_spec *spec = NULL;
    sbx_terminal *t = NULL;
    OK(sbx_terminal_spec_new(24, 80, &spec, err));
    if (command) OK(sbx_terminal_spec_set_shell_command(spec, command, err));
    OK(sbx_session_open_terminal(s, spec, &t, err));
    sbx_terminal_spec_free(spec);
    return t;
}

static void type(const sbx_terminal *t, const char *text) {
    OK(sbx_terminal_write(t, (const uint8_t *)text, strlen(text), err));
}

struct reader {
    const sbx_terminal *terminal;
    uint64_t offset;
    sbx_status status;
};

static void *blocked_read(void *arg) {
    struct reader *r = arg;
    sbx_output_chunk *c = NULL;
    r->status = sbx_terminal_read(r->terminal, r->offset, 4096, SBX_NO_TIMEOUT, NULL, &c, NULL);
    sbx_output_chunk_free(c);
    return NULL;
}

int main(void) {
    sbx_context *ctx = check_open_scope("terminals");
    char id[64], term_id[80];
    sbx_session *s;
    sbx_terminal *t, *sleeper, *again = NULL;
    sbx_terminal_info *info = NULL;
    sbx_terminal_list *list = NULL;
    sbx_output_chunk *c = (sbx_output_chunk *)&id;
    uint64_t offset = 0;
    struct reader r;
    pthread_t th;

    snprintf(id, sizeof id, "%s", check_id("terminals"));
    s = check_start(ctx, id);

    /* stty size, resize, the new size. */
    t = open_terminal(s, NULL);
    type(t, "stty size\n");
    read_until(t, &offset, "24 80");
    OK(sbx_terminal_resize(t, 40, 120, err));
    type(t, "stty size\n");
    read_until(t, &offset, "40 120");
    OK(sbx_terminal_get_info(t, &info, err));
    EXPECT(sbx_terminal_info_rows(info) == 40 && sbx_terminal_info_cols(info) == 120);
    EXPECT(sbx_terminal_info_state(info) == SBX_PROCESS_STATE_RUNNING);
    sbx_terminal_info_free(info);

    /* Nothing more to read: a read with a timeout returns TIMEOUT and writes nothing. */
    offset = drain(t, offset);
    FAILS(SBX_STATUS_TIMEOUT, sbx_terminal_read(t, offset, 4096, 200, NULL, &c, err));
    EXPECT(c == (sbx_output_chunk *)&id);

    /* Kill, wait; then writing fails and a read reports the end. */
    OK(sbx_terminal_kill(t, 9, err));
    OK(sbx_terminal_wait(t, SBX_NO_TIMEOUT, NULL, &info, err));
    EXPECT(sbx_terminal_info_state(info) == SBX_PROCESS_STATE_KILLED && sbx_terminal_info_signal(info) == 9);
    sbx_terminal_info_free(info);
    FAILS(SBX_STATUS_NOT_RUNNING, sbx_terminal_write(t, (const uint8_t *)"x", 1, err));
    OK(sbx_terminal_read(t, offset, 4096, SBX_NO_TIMEOUT, NULL, &c, err));
    EXPECT(sbx_output_chunk_finished(c));
    sbx_output_chunk_free(c);

    /* A reader thread blocked in a terminal read, unblocked by close on this thread. */
    sleeper = open_terminal(s, "echo ready; exec sleep 60");
    offset = 0;
    read_until(sleeper, &offset, "ready");
    snprintf(term_id, sizeof term_id, "%s", sbx_terminal_id(sleeper));
    r.terminal = sleeper;
    r.offset = drain(sleeper, offset);
    r.status = SBX_STATUS_OK;
    EXPECT(pthread_create(&th, NULL, blocked_read, &r) == 0);
    sleep_ms(300);
    sbx_terminal_close(sleeper);
    EXPECT(pthread_join(th, NULL) == 0);
    EXPECT(r.status == SBX_STATUS_CLOSED);
    sbx_terminal_close(sleeper); /* idempotent */
    FAILS(SBX_STATUS_CLOSED, sbx_terminal_resize(sleeper, 10, 10, err));
    sbx_terminal_free(sleeper);

    /* The program runs on: found again by id, its scrollback replayed, then killed. */
    OK(sbx_session_list_terminals(s, &list, err));
    EXPECT(sbx_terminal_list_len(list) == 2);
    sbx_terminal_list_free(list);
    OK(sbx_session_attach_terminal(s, term_id, &again, err));
    offset = 0;
    read_until(again, &offset, "ready");
    OK(sbx_terminal_kill(again, 1, err));
    OK(sbx_terminal_wait(again, SBX_NO_TIMEOUT, NULL, &info, err));
    EXPECT(sbx_terminal_info_signal(info) == 1);
    sbx_terminal_info_free(info);
    sbx_terminal_free(again);

    /* Typed errors. */
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_terminal_resize(t, 0, 80, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_terminal_kill(t, 64, err));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_attach_terminal(s, "term-nosuch", &again, err));
    sbx_terminal_free(t);

    OK(sbx_session_stop(s, err));
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_terminals: ok");
    return 0;
}
