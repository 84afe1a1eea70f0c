/* A session whose container died stays readable from a NEW process. This program starts a
 * session, runs a task that prints known bytes (a NUL and bytes that are not UTF-8
 * included) and ends, opens a terminal that prints a line, kills the container with
 * podman, then runs itself again as a separate process ("read" mode), which attaches to
 * the session and reads the task list and info, the task's whole output in small chunks
 * until finished, the terminal list and output; checks that exec fails with
 * SBX_STATUS_SESSION_LOST; and stops the session. The first process then checks that no
 * container and no control dir is left. */
#include "check.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

/* Reads stay short of the output so that several are needed; each may wait this long
 * (a lost session's spool answers at once: a timeout is a failure, not a hang). */
#define CHUNK 1000
#define READ_WAIT_MS 10000
#define SEQ_MAX 2000

static const char TASK_LINE[] = "seq 1 2000; printf '\\377\\376\\000end\\n'; echo err-line >&2; exit 3";
static const char TAIL[] = "\377\376\000end\n";
#define TAIL_LEN 7

/* What the task writes to stdout: `seq 1 SEQ_MAX`, then TAIL. */
static size_t expected_stdout(char *buf, size_t cap) {
    size_t n = 0;
    int i;
    for (i = 1; i <= SEQ_MAX; i++) n += (size_t)snprintf(buf + n, cap - n, "%d\n", i);
    EXPECT(n + TAIL_LEN <= cap);
    memcpy(buf + n, TAIL, TAIL_LEN);
    return n + TAIL_LEN;
}

/* Reads `stream` of the task from 0 in CHUNK-byte reads until a chunk says finished;
 * returns the length read into `buf`. */
static size_t read_task(const sbx_task *t, uint32_t stream, uint8_t *buf, size_t cap) {
    size_t used = 0;
    uint64_t offset = 0;
    bool finished = false;
    while (!finished) {
        sbx_output_chunk *c = NULL;
        const uint8_t *p = NULL;
        size_t n = 0;
        OK(sbx_task_output(t, stream, offset, CHUNK, READ_WAIT_MS, NULL, &c, err));
        OK(sbx_output_chunk_data(c, &p, &n, err));
        EXPECT(sbx_output_chunk_offset(c) == offset && used + n <= cap);
        memcpy(buf + used, p, n);
        used += n;
        offset = sbx_output_chunk_next_offset(c);
        finished = sbx_output_chunk_finished(c);
        sbx_output_chunk_free(c);
    }
    return used;
}

/* Reads the terminal from 0 until a chunk says finished; NUL-terminated in `buf`. */
static void read_terminal(const sbx_terminal *t, char *buf, size_t cap) {
    size_t used = 0;
    uint64_t offset = 0;
    bool finished = false;
    while (!finished) {
        sbx_output_chunk *c = NULL;
        const uint8_t *p = NULL;
        size_t n = 0;
        OK(sbx_terminal_read(t, offset, CHUNK, READ_WAIT_MS, NULL, &c, err));
        OK(sbx_output_chunk_data(c, &p, &n, err));
        EXPECT(used + n < cap);
        memcpy(buf + used, p, n);
        used += n;
        offset = sbx_output_chunk_next_offset(c);
        finished = sbx_output_chunk_finished(c);
        sbx_output_chunk_free(c);
    }
    buf[used] = '\0';
}

/* Reads the live terminal until its output contains `needle` (for up to 100 reads that
 * wait 200 ms each). */
static void wait_for_text(const sbx_terminal *t, const char *needle) {
    static char seen[65536];
    size_t used = 0;
    uint64_t offset = 0;
    int i;
    seen[0] = '\0';
    for (i = 0; i < 100 && strstr(seen, needle) == NULL; i++) {
        sbx_output_chunk *c = NULL;
        sbx_error *e = NULL;
        const uint8_t *p;
        size_t n;
        sbx_status st = sbx_terminal_read(t, offset, sizeof seen - 1 - used, 200, NULL, &c, &e);
        if (st == SBX_STATUS_TIMEOUT) {
            sbx_error_free(e);
            continue;
        }
        if (st != SBX_STATUS_OK) check_die(__FILE__, __LINE__, "sbx_terminal_read", st, SBX_STATUS_OK, e);
        OK(sbx_output_chunk_data(c, &p, &n, err));
        memcpy(seen + used, p, n);
        used += n;
        seen[used] = '\0';
        offset = sbx_output_chunk_next_offset(c);
        sbx_output_chunk_free(c);
    }
    if (strstr(seen, needle) == NULL) {
        fprintf(stderr, "terminal output never contained \"%s\": \"%s\"\n", needle, seen);
        EXPECT(0);
    }
}

/* The new process: argv = read <scope> <session> <task> <terminal>. */
static int reader(char **argv) {
    static char want[16384];
    static uint8_t got[16384];
    static char screen[65536];
    const char *scope = argv[2], *id = argv[3], *task_id = argv[4], *term_id = argv[5];
    const char *exec_argv[] = {"true"};
    sbx_config *cfg = NULL;
    sbx_context *ctx = NULL;
    sbx_session *s = NULL;
    sbx_task *t = NULL;
    sbx_task_info *info = NULL;
    sbx_task_list *tasks = NULL;
    sbx_terminal *term = NULL;
    sbx_terminal_list *terms = NULL;
    sbx_exec_result *r = NULL;
    size_t want_len, n;

    /* A failure here removes the scope's session too (check_die). */
    snprintf(check_scope_name, sizeof check_scope_name, "%s", scope);
    OK(sbx_config_from_env(&cfg, err));
    OK(sbx_config_set_scope(cfg, scope, err));
    OK(sbx_config_set_provision(cfg, false, err));
    OK(sbx_context_new(cfg, &ctx, err));
    sbx_config_free(cfg);
    OK(sbx_context_attach(ctx, id, &s, err));

    /* The task list and info, as the agent last recorded them. */
    OK(sbx_session_list_tasks(s, &tasks, err));
    EXPECT(sbx_task_list_len(tasks) == 1);
    EXPECT(strcmp(sbx_task_info_id(sbx_task_list_get(tasks, 0)), task_id) == 0);
    EXPECT(sbx_task_info_state(sbx_task_list_get(tasks, 0)) == SBX_PROCESS_STATE_EXITED);
    sbx_task_list_free(tasks);
    OK(sbx_session_attach_task(s, task_id, &t, err));
    OK(sbx_task_get_info(t, &info, err));
    EXPECT(sbx_task_info_state(info) == SBX_PROCESS_STATE_EXITED && sbx_task_info_exit_code(info) == 3);
    EXPECT(strstr(sbx_task_info_command(info), "seq 1 2000") != NULL);
    sbx_task_info_free(info);

    /* All of its output, byte-exact. */
    want_len = expected_stdout(want, sizeof want);
    n = read_task(t, SBX_TASK_STREAM_STDOUT, got, sizeof got);
    if (n != want_len || memcmp(got, want, n) != 0) {
        fprintf(stderr, "stdout of the lost session's task: read %zu bytes, want %zu\n", n, want_len);
        EXPECT(0);
    }
    n = read_task(t, SBX_TASK_STREAM_STDERR, got, sizeof got);
    EXPECT(n == 9 && memcmp(got, "err-line\n", 9) == 0);
    EXPECT(read_task(t, SBX_TASK_STREAM_MERGED, got, sizeof got) == want_len + 9);
    sbx_task_free(t);

    /* The terminal and what it printed. */
    OK(sbx_session_list_terminals(s, &terms, err));
    EXPECT(sbx_terminal_list_len(terms) == 1);
    EXPECT(strcmp(sbx_terminal_info_id(sbx_terminal_list_get(terms, 0)), term_id) == 0);
    sbx_terminal_list_free(terms);
    OK(sbx_session_attach_terminal(s, term_id, &term, err));
    read_terminal(term, screen, sizeof screen);
    if (strstr(screen, "term-42") == NULL) {
        fprintf(stderr, "terminal output of the lost session: \"%s\"\n", screen);
        EXPECT(0);
    }
    sbx_terminal_free(term);

    /* Anything that needs the agent says the session is lost. */
    FAILS(SBX_STATUS_SESSION_LOST, sbx_session_exec(s, exec_argv, 1, NULL, &r, err));
    EXPECT(r == NULL);

    /* Stop still removes what is left of it. */
    OK(sbx_session_stop(s, err));
    sbx_session_free(s);
    sbx_context_free(ctx);
    check_scope_name[0] = '\0';
    puts("test_lost (reader): ok");
    return 0;
}

/* The first line podman prints for `cmd`, without its newline. */
static void podman_line(const char *cmd, char *out, size_t cap) {
    FILE *f = popen(cmd, "r");
    EXPECT(f != NULL);
    EXPECT(fgets(out, (int)cap, f) != NULL);
    out[strcspn(out, "\n")] = '\0';
    EXPECT(pclose(f) == 0 && out[0] != '\0');
}

int main(int argc, char **argv) {
    static char want[16384];
    static uint8_t got[16384];
    sbx_context *ctx;
    char id[64], task_id[80], term_id[80], container[256] = "", control[512], cmd[1024];
    sbx_session *s;
    sbx_session_list *list = NULL;
    sbx_task *t;
    sbx_task_spec *tspec = NULL;
    sbx_task_info *info = NULL;
    sbx_terminal *term;
    sbx_terminal_spec *termspec = NULL;
    size_t i, want_len;
    char *child_argv[7];
    pid_t pid;
    int status;

    if (argc == 6 && strcmp(argv[1], "read") == 0) return reader(argv);

    ctx = check_open_scope("lost");
    snprintf(id, sizeof id, "%s", check_id("lost"));
    s = check_start(ctx, id);

    /* The task runs to its end; its output is read (live) to the end, so it is all in
     * the spool before the container dies. */
    OK(sbx_task_spec_new_shell(TASK_LINE, &tspec, err));
    OK(sbx_session_spawn_task(s, tspec, &t, err));
    sbx_task_spec_free(tspec);
    snprintf(task_id, sizeof task_id, "%s", sbx_task_id(t));
    OK(sbx_task_wait(t, SBX_NO_TIMEOUT, NULL, &info, err));
    EXPECT(sbx_task_info_exit_code(info) == 3);
    sbx_task_info_free(info);
    want_len = expected_stdout(want, sizeof want);
    EXPECT(read_task(t, SBX_TASK_STREAM_STDOUT, got, sizeof got) == want_len && memcmp(got, want, want_len) == 0);
    EXPECT(read_task(t, SBX_TASK_STREAM_STDERR, got, sizeof got) == 9);
    EXPECT(read_task(t, SBX_TASK_STREAM_MERGED, got, sizeof got) == want_len + 9);
    sbx_task_free(t);

    /* The terminal prints its line and stays open. */
    OK(sbx_terminal_spec_new(24, 80, &termspec, err));
    OK(sbx_terminal_spec_set_shell_command(termspec, "echo term-$((40 + 2)); exec sleep 300", err));
    OK(sbx_session_open_terminal(s, termspec, &term, err));
    sbx_terminal_spec_free(termspec);
    snprintf(term_id, sizeof term_id, "%s", sbx_terminal_id(term));
    wait_for_text(term, "term-42");
    sbx_terminal_free(term);

    /* Its container, and the control dir its labels name. */
    OK(sbx_context_list(ctx, &list, err));
    for (i = 0; i < sbx_session_list_len(list); i++)
        if (strcmp(sbx_session_list_id(list, i), id) == 0)
            snprintf(container, sizeof container, "%s", sbx_session_list_container(list, i));
    sbx_session_list_free(list);
    EXPECT(container[0] != '\0');
    snprintf(cmd, sizeof cmd, "podman inspect --format '{{index .Config.Labels \"sandbox.control\"}}' %s", container);
    podman_line(cmd, control, sizeof control);
    EXPECT(access(control, F_OK) == 0);

    /* Killed from outside; podman wait returns once it has stopped. */
    snprintf(cmd, sizeof cmd, "podman kill %s >/dev/null && podman wait %s >/dev/null", container, container);
    EXPECT(system(cmd) == 0);

    /* A new process reads it all and stops it. */
    child_argv[0] = argv[0];
    child_argv[1] = (char *)"read";
    child_argv[2] = check_scope_name;
    child_argv[3] = id;
    child_argv[4] = task_id;
    child_argv[5] = term_id;
    child_argv[6] = NULL;
    EXPECT(posix_spawn(&pid, argv[0], NULL, NULL, child_argv, environ) == 0);
    EXPECT(waitpid(pid, &status, 0) == pid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Nothing left: no container, no control dir. */
    snprintf(cmd, sizeof cmd, "podman container exists %s", container);
    EXPECT(system(cmd) != 0);
    EXPECT(access(control, F_OK) != 0);
    sbx_session_free(s);
    check_close_scope(ctx);
    puts("test_lost: ok");
    return 0;
}
