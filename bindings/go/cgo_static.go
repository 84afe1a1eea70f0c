//go:build sandbox_static

package sandbox

// Links libsandbox.a (and the system libraries it needs) through pkg-config's
// sandbox-static.pc: the binary then has no runtime dependency on libsandbox.so.

// #cgo pkg-config: sandbox-static
import "C"
