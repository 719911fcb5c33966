//! Files: every file a job took (processed, duplicate, failed with its error), a page at a
//! time, newest first; a file's page with its runs; and its original for download, found
//! from what the store knows (never a path from the request).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{PAGE_ROWS, given, next_link, when};
use crate::config::Config;
use crate::jobs::folders::{FolderState, Taken, folder_states, original_of};
use crate::model::people::Role;
use crate::store::console::{FileQuery, FileRow};
use crate::store::{FileStatus, RunRow};
use crate::web::page::layout;
use crate::web::{AppState, User, WebError};

#[derive(Debug, Default, Deserialize)]
pub struct FileFilters {
    pub job: Option<String>,
    /// processed, duplicate or failed.
    pub status: Option<String>,
    pub before: Option<String>,
}

pub async fn list(
    State(console): State<AppState>,
    user: User,
    Query(f): Query<FileFilters>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let status = match given(&f.status) {
        None => None,
        Some("processed") => Some(FileStatus::Processed),
        Some("duplicate") => Some(FileStatus::Duplicate),
        Some("failed") => Some(FileStatus::Failed),
        Some(s) => {
            return Err(WebError::Refused(format!(
                "status: processed, duplicate or failed, not {s:?}"
            )));
        }
    };
    let before = given(&f.before)
        .map(|b| b.parse::<i64>())
        .transpose()
        .map_err(|_| WebError::Refused("this page link is damaged".into()))?;
    let job = given(&f.job).map(str::to_owned);
    let cfg = config.clone();
    let (mut files, folders) = console
        .db
        .read(move |u| {
            let files = u.files_page(&FileQuery {
                job: job.as_deref(),
                status,
                before,
                limit: PAGE_ROWS + 1,
            })?;
            // What clerk will never take lives in the folders, not the store.
            Ok((files, folder_states(&cfg)))
        })
        .await?;
    let more = files.len() > PAGE_ROWS;
    files.truncate(PAGE_ROWS);
    let next = more.then(|| {
        let params = [
            ("job", f.job.clone().unwrap_or_default()),
            ("status", f.status.clone().unwrap_or_default()),
        ];
        next_link(
            "/files",
            &params,
            "before",
            &files[files.len() - 1].id.to_string(),
        )
    });
    Ok(layout(
        "Files",
        Some(&user),
        html! {
            (render_list(&config, &f, &files, next.as_deref()))
            (ignored(&f, &folders))
        },
    ))
}

pub fn render_list(
    config: &Config,
    f: &FileFilters,
    files: &[FileRow],
    next: Option<&str>,
) -> Markup {
    let status = f.status.clone().unwrap_or_default();
    html! {
        form.filters method="get" action="/files" {
            label { "Job"
                select name="job" {
                    option value="" { "all" }
                    @for j in &config.jobs {
                        option value=(j.name) selected[f.job.as_deref() == Some(j.name.as_str())] { (j.name) }
                    }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "all" }
                    @for s in ["processed", "duplicate", "failed"] {
                        option value=(s) selected[status == s] { (s) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        table {
            tr { th.num { "Id" } th { "Arrived" } th { "Job" } th { "Name" } th.num { "Bytes" } th { "Status" } th { "Error" } }
            @for file in files {
                tr {
                    td.num { a href=(format!("/files/{}", file.id)) { (file.id) } }
                    td { (when(config, file.arrived_at)) }
                    td { (file.job) }
                    td { a href=(format!("/files/{}", file.id)) { (file.name) } }
                    td.num { (file.size) }
                    td { (status_of(file)) }
                    td.bad { (file.error.as_deref().unwrap_or("")) }
                }
            }
            @if files.is_empty() { tr { td colspan="7" { span.muted { "no files" } } } }
        }
        div.pager {
            @if f.before.is_some() { a href="/files" { "First page" } }
            @if let Some(n) = next { a href=(n) { "Next page" } }
        }
    }
}

/// The files in the watched folders that clerk will never take as they are, and why.
fn ignored(f: &FileFilters, folders: &[FolderState]) -> Markup {
    let shown: Vec<(&str, &(String, String))> = folders
        .iter()
        .filter(|s| given(&f.job).is_none_or(|j| j == s.job))
        .flat_map(|s| s.ignored.iter().map(move |i| (s.job.as_str(), i)))
        .collect();
    html! {
        @if !shown.is_empty() {
            h2 { "Ignored in the folders" }
            table {
                tr { th { "Job" } th { "Name" } th { "Why" } }
                @for (job, (name, why)) in shown {
                    tr { td { (job) } td { (name) } td { (why) } }
                }
            }
        }
    }
}

fn status_of(f: &FileRow) -> Markup {
    html! {
        @match f.status {
            FileStatus::Processed => span.good { "taken" },
            FileStatus::Duplicate => span.muted { "duplicate" @if let Some(d) = f.duplicate_of { " of " a href=(format!("/files/{d}")) { (d) } } },
            FileStatus::Failed => span.bad { "failed" @if let Some(r) = f.replaced_by { span.muted { " (replaced by " a href=(format!("/files/{r}")) { (r) } ")" } } },
        }
    }
}

pub async fn show(
    State(console): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let (file, runs) = console
        .db
        .read(move |u| Ok((u.file_row(id)?, u.runs_of_file(id)?)))
        .await?;
    let file = file.ok_or_else(|| WebError::NotFound(format!("there is no file {id}")))?;
    let title = format!("File {}", file.id);
    Ok(layout(
        &title,
        Some(&user),
        render_file(&config, &user, &file, &runs),
    ))
}

pub fn render_file(config: &Config, user: &User, f: &FileRow, runs: &[RunRow]) -> Markup {
    let records: u64 = runs.iter().map(|r| r.records_in).sum();
    html! {
        table {
            tr { th { "Name" } td { (f.name) } }
            tr { th { "Job" } td { a href=(format!("/jobs/{}", super::encoded(&f.job))) { (f.job) } } }
            tr { th { "Arrived" } td { (when(config, f.arrived_at)) } }
            tr { th { "Size" } td.num { (f.size) " bytes" } }
            tr { th { "SHA-256" } td { code { (f.sha256) } } }
            tr { th { "Status" } td { (status_of(f)) } }
            tr { th { "Records read" } td.num { (records) } }
            @if let Some(e) = &f.error { tr { th { "Error" } td.bad { pre { (e) } } } }
        }
        @if user.role.allows(Role::Operator) {
            p { a href=(format!("/files/{}/original", f.id)) { "Download the original" } }
        }
        h2 { "Runs" }
        (super::runs::table(config, runs))
    }
}

/// The original file as it arrived, from the archive (or `failed/`), to Operators and up.
pub async fn original(
    State(console): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    user.require(Role::Operator)?;
    let config = console.daemon.config();
    let file = console
        .db
        .read(move |u| u.file_row(id))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("there is no file {id}")))?;
    let (archive, failed) = (
        config.settings.archive_dir.clone(),
        config.settings.failed_dir.clone(),
    );
    let name = file.name.clone();
    let size = file.size;
    let path = tokio::task::spawn_blocking(move || {
        original_of(
            &archive,
            &failed,
            &Taken {
                job: &file.job,
                sha256: &file.sha256,
                size: file.size,
                failed: file.status == FileStatus::Failed,
                arrived_at: file.arrived_at,
                finished_at: file.finished_at,
            },
        )
    })
    .await
    .map_err(|e| WebError::Internal(format!("reading an original panicked: {e}")))?
    .ok_or_else(|| {
        WebError::NotFound(format!(
            "the original of file {id} is no longer in the archive (or failed/)"
        ))
    })?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| WebError::Internal(format!("cannot open {}: {e}", path.display())))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, attachment(&name)),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(chunks(file)),
    )
        .into_response())
}

/// A file read a piece at a time: a statement of hundreds of megabytes is sent without being
/// held in memory whole.
fn chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// `Content-Disposition: attachment` with the file's name: in `filename` only letters, digits
/// and `.-_ ()+@,` (no quote, backslash or line break to end the header, no `;` a lax parser
/// reads as a new parameter, no `<>:|?*` a file system refuses), the whole name in `filename*`
/// (RFC 6266, percent-encoded).
pub fn attachment(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()+@,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
        super::encoded(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_names_the_file_without_breaking_the_header() {
        assert_eq!(
            attachment("st\"at\r\nement ü.csv"),
            "attachment; filename=\"st_at__ement _.csv\"; \
             filename*=UTF-8''st%22at%0D%0Aement%20%C3%BC.csv"
        );
        assert_eq!(
            attachment("a;b=c<d>\\e.csv"),
            "attachment; filename=\"a_b_c_d__e.csv\"; filename*=UTF-8''a%3Bb%3Dc%3Cd%3E%5Ce.csv"
        );
    }
}
