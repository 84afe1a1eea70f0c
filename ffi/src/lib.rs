//! C ABI of sandbox-core (work in progress).
