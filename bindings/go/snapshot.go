package sandbox

// #include <sandbox.h>
import "C"

import (
	"context"
	"encoding/json"
	"time"
)

// SnapshotInfo is a stored snapshot (a row of Sandbox.Snapshots).
type SnapshotInfo struct {
	// Name is its name.
	Name string
	// Session is the id of the session it was taken from.
	Session string
	// WorkingDir is that session's working dir.
	WorkingDir string
	// Image is the image of the container's filesystem changes (its id).
	Image string
	// Created is when it was taken.
	Created time.Time
	// Copy is how the working dir was copied: "reflink" (sharing data blocks until
	// either side writes) or "copy".
	Copy string
	// Files is how many regular files the working dir's copy holds; Bytes their size.
	Files, Bytes uint64
	// UnsetEnv are the session's own environment variables, which sessions started from
	// the snapshot do not inherit.
	UnsetEnv []string
}

// SnapshotReport is what Session.Snapshot took, how the session was frozen meanwhile,
// and what was taken again while it was.
type SnapshotReport struct {
	SnapshotInfo
	// Freeze is how: "signals" (SIGSTOP to every process but the agent and init, SIGCONT
	// after), or "already_paused" (the session was paused and stays paused).
	Freeze string
	// Processes is how many processes were frozen.
	Processes uint32
	// Frozen is how long they were frozen; Took how long the whole snapshot took.
	Frozen, Took time.Duration
	// Retaken is what was taken again while the session was frozen because it changed
	// while the first copy or commit ran with the session running: "working_dir" (its
	// copy), "container" (the image of the container's changes); empty when the freeze
	// only checked that nothing had.
	Retaken []string
}

// snapshotJSON is the JSON of sbx_snapshot_report_json and sbx_snapshot_list_json.
type snapshotJSON struct {
	Name       string   `json:"name"`
	Session    string   `json:"session"`
	WorkingDir string   `json:"working_dir"`
	Image      string   `json:"image"`
	CreatedMs  int64    `json:"created_ms"`
	Copy       string   `json:"copy"`
	Files      uint64   `json:"files"`
	Bytes      uint64   `json:"bytes"`
	UnsetEnv   []string `json:"unset_env"`
	Freeze     string   `json:"freeze"`
	Processes  uint32   `json:"processes"`
	FrozenUs   int64    `json:"frozen_us"`
	TookUs     int64    `json:"took_us"`
	Retaken    []string `json:"retaken"`
}

func (j snapshotJSON) info() SnapshotInfo {
	return SnapshotInfo{
		Name: j.Name, Session: j.Session, WorkingDir: j.WorkingDir, Image: j.Image,
		Created: time.UnixMilli(j.CreatedMs), Copy: j.Copy, Files: j.Files, Bytes: j.Bytes, UnsetEnv: j.UnsetEnv,
	}
}

// readSnapshotReport converts a report (borrowed: not freed here).
func readSnapshotReport(r *C.sbx_snapshot_report) (SnapshotReport, error) {
	var j snapshotJSON
	if err := json.Unmarshal([]byte(C.GoString(C.sbx_snapshot_report_json(r))), &j); err != nil {
		return SnapshotReport{}, err
	}
	return SnapshotReport{
		SnapshotInfo: j.info(), Freeze: j.Freeze, Processes: j.Processes,
		Frozen: time.Duration(j.FrozenUs) * time.Microsecond, Took: time.Duration(j.TookUs) * time.Microsecond,
		Retaken: j.Retaken,
	}, nil
}

// Snapshot takes snapshot name of the session: a copy of its working dir and an image of
// its container's filesystem changes, made first with the session running; then its
// processes are frozen (a paused session stays paused) and what changed meanwhile is
// taken again (SnapshotReport.Retaken). Start sessions from it with StartOptions.Snapshot; remove it
// with Sandbox.RemoveSnapshot. ErrInvalidArgument for a bad name or one that exists,
// ErrSessionNotFound for a stopped session. ctx is checked before the call; once begun
// it is not cut short.
func (s *Session) Snapshot(ctx context.Context, name string) (SnapshotReport, error) {
	return useValue(ctx, &s.cHandle, callOutKey(name, "snapshot name",
		func(p *C.sbx_session, cname *C.char, out **C.sbx_snapshot_report, e **C.sbx_error) C.sbx_status {
			return C.sbx_session_snapshot(p, cname, out, e)
		}, func(r *C.sbx_snapshot_report) (SnapshotReport, error) {
			defer C.sbx_snapshot_report_free(r)
			return readSnapshotReport(r)
		}))
}

// Snapshots returns the snapshots in the snapshot dir (Config.SnapshotDir,
// SANDBOX_SNAPSHOT_DIR), by name.
func (sb *Sandbox) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	return useValue(ctx, &sb.cHandle, callOut(func(p *C.sbx_context, list **C.sbx_snapshot_list, e **C.sbx_error) C.sbx_status {
		return C.sbx_context_snapshots(p, list, e)
	}, func(list *C.sbx_snapshot_list) ([]SnapshotInfo, error) {
		defer C.sbx_snapshot_list_free(list)
		var rows []snapshotJSON
		if err := json.Unmarshal([]byte(C.GoString(C.sbx_snapshot_list_json(list))), &rows); err != nil {
			return nil, err
		}
		out := make([]SnapshotInfo, 0, len(rows))
		for _, r := range rows {
			out = append(out, r.info())
		}
		return out, nil
	}))
}

// RemoveSnapshot removes snapshot name (its image and its copy). ErrNotFound when there
// is none; ErrInvalidArgument, with nothing removed, while a container started from it
// exists or while a session started from it has an overlay copy of it ("overlay" in its
// start report's snapshot copy; remove those first with RemoveCopy).
func (sb *Sandbox) RemoveSnapshot(ctx context.Context, name string) error {
	return sb.use(ctx, func(p *C.sbx_context) error {
		return withCString(name, "snapshot name", func(cname *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_context_remove_snapshot(p, cname, &e), e)
		})
	})
}

// RemoveCopy removes the copy of a snapshot at path (an absolute path) that a session
// started from it (StartOptions.Snapshot; a managed copy too, then the copy dir when it
// is left empty) or a fork's child got as its working dir:
// unmounts it if it is an overlay (which stays mounted after its session stops: its
// changes are the output), removes its files, including those the session made, and its
// record in the snapshot dir. Reflink and plain copies are removed the same way; the
// snapshot stays. ErrInvalidArgument for a relative path, while a session of this scope
// (running or not, as List shows it) has path as its working dir (stop it first), or
// while path is inside the working dir of a running session (which could redirect the
// removal); ErrNotFound when no snapshot has a copy at path.
func (sb *Sandbox) RemoveCopy(ctx context.Context, path string) error {
	return sb.use(ctx, func(p *C.sbx_context) error {
		return withCString(path, "path", func(cpath *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_context_remove_copy(p, cpath, &e), e)
		})
	})
}

// ReapSnapshots removes what failed or interrupted snapshots left in the snapshot dir;
// it returns the removed paths.
func (sb *Sandbox) ReapSnapshots(ctx context.Context) ([]string, error) {
	return useValue(ctx, &sb.cHandle, callOut(func(p *C.sbx_context, list **C.sbx_string_list, e **C.sbx_error) C.sbx_status {
		return C.sbx_context_reap_snapshots(p, list, e)
	}, func(list *C.sbx_string_list) ([]string, error) {
		defer C.sbx_string_list_free(list)
		return listOf(C.sbx_string_list_len(list), func(i C.size_t) string { return C.GoString(C.sbx_string_list_get(list, i)) }), nil
	}))
}
