//! Shared by the fuzz targets.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Once;

thread_local! {
    /// The last panic on this thread, in words, with a backtrace when `RUST_BACKTRACE` asks.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// clerk wraps calamine (which panics on some damaged workbooks) in `catch_unwind` and turns
/// those panics into "the workbook is damaged" errors. libfuzzer-sys installs a panic hook that
/// aborts before any unwinding, which would report those handled panics as crashes. This
/// replaces it with a silent hook: a panic clerk handles is then what it is in production,
/// and one that escapes still reaches libfuzzer-sys's own `catch_unwind`, which aborts and
/// reports it. The hook keeps the panic's message and place for [`report_escaped`].
pub fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let trace = std::backtrace::Backtrace::capture();
            LAST_PANIC.with(|l| *l.borrow_mut() = Some(format!("{info}\n{trace}")));
        }))
    });
}

/// Runs `f`; a panic that escapes it (one clerk did not handle) is printed, message, place
/// and backtrace (with `RUST_BACKTRACE=1`), before it goes on to libfuzzer-sys, whose abort
/// says nothing about it. Handled panics stay silent.
pub fn report_escaped<R>(f: impl FnOnce() -> R) -> R {
    LAST_PANIC.with(|l| l.borrow_mut().take());
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            if let Some(m) = LAST_PANIC.with(|l| l.borrow_mut().take()) {
                eprintln!("panic escaped the fuzz target: {m}");
            }
            resume_unwind(payload)
        }
    }
}
