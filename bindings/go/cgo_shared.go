//go:build !sandbox_static

package sandbox

// Links libsandbox.so found through pkg-config (PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
// after `make -C ffi install PREFIX=$PREFIX`). Build with -tags sandbox_static to link
// libsandbox.a instead.

// #cgo pkg-config: sandbox
import "C"
