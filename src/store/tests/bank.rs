//! The contract for the bank accounts' books (`clerk bank`).

use super::*;

pub(super) fn a_bank_account_is_proved_by_its_statements_entries_and_open_lines(
    store: &mut dyn Store,
) {
    use crate::model::statement::{Balance, BankStatement, StatementKind};
    const IBAN: &str = "DE02100100109307118603";
    let eur: Currency = "EUR".parse().unwrap();
    let balance = |amount: &str, day: &str| Balance {
        amount: amount.parse().unwrap(),
        currency: eur,
        date: day.parse().unwrap(),
        intermediate: false,
    };
    let statement = |number: &str, open: (&str, &str), close: (&str, &str)| BankStatement {
        kind: StatementKind::EndOfDay,
        account: IBAN.into(),
        servicer_bic: None,
        currency: Some(eur),
        statement_id: None,
        number: Some(number.into()),
        created: None,
        from_date: None,
        to_date: None,
        opening: Some(balance(open.0, open.1)),
        closing: Some(balance(close.0, close.1)),
        closing_available: None,
        entries: Vec::new(),
        problems: Vec::new(),
        source: Source::at(Arc::from("s"), None, 1),
    };
    let line = |id: &str, amount: &str| Record {
        account: Some(IBAN.into()),
        ..record(Side::Statement, id, amount)
    };
    // Statement 7 (100.00 to 110.00) brings a receipt of 10.00, statement 8 (to 95.00) a
    // payment of 15.00 nobody booked.
    let (receipt, payment) = (line("BK-R", "10.00"), line("BK-P", "-15.00"));
    in_unit(store, |u| {
        let f = u.add_file(&new_file("proof", "sha-proof"))?;
        for (n, s) in [
            (
                "7",
                statement("7", ("100.00", "2026-03-01"), ("110.00", "2026-03-02")),
            ),
            (
                "8",
                statement("8", ("110.00", "2026-03-02"), ("95.00", "2026-03-03")),
            ),
        ] {
            u.add_statement(&NewStatement {
                offered: false,
                job: "proof",
                file_id: f,
                identity: &format!("proof-{n}"),
                format: "mt940",
                statement: &s,
            })?;
        }
        u.add_records("proof", f, &[receipt.clone(), payment.clone()])?;
        let open = u.open_records("proof", Side::Statement, Some(IBAN))?;
        let run = u.start_run("proof", Trigger::File, Some(f), at(7))?;
        let mut posted = entry("proof-key", "10.00");
        posted.lines[0].account = "1010 Bank EUR".into();
        u.post_match(&NewMatch {
            job: "proof",
            run_id: run,
            pass: MatchPass::Rule,
            record_ids: &[open[0].id],
            entry: &posted,
            at: at(7),
            explanation: None,
            actor: None,
            reason: None,
        })?;
        u.open_break(&NewBreak {
            job: "proof",
            run_id: run,
            reason: BreakReason::MissingInLedger,
            detail: "no ledger item",
            amount: Some(payment.amount),
            currency: Some(eur),
            difference: None,
            since: payment.value_date,
            owner: None,
            record_id: Some(open[1].id),
            source: None,
            at: at(7),
            subject: None,
        })?;
        Ok(())
    })
    .unwrap();

    let balances = in_read(store, |u| u.bank_balances("proof")).unwrap();
    assert_eq!(balances.len(), 1, "{balances:?}");
    let b = &balances[0];
    assert_eq!((b.account.as_str(), b.currency.as_str()), (IBAN, "EUR"));
    assert_eq!(
        b.opening.to_string(),
        "100.00",
        "the first statement's opening"
    );
    assert_eq!(
        b.closing.to_string(),
        "95.00",
        "the latest statement's closing"
    );
    assert_eq!(b.number.as_deref(), Some("8"));

    let booked = in_read(store, |u| {
        u.booked_on("proof", IBAN, "EUR", &["1010 Bank EUR".to_string()])
    })
    .unwrap();
    assert_eq!(
        booked.to_string(),
        "10.00",
        "only the bank's ledger account counts"
    );
    let other = in_read(store, |u| {
        u.booked_on(
            "proof",
            "DE89370400440532013000",
            "EUR",
            &["1010 Bank EUR".to_string()],
        )
    })
    .unwrap();
    assert!(
        other.is_zero(),
        "another bank account's lines are not this one's"
    );

    let open = in_read(store, |u| {
        u.unposted_lines("proof", IBAN, "EUR", b.closing_date)
    })
    .unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].amount.to_string(), "-15.00");
    assert_eq!(open[0].reason.as_deref(), Some("missing_in_ledger"));
    // 100.00 + 10.00 posted - 95.00 on the statement = the 15.00 still open.
    assert_eq!(b.opening + booked + open[0].amount, b.closing);
}
