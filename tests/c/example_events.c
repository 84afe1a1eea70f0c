/* The README's C events example: file events followed from a poll(2) loop. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <sandbox.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    sbx_config *cfg = NULL;
    sbx_context *ctx = NULL;
    sbx_session_spec *spec = NULL;
    sbx_session *session = NULL;
    sbx_event_stream *events = NULL;
    sbx_event *e = NULL;
    sbx_exec_result *result = NULL;
    sbx_error *err = NULL;
    const char *cmd[] = {"sh", "-c", "echo hi > src/a.txt && mv src/a.txt src/b.txt"};
    size_t root = strlen(dir) + 1; /* event paths are absolute: print them relative to dir */
    char src[4096];
    int renamed = 0;

    /* A project with a src/ directory: the working dir is watched, all of it, once start returns. */
    snprintf(src, sizeof src, "%s/src", dir);
    if (mkdir(src, 0755) != 0) {
        perror(src);
        return 1;
    }

    if (sbx_config_from_env(&cfg, &err) || sbx_context_new(cfg, &ctx, &err)) goto fail;
    if (sbx_session_spec_new("c-events", dir, &spec, &err)) goto fail;
    if (sbx_context_start(ctx, spec, &session, &err)) goto fail;
    /* From now on (0), file events only, anywhere (no path prefix). */
    if (sbx_session_events(session, 0, SBX_EVENT_KIND_FILE, NULL, &events, &err)) goto fail;
    if (sbx_session_exec(session, cmd, 3, NULL, &result, &err)) goto fail;

    /* The stream's descriptor is readable while an event is there: an event loop's job. */
    struct pollfd pfd = {.fd = sbx_event_stream_fd(events), .events = POLLIN};
    while (!renamed && poll(&pfd, 1, 10000) > 0) {
        if (sbx_event_stream_next(events, 0, NULL, &e, &err)) goto fail;
        if (!e) break; /* the stream ended: the session is gone */
        renamed = strcmp(sbx_event_action(e), "renamed") == 0;
        if (strcmp(sbx_event_action(e), "modified") != 0) /* may come or be coalesced */
            printf("%s %s%s%s\n", sbx_event_action(e), sbx_event_path(e) + root, renamed ? " from " : "",
                   renamed ? sbx_event_from(e) + root : "");
        sbx_event_free(e);
        e = NULL;
    }
    if (sbx_session_stats(session, &e, &err)) goto fail; /* a resources sample, as JSON */
    printf("stats: %s\n", strstr(sbx_event_json(e), "\"cpu_usec\"") ? "cpu_usec" : "?");
    sbx_event_free(e);
    e = NULL;

    if (sbx_session_stop(session, &err)) goto fail;
    /* Every stream ends with the session: its last event is lifecycle stopped. */
    for (;;) {
        sbx_event *last = NULL;
        if (sbx_event_stream_next(events, SBX_NO_TIMEOUT, NULL, &last, &err)) goto fail;
        if (!last) break;
        sbx_event_free(e);
        e = last;
    }
    printf("last: %s %s\n", e ? sbx_event_kind(e) : "-", e ? sbx_event_action(e) : "-");
    sbx_event_free(e);
    sbx_event_stream_free(events);
    sbx_exec_result_free(result);
    sbx_session_free(session);
    sbx_session_spec_free(spec);
    sbx_context_free(ctx);
    sbx_config_free(cfg);
    return renamed ? 0 : 1;
fail:
    fprintf(stderr, "error %s: %s\n", sbx_status_name(sbx_error_code(err)), sbx_error_message(err));
    sbx_error_free(err);
    if (session) sbx_session_stop(session, NULL);
    sbx_event_free(e);
    sbx_event_stream_free(events);
    sbx_exec_result_free(result);
    sbx_session_free(session);
    sbx_session_spec_free(spec);
    sbx_context_free(ctx);
    sbx_config_free(cfg);
    return 1;
}
