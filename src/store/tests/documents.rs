//! The contract for statements and kept documents.

use super::*;

pub(super) fn statements_and_documents_are_kept(store: &mut dyn Store) {
    use crate::model::statement::{Balance, BankStatement, StatementKind};
    let eur: Currency = "EUR".parse().unwrap();
    let balance = |amount: &str, day: &str| Balance {
        amount: amount.parse().unwrap(),
        currency: eur,
        date: day.parse().unwrap(),
        intermediate: false,
    };
    let statement = BankStatement {
        kind: StatementKind::EndOfDay,
        account: "DE89370400440532013000".into(),
        servicer_bic: None,
        currency: Some(eur),
        statement_id: None,
        number: Some("1".into()),
        created: None,
        from_date: None,
        to_date: None,
        opening: Some(balance("10.00", "2026-03-01")),
        closing: Some(balance("12.50", "2026-03-02")),
        closing_available: None,
        entries: Vec::new(),
        problems: Vec::new(),
        source: Source::at(Arc::from("s"), None, 1),
    };
    in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", "sha-stmt"))?;
        u.add_statement(&NewStatement {
            job: "bank",
            file_id: f,
            offered: false,
            identity: "id-1",
            format: "mt940",
            statement: &statement,
        })?;
        // Accounts payable reads the same account: the statement is offered to it.
        u.add_statement(&NewStatement {
            job: "payables",
            file_id: f,
            offered: true,
            identity: "id-1",
            format: "mt940",
            statement: &statement,
        })
    })
    .unwrap();
    let seen = |store: &mut dyn Store, job: &str, id: &str| {
        in_read(store, |u| u.statement_seen(job, id)).unwrap()
    };
    assert_eq!(seen(store, "bank", "id-1"), StatementSeen::Received);
    assert_eq!(seen(store, "payables", "id-1"), StatementSeen::Offered);
    assert_eq!(seen(store, "bank", "id-2"), StatementSeen::No);
    assert_eq!(seen(store, "cash-2", "id-1"), StatementSeen::No, "per job");
    assert_eq!(
        in_read(store, |u| u
            .jobs_reading_account("DE89370400440532013000", "EUR"))
        .unwrap(),
        vec!["bank".to_string(), "payables".to_string()]
    );
    let prev = in_read(store, |u| {
        u.previous_statement(
            "DE89370400440532013000",
            "EUR",
            "2026-03-02".parse().unwrap(),
        )
    })
    .unwrap()
    .expect("found");
    assert_eq!(prev.closing_amount.to_string(), "12.50");
    assert!(
        in_read(store, |u| {
            u.previous_statement(
                "DE89370400440532013000",
                "EUR",
                "2026-03-01".parse().unwrap(),
            )
        })
        .unwrap()
        .is_none(),
        "a statement closing later is not the previous one"
    );
    let period = |number: Option<&'static str>, from: &str, to: &str| StatementPeriod {
        job: "bank",
        account: "DE89370400440532013000",
        currency: "EUR",
        number,
        opening_date: from.parse().unwrap(),
        closing_date: to.parse().unwrap(),
    };
    let overlapping = |store: &mut dyn Store, p: StatementPeriod<'static>| {
        in_read(store, |u| u.overlapping_statement(&p)).unwrap()
    };
    // Statement 1 covers 1 to 2 March: sent again under the same number, or another that
    // shares a day with it, overlaps it; the next day's, opening where it closed, does not.
    let again = overlapping(store, period(Some("1"), "2026-03-01", "2026-03-02")).expect("again");
    assert_eq!(again.file, "ledger.csv");
    assert_eq!(again.number.as_deref(), Some("1"));
    assert_eq!(again.opening_date.to_string(), "2026-03-01");
    assert!(overlapping(store, period(Some("7"), "2026-02-28", "2026-03-03")).is_some());
    assert!(overlapping(store, period(Some("2"), "2026-03-02", "2026-03-03")).is_none());
    assert!(overlapping(store, period(Some("0"), "2026-02-27", "2026-03-01")).is_none());
    let mut of_another_job = period(Some("1"), "2026-03-01", "2026-03-02");
    of_another_job.job = "cash-2";
    assert!(
        overlapping(store, of_another_job).is_none(),
        "another job's copy of a statement is not an overlap"
    );

    let invoice = r#"{"kind":"invoice","number":"INV-1","issue_date":"2026-03-02","due_date":null,
        "currency":"EUR","supplier":{"name":null,"vat_id":"VAT1","id":null,"iban":null,"country":null},
        "customer":{"name":null,"vat_id":null,"id":null,"iban":null,"country":null},
        "order_reference":null,"payment_reference":null,"lines":[],"tax":[],"line_total":null,
        "allowance_total":null,"charge_total":null,"tax_exclusive":null,"tax_total":null,
        "tax_inclusive":null,"prepaid":null,"rounding":null,"payable":"119.00",
        "source":{"file":"sha-inv","sheet":null,"row":0,"locator":null}}"#;
    let doc = NewDocument {
        identity: "VAT1|INV-1".into(),
        account: Some("VAT1".into()),
        key: Some("INV-1".into()),
        as_of: Some("2026-03-02".parse().unwrap()),
        body: Document::Invoice(serde_json::from_str(invoice).unwrap()),
    };
    let added = in_unit(store, |u| {
        let f = u.add_file(&new_file("invoices", "sha-inv"))?;
        u.add_documents("main", f, &[doc.clone(), doc.clone()])
    })
    .unwrap();
    assert_eq!(
        added,
        AddedRecords {
            inserted: 1,
            known: 1,
            changed: Vec::new(),
        }
    );
    let docs = in_read(store, |u| u.documents("main", DocumentKind::Invoice)).unwrap();
    assert_eq!(docs, vec![doc]);
}
