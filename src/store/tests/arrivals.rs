//! The contract for arrivals: what came when, for the deadlines of `[[expect]]`.

use super::*;

pub(super) fn arrivals_are_found_in_their_window_and_checks_are_remembered(store: &mut dyn Store) {
    use crate::model::statement::{BankStatement, StatementKind};
    let statement = BankStatement {
        kind: StatementKind::EndOfDay,
        // As a bank may write it: spaces, lower case.
        account: "de89 3704 0044 0532 0130 99".into(),
        servicer_bic: None,
        currency: Some("EUR".parse().unwrap()),
        statement_id: None,
        number: Some("7".into()),
        created: None,
        from_date: None,
        to_date: None,
        opening: None,
        closing: None,
        closing_available: None,
        entries: Vec::new(),
        problems: Vec::new(),
        source: Source::at(Arc::from("s"), None, 1),
    };
    let file = in_unit(store, |u| {
        // Arrived at 07:00 (`new_file`), for job "expecting".
        let f = u.add_file(&new_file("expecting", "sha-arrival"))?;
        u.add_statement(&NewStatement {
            job: "expecting",
            file_id: f,
            offered: false,
            identity: "id-arrival",
            format: "camt053",
            statement: &statement,
        })?;
        // A failed file does not count as arrived.
        u.add_file(&NewFile {
            status: FileStatus::Failed,
            error: Some("unreadable"),
            ..new_file("expecting", "sha-arrival-failed")
        })?;
        Ok(f)
    })
    .unwrap();
    let account = "DE89370400440532013099";
    let (files, in_window, before, accounts) = in_read(store, |u| {
        Ok((
            u.files_arrived("expecting", at(6), at(7))?,
            u.statements_arrived(account, at(6), at(7))?,
            u.statements_arrived(account, at(7), at(8))?,
            u.statement_accounts_of_file(file)?,
        ))
    })
    .unwrap();
    assert_eq!(files, [("ledger.csv".to_string(), at(7))], "(after, upto]");
    assert_eq!(in_window, [at(7)]);
    assert!(
        before.is_empty(),
        "what came at the window's start is the previous slot's"
    );
    assert_eq!(accounts, [account]);
    assert!(
        in_read(store, |u| u.files_arrived("other-job", at(6), at(8)))
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        in_read(store, |u| u.last_deadline_checked("expecting", "file:x*")).unwrap(),
        None
    );
    for t in [at(8), at(9)] {
        in_unit(store, |u| {
            u.set_last_deadline_checked("expecting", "file:x*", t)
        })
        .unwrap();
    }
    assert_eq!(
        in_read(store, |u| u.last_deadline_checked("expecting", "file:x*")).unwrap(),
        Some(at(9))
    );
}
