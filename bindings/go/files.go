package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"io/fs"
	"os"
	"runtime"
	"time"
	"unsafe"
)

// FileInfo describes a filesystem entry as the container sees it. It implements
// fs.FileInfo (Mode carries the type bits: fs.ModeDir, fs.ModeSymlink, fs.ModeIrregular
// for devices, fifos and sockets).
type FileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
	target  string
}

var _ fs.FileInfo = (*FileInfo)(nil)

func (f *FileInfo) Name() string       { return f.name }
func (f *FileInfo) Size() int64        { return f.size }
func (f *FileInfo) Mode() fs.FileMode  { return f.mode }
func (f *FileInfo) ModTime() time.Time { return f.modTime }
func (f *FileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f *FileInfo) Sys() any           { return nil }

// Target is where a symlink points ("" for other kinds).
func (f *FileInfo) Target() string { return f.target }

func fileInfo(p *C.sbx_file_info) FileInfo {
	mode := fs.FileMode(C.sbx_file_info_mode(p)) & fs.ModePerm
	raw := uint32(C.sbx_file_info_mode(p))
	if raw&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if raw&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if raw&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch C.sbx_file_info_kind(p) {
	case C.SBX_FILE_KIND_DIR:
		mode |= fs.ModeDir
	case C.SBX_FILE_KIND_SYMLINK:
		mode |= fs.ModeSymlink
	case C.SBX_FILE_KIND_OTHER:
		mode |= fs.ModeIrregular
	}
	target := ""
	if t := C.sbx_file_info_target(p); t != nil {
		target = C.GoString(t)
	}
	return FileInfo{
		name:    C.GoString(C.sbx_file_info_name(p)),
		size:    int64(C.sbx_file_info_size(p)),
		mode:    mode,
		modTime: time.UnixMilli(int64(C.sbx_file_info_modified_unix_ms(p))),
		target:  target,
	}
}

// ReadFile reads the whole file at path inside the container. ctx is checked before the
// call; closing the session interrupts it.
func (s *Session) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return useValue(ctx, &s.cHandle, callOutKey(path, "path", func(p *C.sbx_session, cp *C.char, buf **C.sbx_buffer, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_read_file(p, cp, buf, e)
	}, func(buf *C.sbx_buffer) ([]byte, error) {
		defer C.sbx_buffer_free(buf)
		var data *C.uint8_t
		var n C.size_t
		C.sbx_buffer_data(buf, &data, &n, nil)
		out := []byte{}
		if n > 0 {
			out = C.GoBytes(unsafe.Pointer(data), C.int(n))
		}
		return out, nil
	}))
}

// WriteFile writes path atomically (readers see the old or the new content), keeping the
// replaced file's permissions (else 0644).
func (s *Session) WriteFile(ctx context.Context, path string, data []byte) error {
	return s.writeFile(ctx, path, data, -1)
}

// WriteFileMode is WriteFile with explicit permission bits (and the sticky bit). A
// session cannot create setuid or setgid files: those bits are refused with
// ErrInvalidArgument.
func (s *Session) WriteFileMode(ctx context.Context, path string, data []byte, perm os.FileMode) error {
	if perm&^(fs.ModePerm|fs.ModeSticky) != 0 {
		return invalid("invalid mode %v: only permission bits and sticky (a session cannot create setuid or setgid files)", perm)
	}
	bits := int32(perm & fs.ModePerm)
	if perm&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return s.writeFile(ctx, path, data, bits)
}

func (s *Session) writeFile(ctx context.Context, path string, data []byte, mode int32) error {
	return s.use(ctx, func(p *C.sbx_session) error {
		err := withCString(path, "path", func(cp *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_session_write_file(p, cp, bytesPtr(data), C.size_t(len(data)), C.int32_t(mode), &e), e)
		})
		runtime.KeepAlive(data)
		return err
	})
}

// ReadDir lists the directory path, sorted by name.
func (s *Session) ReadDir(ctx context.Context, path string) ([]FileInfo, error) {
	return useValue(ctx, &s.cHandle, callOutKey(path, "path", func(p *C.sbx_session, cp *C.char, list **C.sbx_file_list, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_list_dir(p, cp, list, e)
	}, func(list *C.sbx_file_list) ([]FileInfo, error) {
		defer C.sbx_file_list_free(list)
		return listOf(C.sbx_file_list_len(list), func(i C.size_t) FileInfo { return fileInfo(C.sbx_file_list_get(list, i)) }), nil
	}))
}

// Stat describes path (a symlink itself, not its target).
func (s *Session) Stat(ctx context.Context, path string) (*FileInfo, error) {
	return useValue(ctx, &s.cHandle, callOutKey(path, "path", func(p *C.sbx_session, cp *C.char, info **C.sbx_file_info, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_stat(p, cp, info, e)
	}, func(info *C.sbx_file_info) (*FileInfo, error) {
		defer C.sbx_file_info_free(info)
		out := fileInfo(info)
		return &out, nil
	}))
}

// Remove removes a file, symlink or empty directory.
func (s *Session) Remove(ctx context.Context, path string) error { return s.remove(ctx, path, false) }

// RemoveAll removes path and, for a directory, everything in it.
func (s *Session) RemoveAll(ctx context.Context, path string) error { return s.remove(ctx, path, true) }

func (s *Session) remove(ctx context.Context, path string, recursive bool) error {
	return s.use(ctx, func(p *C.sbx_session) error {
		return withCString(path, "path", func(cp *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_session_remove(p, cp, C.bool(recursive), &e), e)
		})
	})
}
