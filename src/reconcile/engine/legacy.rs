//! The short `[match]` form of the first clerk releases, as the passes it stands for.

use super::spec::{AmountSpec, DateSpec, Grouping, KeySpec, MatchSpec, PassSpec};

/// The three passes the short form (`reference_pattern`, `window_business_days`) means,
/// fields as [`super::Table::from_records`] names them:
///
/// 1. **reference**: a reference the pattern finds in the statement line's remittance text
///    is a ledger item's reference, same currency, same amount; closest value date first;
/// 2. **amount_date**: same currency and amount, value dates at most `window` business days
///    apart;
/// 3. **batch**: one statement line pays all open ledger items of one counterparty, value
///    date and currency together (their total), value dates within the window.
pub fn legacy_spec(reference_pattern: &str, window: i64) -> MatchSpec {
    let key = |ours: &str, theirs: &str, pattern: Option<&str>| KeySpec {
        ours: ours.into(),
        theirs: theirs.into(),
        normalise: false,
        ours_pattern: None,
        theirs_pattern: pattern.map(str::to_owned),
        map: None,
    };
    let amount = || AmountSpec {
        ours: "amount".into(),
        theirs: "amount".into(),
        tolerance: None,
        relative: None,
        per_currency: Default::default(),
        opposite_sign: false,
        ours_currency: None,
        theirs_currency: None,
    };
    let date = |window: Option<i64>| DateSpec {
        ours: "value_date".into(),
        theirs: "value_date".into(),
        window_business_days: window,
    };
    let pass = |name: &str, grouping, keys, window| PassSpec {
        name: name.into(),
        grouping,
        keys,
        amount: Some(amount()),
        date: Some(date(window)),
        group_by: Vec::new(),
        max_group_size: None,
        fx: None,
        subsets: None,
        within: None,
        partial: None,
    };
    let mut batch = pass(
        "batch",
        Grouping::ManyToOne,
        vec![key("currency", "currency", None)],
        Some(window),
    );
    batch.group_by = vec![
        "counterparty".into(),
        "value_date".into(),
        "currency".into(),
    ];
    batch.max_group_size = Some(64);
    batch.subsets = Some(false);
    MatchSpec {
        calendar: None,
        passes: vec![
            pass(
                "reference",
                Grouping::OneToOne,
                vec![
                    key("reference", "remittance", Some(reference_pattern)),
                    key("currency", "currency", None),
                ],
                None,
            ),
            pass(
                "amount_date",
                Grouping::OneToOne,
                vec![key("currency", "currency", None)],
                Some(window),
            ),
            batch,
        ],
        maps: Default::default(),
        rates: Default::default(),
        reference_pattern: None,
        window_business_days: None,
    }
}
