//! clerk's one integration-test binary (`cargo test --test it`). One module per area; each test
//! makes its own temp dirs and starts its own servers on free ports, so tests run in parallel.

mod support;

/// Every statement line reaches the books: posting rules for fees and interest, breaks for
/// the rest, `clerk bank`'s proof of the bank account's balance.
mod bank;

/// Summary and alert mail: rendering as a library user sees it, real SMTP (aiosmtpd), outbox.
mod notify;

/// The daemon end to end: real binary, real folders, real store.
mod daemon;

/// The command line: check, jobs, reconcile dry run.
mod cli;

/// The exception summary through the whole daemon to a real SMTP server.
mod summary;

/// Instalments: one invoice paid by several lines quoting it, through `clerk reconcile`.
mod instalments;

/// Returned payments: a payment and its return paired within the statement, posted as one
/// entry; the invoice matched with the payment that stayed.
mod returns;

/// Unmatched items held back for their grace period: no break while the counterpart can
/// still come, a break when it ends, KPIs that count only breaks that lasted.
mod grace;

/// Statements, custody statements and invoices through the daemon; `clerk extract`.
mod documents;

/// Mailboxes: a real Dovecot (IMAP, TLS, STARTTLS, XOAUTH2, IDLE) and a Maildir.
mod mailbox;
/// People working breaks through the CLI.
mod workflow;

/// Four eyes: a forced match or a write-off above the approval limit waits for another person.
mod approvals;

/// Reversal, never edit: a match undone by its entry's reversal, once, four eyes above the limit.
mod reversal;

/// Accounting periods: closed months, entries dated in them posted on the next open day.
mod periods;

/// Expected arrivals: a deadline passed without the file opens `file_missing`; the file closes it.
mod expect;

/// What comes again corrected: a changed ledger row, a failed file dropped again once fixed.
mod corrections;

/// Mail through the whole daemon: Dovecot and a Maildir, crashes, dropped connections.
mod mailflow;

/// Faults: SIGKILL at random moments while files and mail stream in.
mod crashloop;

/// Faults: SMTP outage, SIGTERM and SIGHUP, a locked database, a folder that disappears.
mod faults;

/// Large files: memory about the file's size, a file clerk dies on set aside.
mod memory;

/// Hostile files and mail through the daemon: bombs, junk, huge lines, forged names.
mod hostile;

/// Hostile and odd mail over a Maildir and Dovecot: reused Message-IDs, forged senders, deep
/// forwards, odd names, cut base64, huge subjects.
mod mailintake;

/// Securities: positions against the custodian, trades against settlement confirmations.
mod securities;

/// Positions tie to the books: book values compared, a difference corrected by a person.
mod securities_values;

/// Trades booked: at trade date against the settlement clearing, at settlement against cash.
mod trades;

/// Accounts payable: three-way match, posting, payment.
mod payables;

/// A person approves or rejects a held invoice (four eyes above the limit).
mod ap_approve;
/// Accounts payable's rules: price limits, charges, item ids.
mod ap_rules;
/// VAT of supplier invoices by tax category: reverse charge, exempt, VAT shown in invoice
/// lists, cash discounts correcting the VAT.
mod vat;

/// Operations: one daemon per install, a damaged store, a scheduled job that fails, a daemon
/// paused across its schedule.
mod ops;

/// Access: configuration ranges, read commands without secrets, file modes under any
/// umask, staff access.
mod access;

/// Refusals that say what to do: the right folder, the headers found, the job file to edit.
mod refusals;

/// Posting templates by direction: receipts, supplier payments, one clearing line per item.
mod posting;

/// The README against what clerk does: Try it's numbers, quoted alerts, commands, set-up.
mod readme;

/// Amounts in whole minor units of their currency: a ledger file with more decimals is refused.
mod amounts;

/// One bank statement read by the bank reconciliation and accounts payable: offered to both,
/// each line posted once.
mod statements;

/// The chart of accounts: each bank account posts to its own chart account, an account the
/// chart lacks is a break, never a new account.
mod chart;

/// Foreign currency and differences: FX matched at the payment's rate and booked in the
/// functional currency, bank charges, limits on differences booked by hand.
mod fx;

// The operations console: pages, sessions, health and metrics over HTTP.
mod console;

/// Logging in to the console: users from `clerk user`, sessions and their timeouts, CSRF,
/// the login rate limit, single sign-on from a trusted proxy.
mod console_auth;

/// The console under attack: hostile text, forged forms, redirects away, sessions, roles,
/// downloads, headers, secrets and limits, each tried as an attacker would.
mod console_attacks;

/// The console's pages and actions: every page for a viewer, the queue's filters and paging,
/// actions and force-match as an operator, four eyes, escaping, downloads.
mod console_pages;
/// Monitoring: `/metrics` (Prometheus text, equal to `clerk status`), its token, `/readyz`.
mod monitoring;

/// Mail that sends people to the console (links to breaks, files, jobs); breaks escalated.
mod escalation;

/// The console in headless Chromium: log in, filter, work a break, four eyes, screenshots.
mod console_browser;

/// The journal and the trial balance from the command line.
mod journal;

/// Tamper evidence: `clerk audit verify` names a row edited with sqlite3; the summary's head.
mod audit;
/// The hledger, beancount and DATEV exports read by the real tools (hledger, bean-check) and
/// checked against DATEV's format description.
mod export_formats;

/// Exports to the books: csv files exactly once, re-export, what went where, a failing folder.
mod exports;

/// GR/IR: goods in the books at receipt, cleared by the invoice, price variance; goods invoiced
/// once; every payables entry names its invoice, order and receipt lines.
mod grir;

/// A day of orders, receipts, invoices, payments and trades: the books against a table
/// worked out by hand.
mod day;
