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

    /// A TOML syntax or type error from the deserializer, which knows its own position.
    pub fn from_toml(&self, e: &toml::de::Error) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: e.span().map(|s| self.line_at(s.start)),
            key: None,
            message: e.message().trim().to_string(),
        }
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
    fn display_names_file_line_and_key() {
        let loc = Locator::new(Path::new("jobs/j.toml"), DOC);
        let e = loc.error("schedule.cron", "bad");
        assert_eq!(e.to_string(), "jobs/j.toml:4: key `schedule.cron`: bad");
    }
}
