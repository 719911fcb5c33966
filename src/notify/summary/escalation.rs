//! The escalation mail: the breaks of one job that have been open longer than its
//! `[escalation]` allows, sent once to the people named there.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{
    BreakLine, H2, HTML_TAIL, Links, Rendered, esc, html_head, html_table_linked, local_time,
    money, one_line, plural, push_fitted, push_link, truncate,
};
use crate::model::break_label;

/// Renders the escalation of `breaks` (all of `job`, oldest first as given).
pub fn render_escalation(
    job: &str,
    breaks: &[BreakLine],
    links: Option<&Links>,
    at: DateTime<Utc>,
    tz: Tz,
) -> Rendered {
    let n = breaks.len();
    let job_line = one_line(job);
    let subject = one_line(&format!(
        "clerk ESCALATION: {n} {} of job {} open too long",
        plural(n, "exception", "exceptions"),
        truncate(&job_line, 80)
    ));
    let when = local_time(at, tz);

    let mut text = String::new();
    let _ = writeln!(
        text,
        "{n} {} of job {job_line} {} been open longer than the job's escalation limit allows \
         ({when}, {tz}).\n",
        plural(n, "exception", "exceptions"),
        plural(n, "has", "have"),
    );
    for b in breaks {
        let brk = &b.brk;
        push_fitted(
            &mut text,
            &format!(
                "  {}  {} business days (since {})  {}{}",
                break_label(brk.id),
                b.age_days,
                brk.since.format("%Y-%m-%d"),
                brk.reason.label(),
                brk.amount
                    .map(|a| format!(": {}", money(a, brk.currency)))
                    .unwrap_or_default()
            ),
        );
        push_fitted(&mut text, &format!("      {}", brk.detail));
        if let Some(owner) = &brk.owner {
            push_fitted(&mut text, &format!("      owner: {owner}"));
        }
        if let Some(l) = links {
            push_link(&mut text, "      ", &l.exception(brk.id));
        }
    }
    if let Some(l) = links {
        push_link(&mut text, "\nThe job in the console: ", &l.job(job));
    }
    text.push_str("\nEach exception is escalated once; the daily summary marks them too.\n");

    let mut html = html_head(&subject);
    let _ = write!(
        html,
        "<h2 style=\"{H2}color:#b00020\">{n} {} of job {} open too long</h2>\
         <p style=\"color:#555\">{} ({})</p>",
        plural(n, "exception", "exceptions"),
        esc(&job_line),
        esc(&when),
        esc(tz.name()),
    );
    let rows: Vec<Vec<String>> = breaks
        .iter()
        .map(|b| {
            let brk = &b.brk;
            vec![
                break_label(brk.id),
                b.age_days.to_string(),
                brk.since.format("%Y-%m-%d").to_string(),
                brk.reason.label().to_owned(),
                brk.amount
                    .map(|a| money(a, brk.currency))
                    .unwrap_or_default(),
                brk.detail.clone(),
                brk.owner.clone().unwrap_or_default(),
            ]
        })
        .collect();
    html_table_linked(
        &mut html,
        &[
            "ID",
            "Age (business days)",
            "Since",
            "Reason",
            "Amount",
            "Detail",
            "Owner",
        ],
        &rows,
        &[0, 1, 4],
        |row, col| {
            let (l, b) = (links?, breaks.get(row)?);
            (col == 0).then(|| l.exception(b.brk.id))
        },
    );
    if let Some(l) = links {
        let _ = write!(
            html,
            "<p><a href=\"{}\">The job in the console</a></p>",
            esc(&l.job(job))
        );
    }
    html.push_str(HTML_TAIL);
    Rendered {
        subject,
        text,
        html,
        attachments: Vec::new(),
    }
}
