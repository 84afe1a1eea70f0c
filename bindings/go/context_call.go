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
	stop := onDone(done, func() { C.sbx_cancel_token_cancel(tok) })
	return tok, func() {
		stop()
		C.sbx_cancel_token_free(tok)
	}, nil
}

// onDone runs fire in a goroutine if done closes before stop is called; stop (call it
// once) ends the goroutine and waits until it returned.
func onDone(done <-chan struct{}, fire func()) (stop func()) {
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			fire()
		case <-finished:
		}
	}()
	return func() {
		close(finished)
		wg.Wait()
	}
}

// waitCall makes one blocking C call f bounded by ctx: f gets ctx's cancel token (nil
// when ctx can never be cancelled) and the timeout_ms of its deadline, and its error also
// matches ctx.Err() when ctx cut it short.
func waitCall(ctx context.Context, f func(tok *C.sbx_cancel_token, ms C.uint64_t) error) error {
	tok, stop, err := watchContext(ctx)
	if err != nil {
		return err
	}
	err = f(tok, timeoutMs(ctx))
	stop()
	return withCause(ctx, err)
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
