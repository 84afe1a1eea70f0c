/* Snapshots, starts from one, forks, diffs and merges: a file written before the
 * snapshot is in a child started from it, the child's writes are not in the parent, a
 * child started with no working dir gets a managed copy at <copy dir>/<id> (the copy dir
 * set with sbx_config_set_copy_dir, gone with its last copy), a fork of 2 where one
 * child's change shows in its diff only, merges into a directory and into the parent;
 * the children's copies (reflink, overlay or plain) outlive them until removed, an
 * overlay keeps its snapshot; typed errors for bad input (a relative copy dir, a spec
 * with neither a working dir nor a snapshot); every copy and snapshot removed and no
 * image of the test's snapshot dir left. */
#include "check.h"

#include <sys/stat.h>

static char snap_dir[256];
static char kids_dir[256];
static char merge_dir[256];
static char copies_dir[256];

/* Removes the snapshot images of the test's snapshot dir and the test's dirs (through
 * podman's user namespace too, where the test runs rootless), also after a failed check:
 * first unmounts the overlay copies a failed check left mounted in the children's dir
 * (kernel overlays as root, fuse-overlayfs rootless). */
static void cleanup_dirs(void) {
    char cmd[2048];
    const char *copy_dirs[2];
    size_t i;
    copy_dirs[0] = kids_dir;
    copy_dirs[1] = copies_dir;
    for (i = 0; i < 2; i++) {
        if (copy_dirs[i][0] == '\0') continue;
        snprintf(cmd, sizeof cmd,
                 "awk -v d='%s/' 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do "
                 "umount \"$m\" 2>/dev/null || fusermount3 -u \"$m\" || echo \"unmounting $m failed\" >&2; done",
                 copy_dirs[i]);
        if (system(cmd) != 0) fprintf(stderr, "unmounting the copies in %s failed\n", copy_dirs[i]);
    }
    if (snap_dir[0] != '\0') {
        snprintf(cmd, sizeof cmd,
                 "podman images -q --no-trunc --filter label=sandbox.snapshot.store=%s | xargs -r podman rmi -f "
                 ">/dev/null 2>&1",
                 snap_dir);
        if (system(cmd) != 0) fprintf(stderr, "removing the images of %s failed\n", snap_dir);
    }
    snprintf(cmd, sizeof cmd, "for d in '%s' '%s' '%s' '%s'; do [ -z \"$d\" ] || { [ \"$(id -u)\" = 0 ] || "
             "podman unshare rm -rf \"$d\"; rm -rf \"$d\"; }; done",
             snap_dir, kids_dir, merge_dir, copies_dir);
    if (system(cmd) != 0) fprintf(stderr, "removing the test's dirs failed\n");
}

/* A context for a scope of its own (check.h's) with its own snapshot dir, given through
 * SANDBOX_SNAPSHOT_DIR; the setters are checked on a config of their own, and a relative
 * copy dir in the environment is a configuration error. */
static sbx_context *open_scope(void) {
    sbx_config *cfg = NULL;
    snprintf(snap_dir, sizeof snap_dir, "/tmp/sandbox-c-snaps.XXXXXX");
    snprintf(kids_dir, sizeof kids_dir, "/tmp/sandbox-c-kids.XXXXXX");
    snprintf(merge_dir, sizeof merge_dir, "/tmp/sandbox-c-merge.XXXXXX");
    snprintf(copies_dir, sizeof copies_dir, "/tmp/sandbox-c-copies.XXXXXX");
    EXPECT(mkdtemp(snap_dir) != NULL && mkdtemp(kids_dir) != NULL && mkdtemp(merge_dir) != NULL &&
           mkdtemp(copies_dir) != NULL);
    atexit(cleanup_dirs);
    OK(sbx_config_new(&cfg, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_config_set_snapshot_dir(cfg, "relative/dir", err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_config_set_snapshot_dir(cfg, NULL, err));
    OK(sbx_config_set_snapshot_dir(cfg, snap_dir, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_config_set_copy_dir(cfg, "relative/dir", err));
    EXPECT_MESSAGE("copy dir");
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_config_set_copy_dir(cfg, "", err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_config_set_copy_dir(cfg, NULL, err));
    OK(sbx_config_set_copy_dir(cfg, copies_dir, err));
    sbx_config_free(cfg);
    cfg = NULL;
    EXPECT(setenv("SANDBOX_COPY_DIR", "relative/copies", 1) == 0);
    FAILS(SBX_STATUS_CONFIG, sbx_config_from_env(&cfg, err));
    EXPECT_MESSAGE("copy_dir");
    EXPECT(cfg == NULL && unsetenv("SANDBOX_COPY_DIR") == 0);
    EXPECT(setenv("SANDBOX_SNAPSHOT_DIR", snap_dir, 1) == 0);
    return check_open_scope("snap");
}

/* A second context for the same scope whose copy dir, set with sbx_config_set_copy_dir,
 * is `dir`. */
static sbx_context *open_with_copy_dir(const char *dir) {
    sbx_config *cfg = NULL;
    sbx_context *ctx = NULL;
    OK(sbx_config_from_env(&cfg, err));
    OK(sbx_config_set_scope(cfg, check_scope_name, err));
    OK(sbx_config_set_provision(cfg, false, err));
    OK(sbx_config_set_copy_dir(cfg, dir, err));
    OK(sbx_context_new(cfg, &ctx, err));
    sbx_config_free(cfg);
    return ctx;
}

/* Whether the session's start report names `dir` as its working dir. */
static int works_in(sbx_session *s, const char *dir) {
    const char *json = NULL;
    char want[700];
    OK(sbx_session_start_report_json(s, &json, err));
    snprintf(want, sizeof want, "\"working_dir\":\"%s\"", dir);
    return strstr(json, want) != NULL;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    EXPECT(f != NULL);
    EXPECT(fputs(text, f) >= 0);
    EXPECT(fclose(f) == 0);
}

/* Whether `path` holds exactly `text`. */
static int holds(const char *path, const char *text) {
    char buf[256];
    size_t n;
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* How the session's working dir was copied from its snapshot: its start report's
 * `snapshot.copy`, one of "reflink", "overlay", "copy". */
static const char *copy_method(sbx_session *s) {
    static const char *const methods[] = {"reflink", "overlay", "copy"};
    const char *json = NULL, *at;
    size_t i, n = 0;
    OK(sbx_session_start_report_json(s, &json, err));
    at = strstr(json, "\"snapshot\":{");
    EXPECT(at != NULL);
    at = strstr(at, "\"copy\":\"");
    EXPECT(at != NULL);
    at += strlen("\"copy\":\"");
    for (i = 0; i < 3; i++) {
        n = strlen(methods[i]);
        if (strncmp(at, methods[i], n) == 0 && at[n] == '"') break;
    }
    EXPECT(i < 3);
    return methods[i];
}

static sbx_session *start_from(sbx_context *ctx, const char *id, const char *dir, const char *snapshot) {
    sbx_session_spec *spec = NULL;
    sbx_session *s = NULL;
    OK(sbx_session_spec_new(id, dir, &spec, err));
    OK(sbx_session_spec_set_snapshot(spec, snapshot, err));
    OK(sbx_context_start(ctx, spec, &s, err));
    sbx_session_spec_free(spec);
    return s;
}

/* A fork whose template sets what is each child's own (a working dir, a snapshot, an
 * image) is refused before anything is made; frees `spec`. */
static void template_refused(sbx_session *parent, sbx_session_spec *spec) {
    sbx_fork *fork = NULL;
    FAILS(SBX_STATUS_INVALID_ARGUMENT,
          sbx_session_fork_with_template(parent, 1, kids_dir, "templated", spec, &fork, err));
    EXPECT_MESSAGE("fork template");
    EXPECT(fork == NULL);
    sbx_session_spec_free(spec);
}

int main(void) {
    sbx_context *ctx = open_scope();
    char id[64], path[600], kid[300], one_dir[300], two_dir[300], cmd[600], tmpl_prefix[64], tmpl_dir[300];
    const char *kid_copy, *one_copy, *two_copy;
    char managed_dir[300], managed_id[64], managed_copy[400];
    sbx_session *parent, *child, *one = NULL, *two = NULL, *untouched = NULL, *managed = NULL,
                *templated = NULL;
    sbx_context *mctx;
    size_t i, n_retaken;
    sbx_session_spec *spec = NULL;
    sbx_snapshot_report *rep = NULL;
    sbx_snapshot_list *list = NULL;
    sbx_fork *fork = NULL;
    sbx_diff *diff = NULL;
    sbx_merge_report *merged = NULL;
    const sbx_snapshot_report *frep;
    const char *json;

    snprintf(path, sizeof path, "%s/before.txt", check_dir);
    write_text(path, "written before the snapshot\n");
    snprintf(id, sizeof id, "%s", check_id("snap"));
    parent = check_start(ctx, id);

    /* The snapshot and its report. */
    OK(sbx_session_snapshot(parent, "base", &rep, err));
    EXPECT(strcmp(sbx_snapshot_report_name(rep), "base") == 0);
    EXPECT(strcmp(sbx_snapshot_report_session(rep), id) == 0);
    EXPECT(sbx_snapshot_report_image(rep)[0] != '\0');
    EXPECT(strcmp(sbx_snapshot_report_copy(rep), "reflink") == 0 || strcmp(sbx_snapshot_report_copy(rep), "copy") == 0);
    EXPECT(sbx_snapshot_report_files(rep) == 1 && sbx_snapshot_report_bytes(rep) == 28);
    EXPECT(strcmp(sbx_snapshot_report_freeze(rep), "signals") == 0);
    EXPECT(sbx_snapshot_report_frozen_us(rep) <= sbx_snapshot_report_took_us(rep) && sbx_snapshot_report_took_us(rep) > 0);
    (void)sbx_snapshot_report_processes(rep);
    /* What was taken again while frozen: a list of "working_dir" and "container" (empty
     * when nothing changed while the first copy and commit ran). */
    n_retaken = sbx_snapshot_report_retaken_count(rep);
    EXPECT(n_retaken <= 2 && sbx_snapshot_report_retaken(rep, n_retaken) == NULL);
    for (i = 0; i < n_retaken; i++) {
        const char *part = sbx_snapshot_report_retaken(rep, i);
        EXPECT(part != NULL && (strcmp(part, "working_dir") == 0 || strcmp(part, "container") == 0));
    }
    json = sbx_snapshot_report_json(rep);
    EXPECT(strstr(json, "\"name\":\"base\"") != NULL && strstr(json, "\"took_us\":") != NULL);
    EXPECT(strstr(json, "\"retaken\":[") != NULL);
    sbx_snapshot_report_free(rep);
    EXPECT(sbx_snapshot_report_name(NULL) == NULL && sbx_snapshot_report_files(NULL) == 0);
    EXPECT(sbx_snapshot_report_retaken_count(NULL) == 0 && sbx_snapshot_report_retaken(NULL, 0) == NULL);

    /* Bad names; an existing name. */
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_snapshot(parent, NULL, NULL, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_snapshot(parent, "", NULL, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_snapshot(parent, "../x", NULL, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_snapshot(parent, "base", NULL, err));
    EXPECT_MESSAGE("exists");

    /* Listed. */
    OK(sbx_context_snapshots(ctx, &list, err));
    EXPECT(sbx_snapshot_list_len(list) == 1 && strcmp(sbx_snapshot_list_name(list, 0), "base") == 0);
    EXPECT(sbx_snapshot_list_name(list, 1) == NULL);
    EXPECT(strstr(sbx_snapshot_list_json(list), "\"name\":\"base\"") != NULL);
    sbx_snapshot_list_free(list);

    /* No working dir: NULL and "" leave it unset, which needs a snapshot; with one the
     * child gets a managed copy at <copy dir>/<id>, removed after its stop together with
     * the copy dir it made. */
    snprintf(managed_dir, sizeof managed_dir, "%s/work", copies_dir);
    mctx = open_with_copy_dir(managed_dir);
    OK(sbx_session_spec_new(check_id("kid"), "", &spec, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_start(mctx, spec, &managed, err));
    EXPECT_MESSAGE("working dir");
    sbx_session_spec_free(spec);
    snprintf(managed_id, sizeof managed_id, "%s", check_id("managed"));
    OK(sbx_session_spec_new(managed_id, NULL, &spec, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_start(mctx, spec, &managed, err));
    EXPECT_MESSAGE("snapshot");
    EXPECT(managed == NULL && !exists(managed_dir));
    OK(sbx_session_spec_set_snapshot(spec, "base", err));
    OK(sbx_context_start(mctx, spec, &managed, err));
    sbx_session_spec_free(spec);
    snprintf(managed_copy, sizeof managed_copy, "%s/%s", managed_dir, managed_id);
    EXPECT(works_in(managed, managed_copy));
    snprintf(path, sizeof path, "%s/before.txt", managed_copy);
    EXPECT(holds(path, "written before the snapshot\n"));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_copy(mctx, managed_copy, err));
    EXPECT_MESSAGE("stop it first");
    OK(sbx_session_stop(managed, err));
    EXPECT(holds(path, "written before the snapshot\n"));
    OK(sbx_context_remove_copy(mctx, managed_copy, err));
    EXPECT(!exists(managed_copy) && !exists(managed_dir));
    sbx_session_free(managed);
    sbx_context_free(mctx);

    /* A child from it has the file written before; its writes stay its own. */
    snprintf(kid, sizeof kid, "%s/child", kids_dir);
    child = start_from(ctx, check_id("kid"), kid, "base");
    OK(sbx_session_start_report_json(child, &json, err));
    EXPECT(strstr(json, "\"reason\":\"snapshot\"") != NULL && strstr(json, "\"name\":\"base\"") != NULL);
    /* Reflinks where the filesystem has them, else an overlay (also rootless: every file
     * of this tree is the user's), else a plain copy. */
    kid_copy = copy_method(child);
    snprintf(path, sizeof path, "%s/before.txt", kid);
    EXPECT(holds(path, "written before the snapshot\n"));
    snprintf(path, sizeof path, "%s/child.txt", kid);
    OK(sbx_session_write_file(child, path, (const uint8_t *)"mine\n", 5, -1, err));
    snprintf(path, sizeof path, "%s/child.txt", check_dir);
    EXPECT(!exists(path));
    OK(sbx_session_diff(child, NULL, &diff, err));
    EXPECT(sbx_diff_len(diff) == 1 && strcmp(sbx_diff_path(diff, 0), "child.txt") == 0);
    EXPECT(strcmp(sbx_diff_kind(diff, 0), "added") == 0 && strcmp(sbx_diff_entry(diff, 0), "file") == 0);
    EXPECT(sbx_diff_size(diff, 0) == 5 && sbx_diff_path(diff, 1) == NULL);
    EXPECT(strstr(sbx_diff_json(diff), "\"path\":\"child.txt\"") != NULL);
    sbx_diff_free(diff);

    /* Starting from a snapshot: bad names, an unknown one (nothing made). */
    OK(sbx_session_spec_new(check_id("kid"), kid, &spec, err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_spec_set_snapshot(spec, NULL, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_spec_set_snapshot(spec, "", err));
    sbx_session_spec_free(spec);
    snprintf(path, sizeof path, "%s/never", kids_dir);
    OK(sbx_session_spec_new(check_id("kid"), path, &spec, err));
    OK(sbx_session_spec_set_snapshot(spec, "nope", err));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_context_start(ctx, spec, &child, err));
    sbx_session_spec_free(spec);
    EXPECT(!exists(path));

    /* A fork of 2: a change in one shows in its diff only. */
    OK(sbx_session_fork(parent, 2, kids_dir, "forked", &fork, err));
    EXPECT(sbx_fork_count(fork) == 2);
    snprintf(path, sizeof path, "%s-1", id);
    EXPECT(strcmp(sbx_fork_child_id(fork, 0), path) == 0 && sbx_fork_child_id(fork, 2) == NULL);
    frep = sbx_fork_snapshot_report(fork);
    EXPECT(strcmp(sbx_snapshot_report_name(frep), "forked") == 0);
    OK(sbx_fork_child(fork, 0, &one, err));
    OK(sbx_fork_child(fork, 1, &two, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_fork_child(fork, 2, &untouched, err));
    EXPECT(untouched == NULL);
    EXPECT(strcmp(sbx_session_id(one), sbx_fork_child_id(fork, 0)) == 0);
    sbx_fork_free(fork);
    snprintf(one_dir, sizeof one_dir, "%s/%s", kids_dir, sbx_session_id(one));
    snprintf(two_dir, sizeof two_dir, "%s/%s", kids_dir, sbx_session_id(two));
    one_copy = copy_method(one);
    two_copy = copy_method(two);
    EXPECT(strcmp(one_copy, kid_copy) == 0 && strcmp(two_copy, kid_copy) == 0);
    snprintf(path, sizeof path, "%s/%s/before.txt", kids_dir, sbx_session_id(two));
    EXPECT(holds(path, "written before the snapshot\n"));
    snprintf(path, sizeof path, "%s/%s/new.txt", kids_dir, sbx_session_id(one));
    OK(sbx_session_write_file(one, path, (const uint8_t *)"from one\n", 9, -1, err));
    OK(sbx_session_diff(one, NULL, &diff, err));
    EXPECT(sbx_diff_len(diff) == 1 && strcmp(sbx_diff_path(diff, 0), "new.txt") == 0);
    sbx_diff_free(diff);
    OK(sbx_session_diff(two, "forked", &diff, err));
    EXPECT(sbx_diff_len(diff) == 0);
    sbx_diff_free(diff);
    FAILS(SBX_STATUS_NOT_FOUND, sbx_session_diff(two, "nope", &diff, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_diff(parent, NULL, &diff, err));

    /* Bad forks. */
    fork = NULL;
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_fork(parent, 0, kids_dir, NULL, &fork, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_fork(parent, 10000, kids_dir, NULL, &fork, err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_fork(parent, 1, NULL, NULL, &fork, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_fork(parent, 1, kids_dir, "", &fork, err));
    EXPECT(fork == NULL);

    /* A fork with a template: its id is the children's prefix, its environment and
     * limits are each child's; a working dir, snapshot or image of its own is refused
     * before anything is made. */
    snprintf(tmpl_prefix, sizeof tmpl_prefix, "%s", check_id("tmpl"));
    OK(sbx_session_spec_new(tmpl_prefix, kids_dir, &spec, err));
    template_refused(parent, spec);
    OK(sbx_session_spec_new(tmpl_prefix, NULL, &spec, err));
    OK(sbx_session_spec_set_image(spec, "docker.io/library/alpine:latest", err));
    template_refused(parent, spec);
    OK(sbx_session_spec_new(tmpl_prefix, NULL, &spec, err));
    OK(sbx_session_spec_set_snapshot(spec, "base", err));
    template_refused(parent, spec);
    EXPECT(sbx_context_snapshots(ctx, &list, NULL) == SBX_STATUS_OK);
    EXPECT(sbx_snapshot_list_len(list) == 2); /* "base" and "forked": none half made */
    sbx_snapshot_list_free(list);
    OK(sbx_session_spec_new(tmpl_prefix, NULL, &spec, err));
    OK(sbx_session_spec_add_env(spec, "FORK_ROLE", "child", err));
    OK(sbx_session_spec_set_memory_limit(spec, 314572800, err));
    OK(sbx_session_fork_with_template(parent, 1, kids_dir, "templated", spec, &fork, err));
    sbx_session_spec_free(spec);
    snprintf(path, sizeof path, "%s-1", tmpl_prefix);
    EXPECT(sbx_fork_count(fork) == 1 && strcmp(sbx_fork_child_id(fork, 0), path) == 0);
    OK(sbx_fork_child(fork, 0, &templated, err));
    sbx_fork_free(fork);
    snprintf(tmpl_dir, sizeof tmpl_dir, "%s/%s", kids_dir, sbx_session_id(templated));
    EXPECT(works_in(templated, tmpl_dir));
    OK(sbx_session_start_report_json(templated, &json, err));
    EXPECT(strstr(json, "\"memory_bytes\":314572800") != NULL);
    {
        const char *const role[] = {"sh", "-c", "printf %s \"$FORK_ROLE\""};
        sbx_exec_result *r = NULL;
        const uint8_t *p;
        size_t n;
        OK(sbx_session_exec(templated, role, 3, NULL, &r, err));
        OK(sbx_exec_result_stdout(r, &p, &n, err));
        EXPECT(n == 5 && memcmp(p, "child", 5) == 0);
        sbx_exec_result_free(r);
        OK(sbx_session_exec(two, role, 3, NULL, &r, err));
        OK(sbx_exec_result_stdout(r, &p, &n, err));
        EXPECT(n == 0); /* the plain fork's children have no such variable */
        sbx_exec_result_free(r);
    }
    OK(sbx_session_stop(templated, err));
    OK(sbx_context_remove_copy(ctx, tmpl_dir, err));
    OK(sbx_context_remove_snapshot(ctx, "templated", err));
    sbx_session_free(templated);

    /* Merges: into a directory, into the parent; one target exactly. */
    OK(sbx_session_merge(one, NULL, merge_dir, NULL, false, &merged, err));
    EXPECT(sbx_merge_report_changes(merged) == 1 && sbx_merge_report_applied(merged) == 1);
    sbx_merge_report_free(merged);
    snprintf(path, sizeof path, "%s/new.txt", merge_dir);
    EXPECT(holds(path, "from one\n"));
    OK(sbx_session_merge(one, "forked", NULL, parent, false, NULL, err));
    snprintf(path, sizeof path, "%s/new.txt", check_dir);
    EXPECT(holds(path, "from one\n"));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_session_merge(one, NULL, NULL, NULL, false, NULL, err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_merge(one, NULL, merge_dir, parent, false, NULL, err));
    snprintf(path, sizeof path, "%s/missing", merge_dir);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_session_merge(one, NULL, path, NULL, false, NULL, err));

    /* A snapshot in use by children cannot go, nor a running child's copy; bad paths. */
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_snapshot(ctx, "base", err));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_copy(ctx, kid, err));
    EXPECT_MESSAGE("stop it first");
    snprintf(path, sizeof path, "%s/before.txt", kid);
    EXPECT(holds(path, "written before the snapshot\n"));
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_copy(ctx, "relative/child", err));
    EXPECT_MESSAGE("absolute");
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_context_remove_copy(ctx, NULL, err));
    snprintf(path, sizeof path, "%s/never", kids_dir);
    FAILS(SBX_STATUS_NOT_FOUND, sbx_context_remove_copy(ctx, path, err));
    snprintf(path, sizeof path, "%s/never", check_dir);
    FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_copy(ctx, path, err));
    EXPECT_MESSAGE("stop that session first");

    /* Stopped, the children's copies stay (their changes are the output). */
    OK(sbx_session_stop(child, err));
    OK(sbx_session_stop(one, err));
    OK(sbx_session_stop(two, err));
    OK(sbx_session_stop(parent, err));
    FAILS(SBX_STATUS_SESSION_NOT_FOUND, sbx_session_snapshot(parent, "late", NULL, err));
    snprintf(path, sizeof path, "%s/child.txt", kid);
    EXPECT(holds(path, "mine\n"));
    snprintf(path, sizeof path, "%s/new.txt", one_dir);
    EXPECT(holds(path, "from one\n"));
    /* The parent's working dir is no snapshot's copy. */
    FAILS(SBX_STATUS_NOT_FOUND, sbx_context_remove_copy(ctx, check_dir, err));
    snprintf(path, sizeof path, "%s/before.txt", check_dir);
    EXPECT(exists(path));

    /* An overlay copy reads from its snapshot, which cannot go while the copy exists. */
    if (strcmp(kid_copy, "overlay") == 0) {
        FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_snapshot(ctx, "base", err));
        EXPECT_MESSAGE("remove those copies first");
        EXPECT_MESSAGE(kid);
        FAILS(SBX_STATUS_INVALID_ARGUMENT, sbx_context_remove_snapshot(ctx, "forked", err));
        EXPECT_MESSAGE(one_dir);
        OK(sbx_context_snapshots(ctx, &list, err));
        EXPECT(sbx_snapshot_list_len(list) == 2);
        sbx_snapshot_list_free(list);
    }

    /* Each copy removed, once; then the snapshots. */
    OK(sbx_context_remove_copy(ctx, kid, err));
    EXPECT(!exists(kid));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_context_remove_copy(ctx, kid, err));
    OK(sbx_context_remove_copy(ctx, one_dir, err));
    OK(sbx_context_remove_copy(ctx, two_dir, err));
    EXPECT(!exists(one_dir) && !exists(two_dir));
    OK(sbx_context_remove_snapshot(ctx, "base", err));
    OK(sbx_context_remove_snapshot(ctx, "forked", err));
    FAILS(SBX_STATUS_NOT_FOUND, sbx_context_remove_snapshot(ctx, "base", err));
    FAILS(SBX_STATUS_NULL_ARGUMENT, sbx_context_remove_snapshot(ctx, NULL, err));
    OK(sbx_context_snapshots(ctx, &list, err));
    EXPECT(sbx_snapshot_list_len(list) == 0);
    sbx_snapshot_list_free(list);
    {
        sbx_string_list *reaped = NULL;
        OK(sbx_context_reap_snapshots(ctx, &reaped, err));
        EXPECT(sbx_string_list_len(reaped) == 0);
        sbx_string_list_free(reaped);
    }
    snprintf(cmd, sizeof cmd, "test -z \"$(podman images -q --filter label=sandbox.snapshot.store=%s)\"", snap_dir);
    EXPECT(system(cmd) == 0);
    sbx_session_free(child);
    sbx_session_free(one);
    sbx_session_free(two);
    sbx_session_free(parent);
    check_close_scope(ctx);
    printf("test_snapshots: ok (children's copies: %s)\n", kid_copy);
    return 0;
}
