/* Streaming exec: stdin written and closed while events are read, a read with a timeout,
 * a signal, and close from another thread waking a blocked read (killing the command). */
#include "check.h"

#include <pthread.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* Reads events to the exit; stdout goes to out (up to cap bytes, counted in *out_len). */
static sbx_exec_event *collect(const sbx_exec_stream *st, uint8_t *out, size_t cap, size_t *out_len) {
    *out_len = 0;
    for (;;) {
        sbx_exec_event *ev = NULL;
        const uint8_t *p;
        size_t n;
        OK(sbx_exec_stream_next(st, SBX_NO_TIMEOUT, &ev, err));
        if (sbx_exec_event_kind(ev) == SBX_EVENT_KIND_EXIT) return ev;
        OK(sbx_exec_event_data(ev, &p, &n, err));
        if (sbx_exec_event_kind(ev) == SBX_EVENT_KIND_STDOUT) {
            EXPECT(*out_len + n <= cap);
            memcpy(out + *out_len, p, n);
            *out_len += n;
        }
        sbx_exec_event_free(ev);
    }
}

struct reader {
    const sbx_exec_stream *stream;
    sbx_status status;
};

static void *blocked_next(void *arg) {
    struct reader *r = arg;
    sbx_exec_event *ev = NULL;
    r->status = sbx_exec_stream_next(r->stream, SBX_NO_TIMEOUT, &ev, NULL);
    sbx_exec_event_free(ev);
    return NULL;
}

int main(void) {
    sbx_context *ctx = check_open_scope("stream");
    char id[64];
    sbx_session *s;
    sbx_exec_stream *st = NULL;
    sbx_exec_event *ev = NULL;
    const char *cat[] = {"cat"};
    const char *sleeper[] = {"sleep", "60"};
    static uint8_t in[100000], out[100000];
    size_t i, n;
    struct reader r;
    pthread_t th;

    for (i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7);
    snprintf(id, sizeof id, "%s", check_id("stream"));
    s = check_start(ctx, id);

    /* cat: bytes in through stdin, the same bytes out as events, then the exit. */
    OK(sbx_session_exec_stream(s, cat, 1, NULL, &st, err));
    OK(sbx_exec_stream_write_stdin(st, in, sizeof in, err));
    OK(sbx_exec_stream_close_stdin(st, err));
    ev = collect(st, out, sizeof out, &n);
    EXPECT(n == sizeof in && memcmp(in, out, n) == 0);
    EXPECT(sbx_exec_event_exit_code(ev) == 0 && sbx_exec_event_stdout_total(ev) == sizeof in);
    EXPECT(!sbx_exec_event_timed_out(ev) && !sbx_exec_event_oom_killed(ev));
    sbx_exec_event_free(ev);
    FAILS(SBX_STATUS_NOT_RUNNING, sbx_exec_stream_next(st, 100, &ev, err));
    sbx_exec_stream_free(st);

    /* Nothing in time is TIMEOUT; a signal ends the command. */
    OK(sbx_session_exec_stream(s, sleeper, 2, NULL, &st, err));
    ev = (sbx_exec_event *)&id;
    FAILS(SBX_STATUS_TIMEOUT, sbx_exec_stream_next(st, 200, &ev, err));
    EXPECT(ev == (sbx_exec_event *)&id);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_exec_stream_signal(st, 0, err));
    OK(sbx_exec_stream_signal(st, 15, err));
    ev = collect(st, out, sizeof out, &n);
    EXPECT(sbx_exec_event_signal(ev) == 15 && sbx_exec_event_exit_code(ev) == -1);
    sbx_exec_event_free(ev);
    sbx_exec_stream_free(st);

    /* close() on this thread wakes a next() blocked on another. */
    OK(sbx_session_exec_stream(s, sleeper, 2, NULL, &st, err));
    r.stream = st;
    r.status = SBX_STATUS_OK;
    EXPECT(pthread_create(&th, NULL, blocked_next, &r) == 0);
    sleep_ms(300);
    sbx_exec_stream_close(st);
    EXPECT(pthread_join(th, NULL) == 0);
    if (r.status != SBX_STATUS_CLOSED) fprintf(stderr, "blocked next returned %s\n", sbx_status_name(r.status));
    EXPECT(r.status == SBX_STATUS_CLOSED);
    sbx_exec_stream_close(st); /* idempotent */
    FAILS(SBX_STATUS_CLOSED, sbx_exec_stream_write_stdin(st, in, 1, err));
    sbx_exec_stream_free(st);

    OK(sbx_session_stop(s, err));
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_stream: ok");
    return 0;
}
