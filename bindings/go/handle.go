package sandbox

// #include <sandbox.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// cHandle guards one C handle (P, a pointer to an opaque C type: Go does not accept the
// incomplete C type itself as a type argument) of a Go object that embeds it by value:
// calls hold mu shared for as long as they use ptr, close holds it exclusively to free
// ptr. Being embedded, a pointer to it keeps the whole object alive, so its finalizer
// cannot run during a call.
type cHandle[P comparable] struct {
	mu   sync.RWMutex // calls hold it shared; close exclusively, to free
	ptr  P            // nil once closed
	name string       // what ErrClosed calls it: "the <name> was closed"
}

// closed reports whether the handle was freed (its pointer is nil).
func (h *cHandle[P]) closed() bool {
	var null P
	return h.ptr == null
}

// do runs f on the handle for one call, or returns ErrClosed once it was closed.
func (h *cHandle[P]) do(f func(p P) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed() {
		return &Error{Status: StatusClosed, Message: "the " + h.name + " was closed"}
	}
	err := f(h.ptr)
	runtime.KeepAlive(h)
	return err
}

// use is do for a call bounded by ctx: a ctx already done makes no call.
func (h *cHandle[P]) use(ctx context.Context, f func(p P) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return h.do(f)
}

// close releases the handle (idempotent): wake makes calls blocked on it in other
// goroutines return at once (the C *_close), then, once every call returned, release
// frees it (the C *_free). It reports whether this call freed it; the owner then
// clears its finalizer.
func (h *cHandle[P]) close(wake, release func(p P)) bool {
	h.mu.RLock()
	p, closed := h.ptr, h.closed()
	h.mu.RUnlock()
	if closed {
		return false
	}
	wake(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed() {
		return false
	}
	release(h.ptr)
	var null P
	h.ptr = null
	return true
}

// doValue is do for a call with a result: f's result, or the zero R with the error.
func doValue[P comparable, R any](h *cHandle[P], f func(p P) (R, error)) (R, error) {
	var out R
	err := h.do(func(p P) error {
		var err error
		out, err = f(p)
		return err
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return out, nil
}

// useValue is use for a call with a result: f's result, or the zero R with the error.
func useValue[P comparable, R any](ctx context.Context, h *cHandle[P], f func(p P) (R, error)) (R, error) {
	if err := ctxErr(ctx); err != nil {
		var zero R
		return zero, err
	}
	return doValue(h, f)
}

// callOut is a call on a handle (for doValue or useValue) that makes one C call on p
// yielding a C object (O, a pointer) through out, and converts that object with conv.
func callOut[P, O, R any](call func(p P, out *O, e **C.sbx_error) C.sbx_status, conv func(O) (R, error)) func(p P) (R, error) {
	return func(p P) (R, error) {
		return yield(func(out *O) error {
			var e *C.sbx_error
			return check(call(p, out, &e), e)
		}, conv)
	}
}

// callOutKey is callOut for a C call that takes key as a C string (what names it in the
// error for a NUL byte).
func callOutKey[P, O, R any](key, what string, call func(p P, ckey *C.char, out *O, e **C.sbx_error) C.sbx_status,
	conv func(O) (R, error)) func(p P) (R, error) {
	return func(p P) (R, error) {
		return yield(func(out *O) error {
			return withCString(key, what, func(ckey *C.char) error {
				var e *C.sbx_error
				return check(call(p, ckey, out, &e), e)
			})
		}, conv)
	}
}

// callOutWait is callOut for a C call that blocks, bounded by ctx (see waitCall).
func callOutWait[P, O, R any](ctx context.Context, call func(p P, tok *C.sbx_cancel_token, ms C.uint64_t, out *O, e **C.sbx_error) C.sbx_status,
	conv func(O) (R, error)) func(p P) (R, error) {
	return func(p P) (R, error) {
		return yield(func(out *O) error {
			return waitCall(ctx, func(tok *C.sbx_cancel_token, ms C.uint64_t) error {
				var e *C.sbx_error
				return check(call(p, tok, ms, out, &e), e)
			})
		}, conv)
	}
}

// yield converts with conv the C object that call yielded through out, or returns call's
// error (the zero R with it).
func yield[O, R any](call func(out *O) error, conv func(O) (R, error)) (R, error) {
	var out O
	if err := call(&out); err != nil {
		var zero R
		return zero, err
	}
	return conv(out)
}

// writeBytes is an io.Writer's Write of b through one C call on h: all of b, or an error.
func writeBytes[P comparable](h *cHandle[P], b []byte, write func(p P, data *C.uint8_t, n C.size_t, e **C.sbx_error) C.sbx_status) (int, error) {
	err := h.do(func(p P) error {
		var e *C.sbx_error
		return check(write(p, bytesPtr(b), C.size_t(len(b)), &e), e)
	})
	runtime.KeepAlive(b)
	if err != nil {
		return 0, err
	}
	return len(b), nil
}
