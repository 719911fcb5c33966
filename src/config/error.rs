//! Configuration problems that name the file, the line and the key, so a sysadmin can go
//! straight to the mistake.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Dotted key, e.g. `schedule.cron` or `posting.lines[1].amount`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, so `clerk check` lists them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Finds the line of a key in a TOML document, for messages about values that parsed but make
/// no sense (an unknown time zone, a bad cron field).
pub struct Locator<'a> {
    file: &'a Path,
    source: &'a str,
    table: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Locator {
            file,
            source,
            table: DeTable::parse(source).ok(),
        }
    }

    /// An error about `key`; when the key itself is absent, the line of its nearest parent.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self.line_of(key),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    /// A TOML syntax or type error from the deserializer, which knows its own position; the
    /// key is the one written there, and the message says what was expected in words.
    pub fn from_toml(&self, e: &toml::de::Error) -> ConfigError {
        let start = e.span().map(|s| s.start);
        ConfigError {
            file: self.file.to_path_buf(),
            line: start.map(|s| self.line_at(s)),
            key: start.and_then(|s| self.key_at(s)),
            message: in_words(e.message().trim()),
        }
    }

    /// The dotted key (`daemon.max_file_size_mb`, `posting.lines[1].amount`) whose key or
    /// value holds byte `offset`: the innermost one.
    pub fn key_at(&self, offset: usize) -> Option<String> {
        match &self.table {
            Some(table) => key_in_table(table.get_ref(), offset, ""),
            // A file that does not parse (a duplicate key): the key written on that line,
            // under the nearest `[section]` above it.
            None => self.key_on_line_at(offset),
        }
    }

    fn key_on_line_at(&self, offset: usize) -> Option<String> {
        let end = crate::fsx::floor_char_boundary(self.source, offset);
        let line_start = self.source[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = self.source[line_start..].lines().next()?;
        let bare = |s: &str| {
            let s = s.trim();
            (!s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
            .then(|| s.to_string())
        };
        let key = bare(line.split_once('=')?.0)?;
        let section = self.source[..line_start].lines().rev().find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| bare(l.trim_start_matches('[').trim_end_matches(']')))
                .flatten()
        });
        Some(match section {
            Some(s) => format!("{s}.{key}"),
            None => key,
        })
    }

    pub fn line_of(&self, key: &str) -> Option<usize> {
        let table = self.table.as_ref()?;
        let segments = split_key(key);
        // Try the full key, then ever shorter prefixes.
        (1..=segments.len())
            .rev()
            .find_map(|n| find(table.get_ref(), &segments[..n]))
            .map(|offset| self.line_at(offset))
    }

    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.source.len());
        self.source.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

enum Segment<'k> {
    Key(&'k str),
    Index(usize),
}

fn split_key(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Byte offset of the value at `path`, if it exists.
fn find(table: &DeTable<'_>, path: &[Segment<'_>]) -> Option<usize> {
    let (Segment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *first)?;
    if rest.is_empty() {
        return Some(key.span().start);
    }
    find_in_value(value, rest)
}

fn find_in_value(value: &toml::Spanned<DeValue<'_>>, path: &[Segment<'_>]) -> Option<usize> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value.span().start);
    };
    match (value.get_ref(), first) {
        (DeValue::Table(t), Segment::Key(_)) => find(t, path),
        (DeValue::Array(a), Segment::Index(i)) => {
            let item = a.get(*i)?;
            if rest.is_empty() {
                Some(item.span().start)
            } else {
                find_in_value(item, rest)
            }
        }
        _ => None,
    }
}

/// The key of `table` (below `prefix`) whose key or value holds `offset`, the innermost one.
/// Every entry is searched: a `[section]`'s span covers its header, not the keys under it.
fn key_in_table(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        key_in_value(value, offset, &path).or_else(|| {
            (key.span().contains(&offset) || value.span().contains(&offset)).then_some(path)
        })
    })
}

/// A key inside `value` (a table or an array) that holds `offset`.
fn key_in_value(value: &toml::Spanned<DeValue<'_>>, offset: usize, path: &str) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(t) => key_in_table(t, offset, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let at = format!("{path}[{i}]");
            key_in_value(item, offset, &at).or_else(|| item.span().contains(&offset).then_some(at))
        }),
        _ => None,
    }
}

/// The deserializer's Rust type names (`expected u64`) as the person editing the file reads
/// them.
fn in_words(message: &str) -> String {
    let whole = |range: &str| format!("expected a whole number {range}");
    let mut out = message.to_string();
    for (rust, words) in [
        ("expected u8", whole("from 0 to 255")),
        ("expected u16", whole("from 0 to 65535")),
        ("expected u32", whole("from 0 to 4294967295")),
        ("expected u64", whole("of 0 or more")),
        ("expected usize", whole("of 0 or more")),
        ("expected i64", whole("")),
        ("expected i32", whole("")),
    ] {
        if let Some(at) = out.find(rust)
            && !out[at + rust.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            out.replace_range(at..at + rust.len(), words.trim_end());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "kind = \"summary\"\n\n[schedule]\ncron = \"0 7 * * 1-5\"\n\n[posting]\nlines = [\n  { account = \"a\", amount = \"x\" },\n  { account = \"b\", amount = \"y\" },\n]\n";

    #[test]
    fn finds_lines_of_nested_keys_and_array_items() {
        let loc = Locator::new(Path::new("j.toml"), DOC);
        assert_eq!(loc.line_of("kind"), Some(1));
        assert_eq!(loc.line_of("schedule.cron"), Some(4));
        assert_eq!(loc.line_of("posting.lines[1].amount"), Some(9));
        // A missing key points at its parent.
        assert_eq!(loc.line_of("schedule.calendar"), Some(3));
    }

    #[test]
    fn type_errors_name_file_line_and_key_in_words() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            daemon: Daemon,
            #[serde(default)]
            lines: Vec<Line>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Daemon {
            max_file_size_mb: Option<u64>,
            port: Option<u16>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Line {
            amount: u32,
        }
        let text = "# clerk\n[daemon]\nport = 25\nmax_file_size_mb = -1\n";
        let e = toml::from_str::<Doc>(text).unwrap_err();
        let loc = Locator::new(Path::new("config/clerk.toml"), text);
        let shown = loc.from_toml(&e).to_string();
        assert!(
            shown.starts_with("config/clerk.toml:4: key `daemon.max_file_size_mb`: "),
            "{shown}"
        );
        assert!(
            shown.contains("expected a whole number of 0 or more"),
            "{shown}"
        );
        assert!(!shown.contains("u64"), "{shown}");

        let text = "[daemon]\nport = 70000\n";
        let e = toml::from_str::<Doc>(text).unwrap_err();
        let shown = Locator::new(Path::new("c.toml"), text)
            .from_toml(&e)
            .to_string();
        assert!(
            shown.starts_with("c.toml:2: key `daemon.port`: "),
            "{shown}"
        );
        assert!(shown.contains("from 0 to 65535"), "{shown}");

        let text = "lines = [\n  { amount = 1 },\n  { amount = \"x\" },\n]\n[daemon]\n";
        let e = toml::from_str::<Doc>(text).unwrap_err();
        let shown = Locator::new(Path::new("j.toml"), text)
            .from_toml(&e)
            .to_string();
        assert!(
            shown.starts_with("j.toml:3: key `lines[1].amount`: "),
            "{shown}"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_still_names_the_key_on_the_line() {
        let text = "kind = \"summary\"\n[summary]\noldest = 1\noldest = 2\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let shown = Locator::new(Path::new("j.toml"), text)
            .from_toml(&e)
            .to_string();
        assert!(
            shown.starts_with("j.toml:4: key `summary.oldest`: "),
            "{shown}"
        );
    }

    #[test]
    fn display_names_file_line_and_key() {
        let loc = Locator::new(Path::new("jobs/j.toml"), DOC);
        let e = loc.error("schedule.cron", "bad");
        assert_eq!(e.to_string(), "jobs/j.toml:4: key `schedule.cron`: bad");
    }
}
