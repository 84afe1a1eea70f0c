package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const before = "written before the snapshot\n"

// snapshotImages are the ids of the images of snapshot dir store.
func snapshotImages(t *testing.T, store string) []string {
	out, err := exec.Command("podman", "images", "-q", "--no-trunc", "--filter", "label=sandbox.snapshot.store="+store).Output()
	if err != nil {
		t.Fatalf("podman images: %v", err)
	}
	return strings.Fields(string(out))
}

// tempDir is a new directory removed when the test ends (through podman's user namespace
// too when rootless, where a session's copies may hold files only it can remove).
func tempDir(t *testing.T, tag string) string {
	d, err := os.MkdirTemp("", "sandbox-go-"+tag+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getuid() != 0 {
			_ = exec.Command("podman", "unshare", "rm", "-rf", d).Run()
		}
		_ = os.RemoveAll(d)
	})
	return d
}

// newSnapshotScope is a Sandbox of its own scope with a snapshot dir of its own (its
// images removed when the test ends), and that dir.
func newSnapshotScope(t *testing.T) (*Sandbox, string) {
	t.Helper()
	return newSnapshotScopeWith(t, Config{})
}

// newSnapshotScopeWith is newSnapshotScope with the other settings of cfg.
func newSnapshotScopeWith(t *testing.T, cfg Config) (*Sandbox, string) {
	t.Helper()
	store := tempDir(t, "snapshots")
	scope := unique("go-snap")
	cfg.Scope, cfg.Provision, cfg.SnapshotDir = scope, Bool(false), store
	sb, err := New(&cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if _, err := sb.ReapOrphans(context.Background(), nil); err != nil && !isClosed(err) {
			t.Errorf("reap: %v", err)
		}
		sb.Close()
		removeScope(scope)
		for _, id := range snapshotImages(t, store) {
			_ = exec.Command("podman", "rmi", "-f", id).Run()
		}
		if left := leftovers(t, scope); len(left) > 0 {
			t.Errorf("the test left sessions behind: %v", left)
		}
	})
	return sb, store
}

// copiesDir is a new directory for the copies of children started from a snapshot of sb.
// When the test ends, after its sessions are stopped, the copies left in it are removed
// through sb, and what is still mounted below it is unmounted as a backstop, before the
// dir itself goes.
func copiesDir(t *testing.T, sb *Sandbox, tag string) string {
	d := tempDir(t, tag)
	t.Cleanup(func() { removeCopies(sb, d) })
	return d
}

// removeCopies removes the copies in d through sb, then unmounts what is still mounted
// below d (what a failed test left).
func removeCopies(sb *Sandbox, d string) {
	entries, _ := os.ReadDir(d)
	for _, e := range entries {
		_ = sb.RemoveCopy(context.Background(), filepath.Join(d, e.Name()))
	}
	for _, point := range mountsUnder(d) {
		if exec.Command("umount", point).Run() != nil {
			_ = exec.Command("fusermount3", "-u", point).Run()
		}
	}
}

// checkRetaken checks what a snapshot took again while frozen: some of "working_dir" and
// "container" (none when nothing changed meanwhile).
func checkRetaken(t *testing.T, r SnapshotReport) {
	t.Helper()
	if len(r.Retaken) > 2 {
		t.Fatalf("retaken: %q", r.Retaken)
	}
	for _, part := range r.Retaken {
		if part != "working_dir" && part != "container" {
			t.Fatalf("retaken: %q", r.Retaken)
		}
	}
}

// mountsUnder are the mount points below dir in this process's mount namespace, deepest
// first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), " ")
		if len(fields) > 4 {
			if p := strings.ReplaceAll(fields[4], `\040`, " "); strings.HasPrefix(p, dir+"/") {
				points = append([]string{p}, points...)
			}
		}
	}
	return points
}

// copyMethod is how a session's working dir was copied from its snapshot: its start
// report's snapshot.copy.
func copyMethod(t *testing.T, s *Session) string {
	t.Helper()
	var rep struct {
		Snapshot *struct {
			Copy string `json:"copy"`
		} `json:"snapshot"`
	}
	if r := s.StartReport(); r == nil || json.Unmarshal(r.Raw, &rep) != nil || rep.Snapshot == nil {
		t.Fatalf("no snapshot in the start report of %s", s.ID())
	}
	switch rep.Snapshot.Copy {
	case "reflink", "overlay", "copy":
	default:
		t.Fatalf("copy method of %s: %q", s.ID(), rep.Snapshot.Copy)
	}
	return rep.Snapshot.Copy
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSnapshotStartForkDiffMerge(t *testing.T) {
	sb, store := newSnapshotScope(t)
	ctx := ctxT(t)
	work, kids, merged := tempDir(t, "work"), copiesDir(t, sb, "kids"), tempDir(t, "merged")
	if err := os.WriteFile(filepath.Join(work, "before.txt"), []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	var sessions []*Session
	stopAll := func() {
		for _, s := range sessions {
			s.Stop(context.Background())
			s.Close()
		}
		sessions = nil
	}
	defer stopAll()
	parent, err := sb.Start(ctx, unique("snap"), work, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	sessions = append(sessions, parent)

	r, err := parent.Snapshot(ctx, "base")
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if r.Name != "base" || r.Session != parent.ID() || r.Freeze != "signals" || r.Image == "" ||
		(r.Copy != "reflink" && r.Copy != "copy") || r.Files != 1 || r.Bytes != uint64(len(before)) ||
		r.Took <= 0 || r.Frozen > r.Took || r.Created.IsZero() {
		t.Fatalf("report: %+v", r)
	}
	checkRetaken(t, r)
	if list, err := sb.Snapshots(ctx); err != nil || len(list) != 1 || list[0].Name != "base" {
		t.Fatalf("snapshots: %v %+v", err, list)
	}

	// A child from it has the file; what it writes stays its own.
	childDir := filepath.Join(kids, "child")
	child, err := sb.Start(ctx, unique("kid"), childDir, &StartOptions{Snapshot: "base"})
	if err != nil {
		t.Fatalf("start from the snapshot: %v", err)
	}
	sessions = append(sessions, child)
	if rep := child.StartReport(); rep == nil || rep.Image.Reason != "snapshot" || !strings.Contains(string(rep.Raw), `"name":"base"`) {
		t.Fatalf("start report: %+v", rep)
	}
	// Reflinks where the filesystem has them, else an overlay (also rootless: every file
	// of this tree is the user's), else a plain copy.
	method := copyMethod(t, child)
	if got := readText(t, filepath.Join(childDir, "before.txt")); got != before {
		t.Fatalf("the child's before.txt: %q", got)
	}
	if err := child.WriteFile(ctx, filepath.Join(childDir, "child.txt"), []byte("mine\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(work, "child.txt")); !os.IsNotExist(err) {
		t.Fatalf("the child's write is in the parent: %v", err)
	}
	if d, err := child.Diff(ctx, ""); err != nil || !reflect.DeepEqual(d, []Change{{"child.txt", "added", "file", 5}}) {
		t.Fatalf("the child's diff: %v %+v", err, d)
	}
	rows, err := sb.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.ID == child.ID() && (row.Snapshot == nil || *row.Snapshot != "base") {
			t.Fatalf("list row of the child: %+v", row)
		}
	}

	// A fork of 2: one's change is in its diff only.
	f, err := parent.Fork(ctx, 2, kids, &ForkOptions{Snapshot: "forked"})
	if err != nil {
		t.Fatalf("fork: %v", err)
	}
	sessions = append(sessions, f.Children...)
	if f.Snapshot.Name != "forked" || len(f.Children) != 2 || f.Children[0].ID() != parent.ID()+"-1" ||
		f.Children[1].ID() != parent.ID()+"-2" {
		t.Fatalf("fork: %+v %v", f.Snapshot, f.Children)
	}
	checkRetaken(t, f.Snapshot)
	one, two := f.Children[0], f.Children[1]
	if m1, m2 := copyMethod(t, one), copyMethod(t, two); m1 != method || m2 != method {
		t.Fatalf("the fork's children were copied by %s and %s, the child by %s", m1, m2, method)
	}
	if got := readText(t, filepath.Join(kids, two.ID(), "before.txt")); got != before {
		t.Fatalf("two's before.txt: %q", got)
	}
	if err := one.WriteFile(ctx, filepath.Join(kids, one.ID(), "new.txt"), []byte("from one\n")); err != nil {
		t.Fatal(err)
	}
	if d, err := one.Diff(ctx, ""); err != nil || !reflect.DeepEqual(d, []Change{{"new.txt", "added", "file", 9}}) {
		t.Fatalf("one's diff: %v %+v", err, d)
	}
	if d, err := two.Diff(ctx, "forked"); err != nil || len(d) != 0 {
		t.Fatalf("two's diff: %v %+v", err, d)
	}

	// Merged into a directory, then into the parent.
	m, err := one.Merge(ctx, MergeOptions{Dir: merged})
	if err != nil || m != (MergeReport{Changes: 1, Applied: 1}) {
		t.Fatalf("merge into a dir: %v %+v", err, m)
	}
	if got := readText(t, filepath.Join(merged, "new.txt")); got != "from one\n" {
		t.Fatalf("merged: %q", got)
	}
	if m, err := one.Merge(ctx, MergeOptions{Session: parent, Snapshot: "forked"}); err != nil || m.Applied != 1 {
		t.Fatalf("merge into the parent: %v %+v", err, m)
	}
	if got := readText(t, filepath.Join(work, "new.txt")); got != "from one\n" {
		t.Fatalf("the parent's new.txt: %q", got)
	}

	// A running child's copy cannot go; bad paths.
	if err := sb.RemoveCopy(ctx, childDir); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("removing a running child's copy: %v", err)
	}
	if got := readText(t, filepath.Join(childDir, "before.txt")); got != before {
		t.Fatalf("the child's before.txt after a refused removal: %q", got)
	}
	if err := sb.RemoveCopy(ctx, "relative/child"); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("removing a relative path: %v", err)
	}
	if err := sb.RemoveCopy(ctx, filepath.Join(kids, "never")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing a copy that never was: %v", err)
	}

	// Stopped, the children's copies stay (their changes are the output); the parent's
	// working dir is no snapshot's copy.
	stopAll()
	oneDir, twoDir := filepath.Join(kids, one.ID()), filepath.Join(kids, two.ID())
	if got := readText(t, filepath.Join(childDir, "child.txt")); got != "mine\n" {
		t.Fatalf("the stopped child's child.txt: %q", got)
	}
	if got := readText(t, filepath.Join(oneDir, "new.txt")); got != "from one\n" {
		t.Fatalf("the stopped one's new.txt: %q", got)
	}
	if err := sb.RemoveCopy(ctx, work); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing the parent's working dir as a copy: %v", err)
	}
	if got := readText(t, filepath.Join(work, "before.txt")); got != before {
		t.Fatalf("the parent's before.txt: %q", got)
	}

	// An overlay copy reads from its snapshot, which cannot go while the copy exists.
	if method == "overlay" {
		for name, copies := range map[string][]string{"base": {childDir}, "forked": {oneDir, twoDir}} {
			err := sb.RemoveSnapshot(ctx, name)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "remove those copies first") {
				t.Fatalf("removing %s under overlay copies: %v", name, err)
			}
			for _, c := range copies {
				if !strings.Contains(err.Error(), c) {
					t.Fatalf("the refusal to remove %s does not name %s: %v", name, c, err)
				}
			}
		}
		if list, err := sb.Snapshots(ctx); err != nil || len(list) != 2 {
			t.Fatalf("snapshots after refused removals: %v %+v", err, list)
		}
	}

	// Each copy removed, once; then the snapshots.
	for _, c := range []string{childDir, oneDir, twoDir} {
		if err := sb.RemoveCopy(ctx, c); err != nil {
			t.Fatalf("remove the copy %s: %v", c, err)
		}
		if _, err := os.Lstat(c); !os.IsNotExist(err) {
			t.Fatalf("the removed copy %s is still there: %v", c, err)
		}
	}
	if left := mountsUnder(kids); len(left) != 0 {
		t.Fatalf("still mounted: %v", left)
	}
	if err := sb.RemoveCopy(ctx, childDir); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing a removed copy: %v", err)
	}
	for _, name := range []string{"base", "forked"} {
		if err := sb.RemoveSnapshot(ctx, name); err != nil {
			t.Fatalf("remove %s: %v", name, err)
		}
	}
	if list, err := sb.Snapshots(ctx); err != nil || len(list) != 0 {
		t.Fatalf("snapshots after removal: %v %+v", err, list)
	}
	if left := snapshotImages(t, store); len(left) != 0 {
		t.Fatalf("snapshot images left: %v", left)
	}
}

func TestSnapshotStartInAManagedCopy(t *testing.T) {
	// The copy dir: made by the first managed start, gone with its last copy.
	copies := filepath.Join(tempDir(t, "copies"), "work")
	sb, store := newSnapshotScopeWith(t, Config{CopyDir: copies})
	t.Cleanup(func() { removeCopies(sb, copies) })
	ctx := ctxT(t)
	work := tempDir(t, "work")
	if err := os.WriteFile(filepath.Join(work, "before.txt"), []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	parent, err := sb.Start(ctx, unique("snap"), work, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer parent.Close()
	defer parent.Stop(context.Background())
	r, err := parent.Snapshot(ctx, "base")
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	checkRetaken(t, r)
	if err := parent.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Neither a working dir nor a snapshot: refused, nothing made.
	if _, err := sb.Start(ctx, unique("kid"), "", nil); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "working dir") {
		t.Fatalf("start with no working dir and no snapshot: %v", err)
	}
	if _, err := os.Lstat(copies); !os.IsNotExist(err) {
		t.Fatalf("a refused start made the copy dir: %v", err)
	}

	// No working dir but a snapshot: a managed copy at <copy dir>/<id>.
	kid, err := sb.Start(ctx, unique("managed"), "", &StartOptions{Snapshot: "base"})
	if err != nil {
		t.Fatalf("managed start: %v", err)
	}
	defer kid.Close()
	defer kid.Stop(context.Background())
	managed := filepath.Join(copies, kid.ID())
	if got := kid.StartReport().WorkingDir; got != managed {
		t.Fatalf("the managed session works in %q, not %q", got, managed)
	}
	copyMethod(t, kid)
	if got := readText(t, filepath.Join(managed, "before.txt")); got != before {
		t.Fatalf("the managed copy's before.txt: %q", got)
	}
	if err := sb.RemoveCopy(ctx, managed); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("removing a running session's managed copy: %v", err)
	}

	// Stopped, the copy stays until removed; then the copy dir goes too.
	if err := kid.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, filepath.Join(managed, "before.txt")); got != before {
		t.Fatalf("the stopped session's before.txt: %q", got)
	}
	if err := sb.RemoveCopy(ctx, managed); err != nil {
		t.Fatalf("remove the managed copy: %v", err)
	}
	for _, gone := range []string{managed, copies} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Fatalf("%s is still there: %v", gone, err)
		}
	}
	if left := mountsUnder(filepath.Dir(copies)); len(left) != 0 {
		t.Fatalf("still mounted: %v", left)
	}
	if err := sb.RemoveSnapshot(ctx, "base"); err != nil {
		t.Fatalf("remove the snapshot: %v", err)
	}
	if left := snapshotImages(t, store); len(left) != 0 {
		t.Fatalf("snapshot images left: %v", left)
	}
}

func TestSnapshotCopyDirMustBeAbsolute(t *testing.T) {
	if _, err := New(&Config{Defaults: true, CopyDir: "relative/copies"}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "copy dir") {
		t.Fatalf("a relative CopyDir: %v", err)
	}
	t.Setenv("SANDBOX_COPY_DIR", "relative/copies")
	if _, err := New(nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "copy_dir") {
		t.Fatalf("a relative SANDBOX_COPY_DIR: %v", err)
	}
	sb, err := New(&Config{Defaults: true, CopyDir: "/tmp/copies"})
	if err != nil {
		t.Fatalf("an absolute CopyDir: %v", err)
	}
	sb.Close()
}

func TestSnapshotBadInputGetsTypedErrors(t *testing.T) {
	sb, store := newSnapshotScope(t)
	ctx := ctxT(t)
	work, kids := tempDir(t, "work"), tempDir(t, "kids")
	s, err := sb.Start(ctx, unique("snapbad"), work, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.Close()
	defer s.Stop(context.Background())
	_, errEmpty := s.Snapshot(ctx, "")
	_, errDots := s.Snapshot(ctx, "../x")
	_, errNul := s.Snapshot(ctx, "a\x00b")
	_, errUnknown := sb.Start(ctx, unique("kid"), filepath.Join(kids, "k1"), &StartOptions{Snapshot: "nope"})
	_, errCount0 := s.Fork(ctx, 0, kids, nil)
	_, errCountBig := s.Fork(ctx, 10000, kids, nil)
	_, errCountNeg := s.Fork(ctx, -1, kids, nil)
	_, errInto := s.Fork(ctx, 1, filepath.Join(kids, "missing"), nil)
	_, errDiffUnknown := s.Diff(ctx, "nope")
	_, errDiffNone := s.Diff(ctx, "")
	_, errMergeNone := s.Merge(ctx, MergeOptions{})
	_, errMergeBoth := s.Merge(ctx, MergeOptions{Dir: kids, Session: s})
	_, errMergeNoBase := s.Merge(ctx, MergeOptions{Dir: kids})
	checkErrors(t, []errCase{
		{"empty name", errEmpty, ErrInvalidArgument},
		{"../x", errDots, ErrInvalidArgument},
		{"NUL in the name", errNul, ErrInvalidArgument},
		{"unknown snapshot", errUnknown, ErrNotFound},
		{"fork of 0", errCount0, ErrInvalidArgument},
		{"fork of 10000", errCountBig, ErrInvalidArgument},
		{"fork of -1", errCountNeg, ErrInvalidArgument},
		{"fork into a missing dir", errInto, ErrInvalidArgument},
		{"diff with an unknown snapshot", errDiffUnknown, ErrNotFound},
		{"diff of a session not from a snapshot", errDiffNone, ErrInvalidArgument},
		{"merge without a target", errMergeNone, ErrNullArgument},
		{"merge with two targets", errMergeBoth, ErrInvalidArgument},
		{"merge of a session not from a snapshot", errMergeNoBase, ErrInvalidArgument},
		{"remove an unknown snapshot", sb.RemoveSnapshot(ctx, "nope"), ErrNotFound},
		{"remove a copy at an empty path", sb.RemoveCopy(ctx, ""), ErrInvalidArgument},
		{"remove a copy at a relative path", sb.RemoveCopy(ctx, "relative/copy"), ErrInvalidArgument},
		{"remove a copy at a path with NUL", sb.RemoveCopy(ctx, "/tmp/a\x00b"), ErrInvalidArgument},
		{"remove a copy no snapshot has", sb.RemoveCopy(ctx, filepath.Join(kids, "no-copy")), ErrNotFound},
		{"remove a running session's working dir", sb.RemoveCopy(ctx, work), ErrInvalidArgument},
		{"remove a path in a running session's working dir", sb.RemoveCopy(ctx, filepath.Join(work, "no-copy")), ErrInvalidArgument},
	})
	if _, err := os.Lstat(filepath.Join(kids, "k1")); !os.IsNotExist(err) {
		t.Fatalf("a failed start left its dir: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(ctx, "late"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("snapshot of a stopped session: %v", err)
	}
	if list, err := sb.Snapshots(ctx); err != nil || len(list) != 0 {
		t.Fatalf("snapshots: %v %+v", err, list)
	}
	if reaped, err := sb.ReapSnapshots(ctx); err != nil || len(reaped) != 0 {
		t.Fatalf("reap: %v %v", err, reaped)
	}
	if left := snapshotImages(t, store); len(left) != 0 {
		t.Fatalf("snapshot images left: %v", left)
	}
}

func TestForkChildrenGetTheTemplate(t *testing.T) {
	sb, store := newSnapshotScope(t)
	ctx := ctxT(t)
	work, kids := tempDir(t, "work"), copiesDir(t, sb, "kids")
	if err := os.WriteFile(filepath.Join(work, "before.txt"), []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	parent, err := sb.Start(ctx, unique("forkp"), work, &StartOptions{Env: map[string]string{"PARENT_ONLY": "1"}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer func() {
		parent.Stop(context.Background())
		parent.Close()
	}()

	// A setting that is each child's own: refused, nothing made.
	bad := &ForkOptions{Snapshot: "tmpl", Child: &StartOptions{Image: "docker.io/library/alpine:latest"}}
	if _, err := parent.Fork(ctx, 1, kids, bad); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "fork template") {
		t.Fatalf("a template with an image: %v", err)
	}
	if list, err := sb.Snapshots(ctx); err != nil || len(list) != 0 {
		t.Fatalf("snapshots after a refused fork: %v %+v", err, list)
	}

	prefix := unique("tmpl")
	f, err := parent.Fork(ctx, 1, kids, &ForkOptions{
		Snapshot: "tmpl",
		ID:       prefix,
		Child:    &StartOptions{Env: map[string]string{"FORK_ROLE": "child"}, MemoryLimit: 300 << 20},
	})
	if err != nil {
		t.Fatalf("fork: %v", err)
	}
	child := f.Children[0]
	defer func() {
		child.Stop(context.Background())
		child.Close()
	}()
	if len(f.Children) != 1 || child.ID() != prefix+"-1" {
		t.Fatalf("children: %v", f.Children)
	}
	if raw := string(child.StartReport().Raw); !strings.Contains(raw, `"memory_bytes":314572800`) {
		t.Fatalf("the child's start report has not the template's memory limit: %s", raw)
	}
	probe := []string{"sh", "-c", `printf "%s,%s" "$FORK_ROLE" "${PARENT_ONLY-unset}"`}
	for _, c := range []struct {
		s    *Session
		want string
	}{{child, "child,unset"}, {parent, ",1"}} {
		r, err := c.s.Exec(ctx, probe, nil)
		if err != nil || string(r.Stdout) != c.want {
			t.Fatalf("%s: %v %+v", c.s.ID(), err, r)
		}
	}
	if err := child.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.RemoveCopy(ctx, filepath.Join(kids, child.ID())); err != nil {
		t.Fatal(err)
	}
	if err := sb.RemoveSnapshot(ctx, "tmpl"); err != nil {
		t.Fatal(err)
	}
	if left := snapshotImages(t, store); len(left) != 0 {
		t.Fatalf("snapshot images left: %v", left)
	}
}
