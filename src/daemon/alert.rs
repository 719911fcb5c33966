//! Alerts that must not depend on the store: a scheduled job that failed, a store that is
//! damaged.
//!
//! Most alerts are queued in the store's outbox in the transaction of the work that caused them
//! (`pipeline::queue_alert`) and delivered with retries. When the failure is the store's own (it
//! is locked, full or damaged), or the job that failed is the one that would have told people
//! (the summary), that route is closed: the alert is mailed at once, and when mail fails too
//! (the SMTP server is down) it is written as a `.eml` file into the outbox folder, where it
//! waits for someone to look. It is never only a log line.

use chrono::{DateTime, Utc};
use tracing::{error, warn};

use super::pipeline::mail_domain;
use crate::config::Config;
use crate::notify::{self, Delivery, Mailer};

/// Where an alert ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    /// The SMTP server (or, without one, the outbox folder) took it.
    Mailed,
    /// Mail failed; the alert is a file in the outbox folder.
    InOutbox(std::path::PathBuf),
    /// No one to tell: `[mail] alerts_to` is empty.
    NoRecipients,
    /// Neither mail nor the outbox folder took it (logged as an ERROR).
    Lost,
}

/// Tells `[mail] alerts_to` now that `what` went wrong with `job`: by `mailer`, or into the
/// outbox folder when that fails.
pub async fn raise(
    config: &Config,
    mailer: &Mailer,
    job: &str,
    what: &str,
    at: DateTime<Utc>,
) -> Raised {
    let mail = &config.mail;
    if mail.alerts_to.is_empty() {
        error!(job, "{what} (no [mail] alerts_to to tell)");
        return Raised::NoRecipients;
    }
    let links = super::pipeline::alert_links(config, job);
    let rendered =
        notify::summary::render_alert_linked(job, None, what, at, config.settings.timezone, &links);
    let message_id = format!(
        "<alert.{}.now.{}.{}@{}>",
        id_part(job),
        at.format("%Y%m%dT%H%M%S%.3f"),
        std::process::id(),
        mail_domain(&mail.from)
    );
    let raw = match notify::build_message(&mail.from, &mail.alerts_to, &rendered, &message_id, at) {
        Ok(raw) => raw,
        Err(e) => {
            error!(job, error = %e, "cannot build the alert mail: {what}");
            return Raised::Lost;
        }
    };
    let mailed = mailer
        .deliver(&message_id, &mail.from, &mail.alerts_to, &raw)
        .await;
    let why = match mailed {
        Ok(()) => return Raised::Mailed,
        Err(e) => e,
    };
    let outbox = mail.outbox_dir.clone();
    let written = match Mailer::new(Delivery::Outbox(outbox.clone())) {
        Ok(folder) => {
            folder
                .deliver(&message_id, &mail.from, &mail.alerts_to, &raw)
                .await
        }
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            let file = notify::transport::outbox_file_name(&message_id)
                .map(|name| outbox.join(name))
                .unwrap_or(outbox);
            warn!(job, error = %why, file = %file.display(), "the alert could not be mailed; it is in the outbox folder");
            Raised::InOutbox(file)
        }
        Err(e) => {
            error!(job, mail_error = %why, outbox_error = %e, "the alert could be neither mailed nor written to the outbox folder: {what}");
            Raised::Lost
        }
    }
}

/// A job name as it may appear in a Message-ID (`mailbox:name` holds a colon).
fn id_part(job: &str) -> String {
    job.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
