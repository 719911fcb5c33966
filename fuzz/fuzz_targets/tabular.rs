//! CSV and spreadsheets through a ledger job's column mapping: any bytes must give records or
//! a clear error, never a panic, a hang or unbounded memory.
#![no_main]

use std::sync::{Arc, OnceLock};

use clerk::extract::{ExtractSpec, Input, Layout, extract};
use clerk::model::Side;
use libfuzzer_sys::fuzz_target;

fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let spec: ExtractSpec = toml::from_str(
            r#"
            date_formats = ["%Y-%m-%d", "%d.%m.%Y"]
            [columns]
            id = "id"
            value_date = "value_date"
            amount = "amount"
            currency = "currency"
            reference = "reference"
            "#,
        )
        .expect("spec");
        spec.check(Side::Ledger).expect("layout")
    })
}

fuzz_target!(|data: &[u8]| {
    clerk_fuzz_support::quiet_panics();
    let _ = extract(
        layout(),
        &Input {
            name: "fuzz.csv",
            bytes: data,
            file_hash: Arc::from("fuzz"),
        },
    );
});
