package sandbox

// #include <sandbox.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// cHandle guards one C handle (*T) of a Go object that embeds it by value: calls hold mu
// shared for as long as they use ptr, close holds it exclusively to free ptr. Being
// embedded, a pointer to it keeps the whole object alive, so its finalizer cannot run
// during a call.
type cHandle[T any] struct {
	mu   sync.RWMutex // calls hold it shared; close exclusively, to free
	ptr  *T           // nil once closed
	name string       // what ErrClosed calls it: "the <name> was closed"
}

// do runs f on the handle for one call, or returns ErrClosed once it was closed.
func (h *cHandle[T]) do(f func(p *T) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return &Error{Status: StatusClosed, Message: "the " + h.name + " was closed"}
	}
	err := f(h.ptr)
	runtime.KeepAlive(h)
	return err
}

// use is do for a call bounded by ctx: a ctx already done makes no call.
func (h *cHandle[T]) use(ctx context.Context, f func(p *T) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return h.do(f)
}

// close releases the handle (idempotent): wake makes calls blocked on it in other
// goroutines return at once (the C *_close), then, once every call returned, release
// frees it (the C *_free). It reports whether this call freed it; the owner then
// clears its finalizer.
func (h *cHandle[T]) close(wake, release func(p *T)) bool {
	h.mu.RLock()
	p := h.ptr
	h.mu.RUnlock()
	if p == nil {
		return false
	}
	wake(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return false
	}
	release(h.ptr)
	h.ptr = nil
	return true
}

// doValue is do for a call with a result: f's result, or the zero R with the error.
func doValue[T, R any](h *cHandle[T], f func(p *T) (R, error)) (R, error) {
	var out R
	err := h.do(func(p *T) error {
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
func useValue[T, R any](ctx context.Context, h *cHandle[T], f func(p *T) (R, error)) (R, error) {
	if err := ctxErr(ctx); err != nil {
		var zero R
		return zero, err
	}
	return doValue(h, f)
}

// callOut is a call on a handle (for doValue or useValue) that makes one C call on p
// yielding a C object through out, and converts that object with conv.
func callOut[T, O, R any](call func(p *T, out **O, e **C.sbx_error) C.sbx_status, conv func(*O) (R, error)) func(p *T) (R, error) {
	return func(p *T) (R, error) {
		return yield(func(out **O) error {
			var e *C.sbx_error
			return check(call(p, out, &e), e)
		}, conv)
	}
}

// callOutKey is callOut for a C call that takes key as a C string (what names it in the
// error for a NUL byte).
func callOutKey[T, O, R any](key, what string, call func(p *T, ckey *C.char, out **O, e **C.sbx_error) C.sbx_status,
	conv func(*O) (R, error)) func(p *T) (R, error) {
	return func(p *T) (R, error) {
		return yield(func(out **O) error {
			return withCString(key, what, func(ckey *C.char) error {
				var e *C.sbx_error
				return check(call(p, ckey, out, &e), e)
			})
		}, conv)
	}
}

// callOutWait is callOut for a C call that blocks, bounded by ctx (see waitCall).
func callOutWait[T, O, R any](ctx context.Context, call func(p *T, tok *C.sbx_cancel_token, ms C.uint64_t, out **O, e **C.sbx_error) C.sbx_status,
	conv func(*O) (R, error)) func(p *T) (R, error) {
	return func(p *T) (R, error) {
		return yield(func(out **O) error {
			return waitCall(ctx, func(tok *C.sbx_cancel_token, ms C.uint64_t) error {
				var e *C.sbx_error
				return check(call(p, tok, ms, out, &e), e)
			})
		}, conv)
	}
}

// yield converts with conv the C object that call yielded through out, or returns call's
// error (the zero R with it).
func yield[O, R any](call func(out **O) error, conv func(*O) (R, error)) (R, error) {
	var out *O
	if err := call(&out); err != nil {
		var zero R
		return zero, err
	}
	return conv(out)
}

// writeBytes is an io.Writer's Write of b through one C call on h: all of b, or an error.
func writeBytes[T any](h *cHandle[T], b []byte, write func(p *T, data *C.uint8_t, n C.size_t, e **C.sbx_error) C.sbx_status) (int, error) {
	err := h.do(func(p *T) error {
		var e *C.sbx_error
		return check(write(p, bytesPtr(b), C.size_t(len(b)), &e), e)
	})
	runtime.KeepAlive(b)
	if err != nil {
		return 0, err
	}
	return len(b), nil
}
