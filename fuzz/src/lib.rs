//! Shared by the fuzz targets.

use std::sync::Once;

/// clerk wraps calamine (which panics on some damaged workbooks) in `catch_unwind` and turns
/// those panics into "the workbook is damaged" errors. libfuzzer-sys installs a panic hook that
/// aborts before any unwinding, which would report those handled panics as crashes. This
/// replaces it with a silent hook: a panic clerk handles is then what it is in production,
/// and one that escapes still reaches libfuzzer-sys's own `catch_unwind`, which aborts and
/// reports it.
pub fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}
