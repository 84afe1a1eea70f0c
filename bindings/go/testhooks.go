package sandbox

// Hooks for this package's tests: trigger conditions a correct program never meets (a
// panic inside libsandbox, a call from one of its runtime threads) to check how they
// are reported. Unexported; not part of the API.

/*
#include <stdint.h>
#include <sandbox.h>
extern void sandboxGoRuntimeCallback(void *);
static sbx_status sandbox_call_on_runtime(const sbx_context *ctx, uintptr_t key, sbx_error **err) {
    return sbx_test_call_on_runtime_thread(ctx, sandboxGoRuntimeCallback, (void *)key, err);
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

var (
	hooksMu sync.Mutex
	hooks   = map[uintptr]func(){}
	hookKey uintptr
)

//export sandboxGoRuntimeCallback
func sandboxGoRuntimeCallback(key unsafe.Pointer) {
	hooksMu.Lock()
	f := hooks[uintptr(key)]
	hooksMu.Unlock()
	f()
}

// callOnRuntimeThread runs f on one of the context's runtime threads and waits.
func (sb *Sandbox) callOnRuntimeThread(f func()) error {
	return sb.do(func(p *C.sbx_context) error {
		hooksMu.Lock()
		hookKey++
		key := hookKey
		hooks[key] = f
		hooksMu.Unlock()
		defer func() {
			hooksMu.Lock()
			delete(hooks, key)
			hooksMu.Unlock()
		}()
		var e *C.sbx_error
		return check(C.sandbox_call_on_runtime(p, C.uintptr_t(key), &e), e)
	})
}

// triggerPanic panics inside libsandbox.
func triggerPanic() error {
	var e *C.sbx_error
	return check(C.sbx_test_trigger_panic(&e), e)
}
