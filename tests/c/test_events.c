/* The session's event stream: the conformance scenario of tests/conformance/events.json
 * (compiled in as events_json.h by the Makefile, parsed here, so the steps cannot drift
 * from the file), read through sbx_event_stream_next with its descriptor polled; before
 * it, typed errors, a resource sample, and close on another thread waking a blocked
 * read. The runner mirrors `the_conformance_scenario` in tests/tests/events.rs. */
#include "check.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "events_json.h"

/* ---- A small JSON reader, enough for the scenario file. ---- */

enum json_type { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
    enum json_type type;
    double num;
    char *str;          /* J_STR */
    size_t len;         /* entries of J_ARR, J_OBJ */
    struct json *items; /* values of J_ARR, J_OBJ */
    char **keys;        /* keys of J_OBJ */
};

static const char *jp;

static void json_fail(const char *what) {
    fprintf(stderr, "events.json: %s at \"%.30s\"\n", what, jp);
    check_cleanup_scope();
    exit(1);
}

static void json_ws(void) {
    while (*jp == ' ' || *jp == '\n' || *jp == '\r' || *jp == '\t') jp++;
}

static char *json_string(void) {
    size_t cap = 32, n = 0;
    char *s = malloc(cap);
    EXPECT(s != NULL && *jp == '"');
    jp++;
    for (;;) {
        char c = *jp++;
        if (c == '\0') json_fail("unterminated string");
        if (c == '"') break;
        if (c == '\\') {
            c = *jp++;
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned code = 0;
                int i;
                for (i = 0; i < 4; i++) {
                    char h = *jp++;
                    code <<= 4;
                    if (h >= '0' && h <= '9') code |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') code |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') code |= (unsigned)(h - 'A' + 10);
                    else json_fail("bad \\u escape");
                }
                if (code == 0 || code >= 0x80) json_fail("a \\u escape outside ASCII");
                c = (char)code;
                break;
            }
            default: json_fail("bad escape");
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            EXPECT(s != NULL);
        }
        s[n++] = c;
    }
    s[n] = '\0';
    return s;
}

static void json_value(struct json *v);

/* One more entry of an array or object: its value slot. */
static struct json *json_push(struct json *v, char *key) {
    v->items = realloc(v->items, (v->len + 1) * sizeof *v->items);
    EXPECT(v->items != NULL);
    if (v->type == J_OBJ) {
        v->keys = realloc(v->keys, (v->len + 1) * sizeof *v->keys);
        EXPECT(v->keys != NULL);
        v->keys[v->len] = key;
    }
    return &v->items[v->len++];
}

static void json_value(struct json *v) {
    memset(v, 0, sizeof *v);
    json_ws();
    if (*jp == '{' || *jp == '[') {
        char close = *jp == '{' ? '}' : ']';
        v->type = *jp == '{' ? J_OBJ : J_ARR;
        jp++;
        json_ws();
        if (*jp == close) {
            jp++;
            return;
        }
        for (;;) {
            char *key = NULL;
            json_ws();
            if (v->type == J_OBJ) {
                if (*jp != '"') json_fail("expected a key");
                key = json_string();
                json_ws();
                if (*jp++ != ':') json_fail("expected ':'");
            }
            json_value(json_push(v, key));
            json_ws();
            if (*jp == ',') {
                jp++;
            } else if (*jp == close) {
                jp++;
                return;
            } else {
                json_fail("expected ',' or the end of the array or object");
            }
        }
    } else if (*jp == '"') {
        v->type = J_STR;
        v->str = json_string();
    } else if (strncmp(jp, "true", 4) == 0) {
        v->type = J_TRUE;
        jp += 4;
    } else if (strncmp(jp, "false", 5) == 0) {
        v->type = J_FALSE;
        jp += 5;
    } else if (strncmp(jp, "null", 4) == 0) {
        v->type = J_NULL;
        jp += 4;
    } else {
        char *end;
        v->type = J_NUM;
        v->num = strtod(jp, &end);
        if (end == jp) json_fail("expected a value");
        jp = end;
    }
}

static void json_free(struct json *v) {
    size_t i;
    for (i = 0; i < v->len; i++) {
        json_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

static const struct json *json_get(const struct json *o, const char *key) {
    size_t i;
    if (o == NULL || o->type != J_OBJ) return NULL;
    for (i = 0; i < o->len; i++)
        if (strcmp(o->keys[i], key) == 0) return &o->items[i];
    return NULL;
}

static const char *json_str(const struct json *o, const char *key) {
    const struct json *v = json_get(o, key);
    return v && v->type == J_STR ? v->str : NULL;
}

/* ---- Reading events. ---- */

/* The next event within timeout_ms; NULL when none came in time (*ended false) or the
 * stream has ended (*ended true). Any other outcome fails the test. */
static sbx_event *take(const sbx_event_stream *st, uint64_t timeout_ms, bool *ended) {
    sbx_event *e = NULL;
    sbx_error *er = NULL;
    sbx_status status = sbx_event_stream_next(st, timeout_ms, NULL, &e, &er);
    *ended = false;
    if (status == SBX_STATUS_TIMEOUT) {
        sbx_error_free(er);
        return NULL;
    }
    if (status != SBX_STATUS_OK) check_die(__FILE__, __LINE__, "sbx_event_stream_next", status, SBX_STATUS_OK, er);
    *ended = e == NULL;
    return e;
}

/* Whether the stream's descriptor is readable within ms. */
static bool readable(const sbx_event_stream *st, int ms) {
    struct pollfd p;
    int n;
    p.fd = sbx_event_stream_fd(st);
    p.events = POLLIN;
    p.revents = 0;
    EXPECT(p.fd >= 0);
    do n = poll(&p, 1, ms);
    while (n < 0);
    return n == 1 && (p.revents & POLLIN);
}

static void appendf(char *out, size_t cap, const char *fmt, ...) {
    size_t used = strlen(out);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + used, cap - used, fmt, ap);
    va_end(ap);
}

/* A path relative to the working dir, as the scenario writes it. */
static const char *relative(const char *p, const char *root) {
    size_t n = strlen(root);
    if (p == NULL) return "";
    if (strncmp(p, root, n) == 0) p += n;
    while (*p == '/') p++;
    return p;
}

/* One event as the scenario compares it (see the file's "about"). */
static char *signature(const sbx_event *e, const char *root) {
    char out[1024];
    const char *kind = sbx_event_kind(e);
    int32_t n;
    snprintf(out, sizeof out, "%s %s", kind, sbx_event_action(e));
    if (strcmp(kind, "file") == 0) {
        appendf(out, sizeof out, " %s", relative(sbx_event_path(e), root));
        if (sbx_event_from(e) != NULL) appendf(out, sizeof out, " from %s", relative(sbx_event_from(e), root));
        if (sbx_event_is_dir(e)) appendf(out, sizeof out, " dir");
    } else if (strcmp(kind, "process") == 0) {
        EXPECT(sbx_event_process(e) != NULL);
        appendf(out, sizeof out, " %s", sbx_event_process(e));
        if (sbx_event_code(e, &n)) appendf(out, sizeof out, " code=%d", (int)n);
        if (sbx_event_signal(e, &n)) appendf(out, sizeof out, " signal=%d", (int)n);
    } else if (strcmp(kind, "port") == 0) {
        EXPECT(sbx_event_port(e) > 0);
        appendf(out, sizeof out, " %d %s", (int)sbx_event_port(e), sbx_event_command(e) ? sbx_event_command(e) : "?");
    }
    return strdup(out);
}

/* Field `i` (0-based, space-separated) of a signature, into out. */
static void field(const char *sig, int i, char *out, size_t cap) {
    size_t n;
    while (i-- > 0) {
        sig = strchr(sig, ' ');
        if (sig == NULL) {
            out[0] = '\0';
            return;
        }
        sig++;
    }
    n = strcspn(sig, " ");
    if (n >= cap) n = cap - 1;
    memcpy(out, sig, n);
    out[n] = '\0';
}

#define MAX_SIGS 256

/* Within one step: drops a `file modified P` after a `file created P` or `file modified
 * P`. Fills kept with pointers into sigs; returns how many. */
static size_t normalized(char **sigs, size_t n, const char **kept) {
    static char touched[MAX_SIGS][512];
    size_t ntouched = 0, nkept = 0, i, j;
    for (i = 0; i < n; i++) {
        char kind[32], action[32], path[512];
        field(sigs[i], 0, kind, sizeof kind);
        field(sigs[i], 1, action, sizeof action);
        field(sigs[i], 2, path, sizeof path);
        if (strcmp(kind, "file") == 0 && strchr(strchr(sigs[i], ' ') + 1, ' ') != NULL) {
            bool again = false;
            for (j = 0; j < ntouched; j++)
                if (strcmp(touched[j], path) == 0) again = true;
            if ((strcmp(action, "created") == 0 || strcmp(action, "modified") == 0) && !again)
                snprintf(touched[ntouched++], sizeof touched[0], "%s", path);
            if (strcmp(action, "modified") == 0 && again) continue;
        }
        kept[nkept++] = sigs[i];
    }
    return nkept;
}

static bool contains(const char *const *list, size_t n, const char *s) {
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

static void print_list(const char *what, const char *const *list, size_t n) {
    size_t i;
    fprintf(stderr, "  %s:", what);
    for (i = 0; i < n; i++) fprintf(stderr, " [%s]", list[i]);
    fprintf(stderr, "\n");
}

/* ---- Actions. ---- */

static void sh(sbx_session *s, const char *script) {
    const char *argv[] = {"sh", "-c", NULL};
    sbx_exec_result *r = NULL;
    argv[2] = script;
    OK(sbx_session_exec(s, argv, 3, NULL, &r, err));
    if (sbx_exec_result_exit_code(r) != 0) {
        const uint8_t *p;
        size_t n;
        OK(sbx_exec_result_stderr(r, &p, &n, err));
        fprintf(stderr, "%s: exit %d: %.*s\n", script, (int)sbx_exec_result_exit_code(r), (int)n, (const char *)p);
    }
    EXPECT(sbx_exec_result_exit_code(r) == 0);
    sbx_exec_result_free(r);
}

static sbx_task *spawn(sbx_session *s, const char *line) {
    sbx_task_spec *spec = NULL;
    sbx_task *t = NULL;
    OK(sbx_task_spec_new_shell(line, &spec, err));
    OK(sbx_session_spawn_task(s, spec, &t, err));
    sbx_task_spec_free(spec);
    return t;
}

struct reader {
    const sbx_event_stream *stream;
    sbx_status status;
};

static void *blocked_next(void *arg) {
    struct reader *r = arg;
    sbx_event *e = NULL;
    r->status = sbx_event_stream_next(r->stream, SBX_NO_TIMEOUT, NULL, &e, NULL);
    sbx_event_free(e);
    return NULL;
}

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* Typed errors, a sample, and close on another thread waking a blocked read: nothing
 * here records a file, process or port event. */
static void before_the_scenario(sbx_session *s) {
    sbx_event_stream *st = NULL, *untouched = (sbx_event_stream *)&st;
    sbx_event *e = NULL;
    struct reader r;
    pthread_t th;

    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_events(s, 1, 64, NULL, &untouched, err));
    EXPECT_MESSAGE("kinds");
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_events(s, 1, 0, "src", &untouched, err));
    EXPECT_MESSAGE("path prefix");
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_events(NULL, 1, 0, NULL, &untouched, err));
    EXPECT(untouched == (sbx_event_stream *)&st);
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_watch(s, "/no/such/dir", err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_watch(s, "relative", err));

    /* A from beyond the journal: the stream says so when read. */
    OK(sbx_session_events(s, 1000000, 0, NULL, &st, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_event_stream_next(st, SBX_NO_TIMEOUT, NULL, &e, err));
    EXPECT(readable(st, 0));
    sbx_event_stream_free(st);

    OK(sbx_session_stats(s, &e, err));
    EXPECT(strcmp(sbx_event_kind(e), "resources") == 0 && strcmp(sbx_event_action(e), "sample") == 0);
    EXPECT(strstr(sbx_event_json(e), "\"sample\":{") != NULL && strstr(sbx_event_json(e), "\"memory_bytes\":") != NULL);
    EXPECT(sbx_event_seq(e) == 0 && sbx_event_pid(e) == -1 && sbx_event_path(e) == NULL);
    sbx_event_free(e);

    /* Nothing to read: TIMEOUT, not readable; close on this thread wakes a read blocked
     * on another, and the descriptor stays open and becomes readable. */
    OK(sbx_session_events(s, 0, SBX_EVENT_KIND_PORT, NULL, &st, err));
    e = (sbx_event *)&st;
    FAILS(SBX_STATUS_TIMEOUT, sbx_event_stream_next(st, 200, NULL, &e, err));
    EXPECT(e == (sbx_event *)&st);
    EXPECT(!readable(st, 0));
    EXPECT(sbx_event_stream_position(st) > 0);
    r.stream = st;
    r.status = SBX_STATUS_OK;
    EXPECT(pthread_create(&th, NULL, blocked_next, &r) == 0);
    sleep_ms(300);
    sbx_event_stream_close(st);
    EXPECT(pthread_join(th, NULL) == 0);
    EXPECT(r.status == SBX_STATUS_CLOSED);
    sbx_event_stream_close(st); /* idempotent */
    EXPECT(readable(st, 0));
    FAILS(SBX_STATUS_CLOSED, sbx_event_stream_next(st, 0, NULL, &e, err));
    sbx_event_stream_free(st);
}

int main(void) {
    sbx_context *ctx = check_open_scope("events");
    struct json scenario;
    const struct json *steps, *settle;
    char id[64], root[4096];
    sbx_session *s;
    sbx_event_stream *life = NULL, *stream = NULL, *late = NULL;
    sbx_event *e;
    uint64_t watching_seq = 0;
    sbx_task *named_task = NULL;
    char named[64] = "";
    bool ended = false;
    size_t i, nsteps;

    jp = (const char *)events_json;
    json_value(&scenario);
    json_ws();
    if (*jp != '\0') json_fail("trailing text");
    steps = json_get(&scenario, "steps");
    settle = json_get(&scenario, "settle_ms");
    EXPECT(steps && steps->type == J_ARR && steps->len > 0 && settle && settle->type == J_NUM);
    nsteps = steps->len;

    snprintf(id, sizeof id, "%s", check_id("events"));
    s = check_start(ctx, id);
    EXPECT(realpath(check_dir, root) != NULL);

    /* The working dir is watched once the agent says so. */
    OK(sbx_session_events(s, 1, 0, NULL, &life, err));
    for (;;) {
        e = take(life, 30000, &ended);
        EXPECT(e != NULL);
        if (strcmp(sbx_event_action(e), "watching") == 0) {
            EXPECT(sbx_event_path(e) != NULL && strcmp(sbx_event_path(e), root) == 0);
            watching_seq = sbx_event_seq(e);
            sbx_event_free(e);
            break;
        }
        sbx_event_free(e);
    }
    sbx_event_stream_free(life);
    before_the_scenario(s);

    OK(sbx_session_events(s, watching_seq + 1, SBX_EVENT_KIND_FILE | SBX_EVENT_KIND_PROCESS | SBX_EVENT_KIND_PORT,
                          NULL, &stream, err));
    for (i = 0; i < steps->len; i++) {
        const struct json *step = &steps->items[i], *expect = json_get(step, "expect"), *v;
        static char *got[MAX_SIGS];
        const char *kept[MAX_SIGS], *want[MAX_SIGS];
        size_t ngot = 0, nkept = 0, nwant, k, actions = 0;
        bool same = true;

        EXPECT(step->type == J_OBJ && expect != NULL && expect->type == J_ARR && expect->len < MAX_SIGS);
        for (k = 0; k < step->len; k++) {
            static const char *known[] = {"exec", "spawn", "name", "kill", "signal", "stop", "expect", "unordered"};
            if (!contains(known, sizeof known / sizeof known[0], step->keys[k])) {
                fprintf(stderr, "step %zu: unknown key \"%s\" (teach test_events.c)\n", i, step->keys[k]);
                EXPECT(0);
            }
        }
        nwant = expect->len;
        for (k = 0; k < nwant; k++) {
            EXPECT(expect->items[k].type == J_STR);
            want[k] = expect->items[k].str;
        }

        if (json_str(step, "exec") != NULL) {
            actions++;
            sh(s, json_str(step, "exec"));
        }
        if (json_str(step, "spawn") != NULL) {
            sbx_task *t = spawn(s, json_str(step, "spawn"));
            actions++;
            if (json_str(step, "name") != NULL) {
                EXPECT(named_task == NULL);
                snprintf(named, sizeof named, "%s", json_str(step, "name"));
                named_task = t;
            } else {
                sbx_task_free(t);
            }
        }
        if (json_str(step, "kill") != NULL) {
            v = json_get(step, "signal");
            actions++;
            EXPECT(named_task != NULL && strcmp(named, json_str(step, "kill")) == 0 && v && v->type == J_NUM);
            OK(sbx_task_kill(named_task, (int32_t)v->num, err));
        }
        if ((v = json_get(step, "stop")) != NULL && v->type == J_TRUE) {
            actions++;
            OK(sbx_session_stop(s, err));
        }
        EXPECT(actions == 1);

        /* Read until the step has as many signatures as it expects, then settle. */
        if (nwant > 0) EXPECT(readable(stream, 30000));
        while (normalized(got, ngot, kept) < nwant) {
            e = take(stream, 30000, &ended);
            if (e == NULL) break;
            EXPECT(ngot < MAX_SIGS);
            got[ngot++] = signature(e, root);
            sbx_event_free(e);
        }
        while ((e = take(stream, (uint64_t)settle->num, &ended)) != NULL) {
            EXPECT(ngot < MAX_SIGS);
            got[ngot++] = signature(e, root);
            sbx_event_free(e);
        }
        /* Everything taken: readable only when the stream has ended. */
        EXPECT(readable(stream, 0) == ended);

        nkept = normalized(got, ngot, kept);
        if ((v = json_get(step, "unordered")) != NULL && v->type == J_TRUE) {
            for (k = 0; k < nkept; k++) same = same && contains(want, nwant, kept[k]);
            for (k = 0; k < nwant; k++) same = same && contains(kept, nkept, want[k]);
        } else {
            same = nkept == nwant;
            for (k = 0; same && k < nkept; k++) same = strcmp(kept[k], want[k]) == 0;
        }
        if (!same) {
            fprintf(stderr, "step %zu of events.json: the signatures differ\n", i);
            print_list("got", kept, nkept);
            print_list("expected", want, nwant);
        }
        EXPECT(same);
        for (k = 0; k < ngot; k++) free(got[k]);
    }
    /* The stop's `lifecycle stopped` was the stream's last event. */
    EXPECT(ended);
    EXPECT(take(stream, 0, &ended) == NULL && ended);
    sbx_event_stream_free(stream);

    /* A stream opened after the stop has only the end to say. */
    OK(sbx_session_events(s, watching_seq + 1, 0, NULL, &late, err));
    e = take(late, 30000, &ended);
    EXPECT(e != NULL && strcmp(sbx_event_kind(e), "lifecycle") == 0 && strcmp(sbx_event_action(e), "stopped") == 0);
    sbx_event_free(e);
    EXPECT(take(late, 30000, &ended) == NULL && ended);
    sbx_event_stream_free(late);

    sbx_task_free(named_task);
    sbx_session_free(s);
    json_free(&scenario);
    check_close_scope(ctx);
    printf("test_events: ok (%zu steps of events.json)\n", nsteps);
    return 0;
}
