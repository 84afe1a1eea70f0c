//! Panic guards for the exports that return a plain value or nothing (getters, `*_free`,
//! `*_close`): a panic must never unwind into C. Exports that return a status go through
//! `boundary::call`, which also turns errors into statuses.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs the body of an export that returns a plain value (getters): a panic gives
/// `fallback`.
pub(crate) fn value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Runs the body of an export that returns nothing (`*_close`, `*_free`): a panic is
/// swallowed rather than unwinding into C.
pub(crate) fn quiet(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}
