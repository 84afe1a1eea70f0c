package sandbox

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestFileRoundTripStatReadDirRemove(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("files"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.Stop(ctx)
	data := bytes.Repeat([]byte{0, 1, 2, 255}, 100000)
	d := filepath.Join(dir, "data")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, d+"/b.bin", data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadFile(ctx, d+"/b.bin"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %v (%d bytes)", err, len(got))
	}
	if err := s.WriteFileMode(ctx, d+"/a.txt", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadFile(ctx, d+"/a.txt"); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v %q", err, got)
	}
	if _, err := s.Exec(ctx, []string{"ln", "-s", "a.txt", d + "/link"}, nil); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, d+"/a.txt")
	if err != nil || info.Name() != "a.txt" || info.Size() != 0 || info.Mode() != 0o600 || info.IsDir() || info.ModTime().IsZero() {
		t.Fatalf("stat: %v %+v", err, info)
	}
	if l, err := s.Stat(ctx, d+"/link"); err != nil || l.Mode()&fs.ModeSymlink == 0 || l.Target() != "a.txt" {
		t.Fatalf("symlink: %v %+v", err, l)
	}
	entries, err := s.ReadDir(ctx, d)
	if err != nil || len(entries) != 3 || entries[0].Name() != "a.txt" || entries[1].Name() != "b.bin" || entries[1].Size() != int64(len(data)) {
		t.Fatalf("readdir: %v %+v", err, entries)
	}
	if di, err := s.Stat(ctx, d); err != nil || !di.IsDir() {
		t.Fatalf("dir: %v %+v", err, di)
	}
	if err := s.Remove(ctx, d+"/a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, d+"/a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed: %v", err)
	}
	if err := s.Remove(ctx, d); err == nil {
		t.Fatal("removing a non-empty dir needs RemoveAll")
	}
	if err := s.RemoveAll(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Fatalf("the host sees the removal: %v", err)
	}
	checkErrors(t, []errCase{
		{"read missing", func() error { _, err := s.ReadFile(ctx, "/no/such/file"); return err }(), ErrNotFound},
		{"write no dir", s.WriteFile(ctx, "/no/such/dir/f", []byte("x")), ErrNotFound},
		{"bad mode", s.WriteFileMode(ctx, "/tmp/m", nil, fs.ModeDir|0o644), ErrInvalidArgument},
		{"empty path", s.WriteFile(ctx, "", nil), ErrInvalidArgument},
		{"NUL path", s.WriteFile(ctx, "/tmp/a\x00b", nil), ErrInvalidArgument},
		{"readdir missing", func() error { _, err := s.ReadDir(ctx, "/no/such/dir"); return err }(), ErrNotFound},
	})
}
