package sandbox

// #include <sandbox.h>
import "C"

import (
	"context"
	"sync"
	"time"
)

// noTimeout is SBX_NO_TIMEOUT: a timeout_ms that waits as long as it takes.
const noTimeout = ^uint64(0)

// watchContext ties one blocking C call to ctx: it returns a cancel token for the call
// (nil when ctx can never be cancelled), fired from a goroutine when ctx is done, and a
// function that stops the goroutine and frees the token once the call returned.
func watchContext(ctx context.Context) (*C.sbx_cancel_token, func(), error) {
	done := ctx.Done()
	if done == nil {
		return nil, func() {}, nil
	}
	var tok *C.sbx_cancel_token
	var e *C.sbx_error
	if err := check(C.sbx_cancel_token_new(&tok, &e), e); err != nil {
		return nil, nil, err
	}
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			C.sbx_cancel_token_cancel(tok)
		case <-finished:
		}
	}()
	return tok, func() {
		close(finished)
		wg.Wait()
		C.sbx_cancel_token_free(tok)
	}, nil
}

// timeoutMs is the timeout_ms of a C read or wait bounded by ctx's deadline
// (SBX_NO_TIMEOUT without one; at least 1 ms, so a deadline never means "don't wait").
func timeoutMs(ctx context.Context) C.uint64_t {
	d, ok := ctx.Deadline()
	if !ok {
		return C.uint64_t(noTimeout)
	}
	ms := time.Until(d).Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return C.uint64_t(ms)
}

// withCause makes an error of a call cut short by ctx also match ctx.Err() with
// errors.Is. At a deadline either the library's timeout (derived from the deadline, so
// it matches context.DeadlineExceeded too) or the context's cancel token fires first; the
// status says which, the cause is the same.
func withCause(ctx context.Context, err error) error {
	ce, ok := err.(*Error)
	if !ok {
		return err
	}
	_, hasDeadline := ctx.Deadline()
	switch {
	case ce.Status == StatusCancelled && ctx.Err() != nil:
		ce.cause = ctx.Err()
	case ce.Status == StatusTimeout && hasDeadline:
		ce.cause = context.DeadlineExceeded
	}
	return err
}
