package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"math"
)

// ForkOptions are the optional parts of Session.Fork; nil means all defaults.
type ForkOptions struct {
	// Snapshot names the snapshot the children start from; "" is
	// "<session id>-fork-<ms since the epoch>".
	Snapshot string
	// ID is the children's id prefix (children "<ID>-1", "<ID>-2"...); "" is the
	// session's id.
	ID string
	// Child is every child's settings, as Sandbox.Start takes them (Env, Ports, Network,
	// Egress, limits...); nil is the defaults. Image and Snapshot are each child's own:
	// setting one is ErrInvalidArgument. What the forked session set for itself (its Env)
	// is not inherited.
	Child *StartOptions
}

// ForkResult is what Session.Fork made. The children run until stopped (Stop on each);
// their copies of the working dir stay until Sandbox.RemoveCopy, the snapshot until
// Sandbox.RemoveSnapshot.
type ForkResult struct {
	// Snapshot is the snapshot the children started from.
	Snapshot SnapshotReport
	// Children are the children, in order (ids "<session id>-1", "-2"...).
	Children []*Session
}

// Change is one changed path of a working dir (a row of Session.Diff).
type Change struct {
	// Path is relative to the working dir.
	Path string
	// Kind is what happened to it: "added", "modified" or "deleted".
	Kind string
	// Entry is what it is (for a deletion: was): "file", "dir", "symlink" or "other".
	Entry string
	// Size is its size now in bytes (files and symlinks; 0 for directories and
	// deletions).
	Size uint64
}

// MergeOptions say what Session.Merge merges where. Exactly one of Dir and Session is
// the target.
type MergeOptions struct {
	// Dir is a directory to merge into (not a running session's working dir).
	Dir string
	// Session is a session to merge into (its working dir; it is paused meanwhile).
	Session *Session
	// Snapshot is the snapshot the changes are relative to; "" is the one the session
	// started from.
	Snapshot string
	// Force lets the merged session's version win where the target changed a path too
	// (else that is a conflict: ErrInvalidArgument, nothing changed).
	Force bool
}

// MergeReport is what Session.Merge did.
type MergeReport struct {
	// Changes is how many changes were merged (what Diff gives).
	Changes int
	// Applied is how many paths were written or removed in the target.
	Applied int
}

// optCString is a C copy of s, or nil for "" (release with free when not nil).
func optCString(s, what string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	return cString(s, what)
}

// Fork forks the session into count children (1 to 64): a snapshot, then a start from
// it per child, each with its own copy of the working dir at into/<child id> (ids
// "<session id>-1", "-2"...). All or nothing. ErrInvalidArgument for a bad count, a
// missing into or a child dir that exists. ctx is checked before the call; once begun it
// is not cut short.
func (s *Session) Fork(ctx context.Context, count int, into string, opts *ForkOptions) (*ForkResult, error) {
	if opts == nil {
		opts = &ForkOptions{}
	}
	if count < 0 || uint64(count) > math.MaxUint32 {
		return nil, invalid("invalid fork count: %d children: a fork makes 1 to 64", count)
	}
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (*ForkResult, error) {
		cinto, err := cString(into, "into")
		if err != nil {
			return nil, err
		}
		defer free(cinto)
		csnap, err := optCString(opts.Snapshot, "snapshot name")
		if err != nil {
			return nil, err
		}
		if csnap != nil {
			defer free(csnap)
		}
		var f *C.sbx_fork
		var e *C.sbx_error
		if opts.ID == "" && opts.Child == nil {
			if err := check(C.sbx_session_fork(p, C.uint32_t(count), cinto, csnap, &f, &e), e); err != nil {
				return nil, err
			}
		} else {
			prefix := opts.ID
			if prefix == "" {
				prefix = s.ID()
			}
			child := opts.Child
			if child == nil {
				child = &StartOptions{}
			}
			template, err := newSessionSpec(prefix, "", child)
			if err != nil {
				return nil, err
			}
			defer C.sbx_session_spec_free(template)
			if err := check(C.sbx_session_fork_with_template(p, C.uint32_t(count), cinto, csnap, template, &f, &e), e); err != nil {
				return nil, err
			}
		}
		defer C.sbx_fork_free(f)
		report, err := readSnapshotReport(C.sbx_fork_snapshot_report(f))
		if err != nil {
			return nil, err
		}
		out := &ForkResult{Snapshot: report}
		for i := C.size_t(0); i < C.sbx_fork_count(f); i++ {
			var cp *C.sbx_session
			e = nil
			if err := check(C.sbx_fork_child(f, i, &cp, &e), e); err != nil {
				return nil, err
			}
			child, err := newSession(cp)
			if err != nil {
				return nil, err
			}
			out.Children = append(out.Children, child)
		}
		return out, nil
	})
}

// Diff returns what the session's working dir changed relative to snapshot ("" is the
// one it started from), sorted by path; the session is paused meanwhile. ErrNotFound for
// an unknown snapshot, ErrInvalidArgument when none is named and the session did not
// start from one.
func (s *Session) Diff(ctx context.Context, snapshot string) ([]Change, error) {
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) ([]Change, error) {
		csnap, err := optCString(snapshot, "snapshot name")
		if err != nil {
			return nil, err
		}
		if csnap != nil {
			defer free(csnap)
		}
		var d *C.sbx_diff
		var e *C.sbx_error
		if err := check(C.sbx_session_diff(p, csnap, &d, &e), e); err != nil {
			return nil, err
		}
		defer C.sbx_diff_free(d)
		return listOf(C.sbx_diff_len(d), func(i C.size_t) Change {
			return Change{
				Path:  C.GoString(C.sbx_diff_path(d, i)),
				Kind:  C.GoString(C.sbx_diff_kind(d, i)),
				Entry: C.GoString(C.sbx_diff_entry(d, i)),
				Size:  uint64(C.sbx_diff_size(d, i)),
			}
		}), nil
	})
}

// Merge merges what the session changed relative to opts.Snapshot into opts.Dir or
// opts.Session (exactly one). A path the target changed too is a conflict: unless
// opts.Force (this session's version wins), ErrInvalidArgument naming the paths, with
// nothing changed. ctx is checked before the call; once begun it is not cut short.
func (s *Session) Merge(ctx context.Context, opts MergeOptions) (MergeReport, error) {
	switch {
	case opts.Dir == "" && opts.Session == nil:
		return MergeReport{}, &Error{Status: StatusNullArgument, Message: "no merge target: set Dir or Session"}
	case opts.Dir != "" && opts.Session != nil:
		return MergeReport{}, invalid("invalid merge target: set Dir or Session, not both")
	case opts.Session == s:
		return MergeReport{}, invalid("invalid merge target: a session cannot merge into itself")
	}
	merge := func(p *C.sbx_session, target *C.sbx_session) (MergeReport, error) {
		cdir, err := optCString(opts.Dir, "merge dir")
		if err != nil {
			return MergeReport{}, err
		}
		if cdir != nil {
			defer free(cdir)
		}
		csnap, err := optCString(opts.Snapshot, "snapshot name")
		if err != nil {
			return MergeReport{}, err
		}
		if csnap != nil {
			defer free(csnap)
		}
		var r *C.sbx_merge_report
		var e *C.sbx_error
		if err := check(C.sbx_session_merge(p, csnap, cdir, target, C.bool(opts.Force), &r, &e), e); err != nil {
			return MergeReport{}, err
		}
		defer C.sbx_merge_report_free(r)
		return MergeReport{Changes: int(C.sbx_merge_report_changes(r)), Applied: int(C.sbx_merge_report_applied(r))}, nil
	}
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (MergeReport, error) {
		if opts.Session == nil {
			return merge(p, nil)
		}
		return doValue(&opts.Session.cHandle, func(target *C.sbx_session) (MergeReport, error) { return merge(p, target) })
	})
}
