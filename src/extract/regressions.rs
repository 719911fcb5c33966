//! Inputs the fuzzers found (`tests/fixtures/fuzz/<target>/`): each once made a reader panic,
//! hang or blow memory. Every one must now give records or a clear error.

use std::sync::Arc;

use super::{ExtractSpec, Input, extract};
use crate::model::Side;

#[test]
fn every_input_the_fuzzers_found_is_read_or_refused_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let tabular: ExtractSpec = toml::from_str(
        r#"
        [columns]
        id = "id"
        value_date = "value_date"
        amount = "amount"
        currency = "currency"
        "#,
    )
    .unwrap();
    let layouts = [
        tabular.check(Side::Ledger).unwrap(),
        ExtractSpec::default().check(Side::Statement).unwrap(),
    ];
    let mut seen = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for layout in &layouts {
                let input = Input {
                    name: "fuzz",
                    bytes: &bytes,
                    file_hash: Arc::from("fuzz"),
                };
                if let Err(e) = extract(layout, &input) {
                    assert!(!e.problems.is_empty(), "{}: empty error", path.display());
                }
            }
            seen += 1;
        }
    }
    assert!(
        seen > 0,
        "no fuzz regressions found under {}",
        root.display()
    );
}
