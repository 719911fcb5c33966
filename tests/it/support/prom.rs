#![allow(dead_code)] // used by the monitoring tests
//! A strict reader of the Prometheus text exposition format (version 0.0.4), for checking what
//! `/metrics` serves: every line must be a comment, `# HELP`, `# TYPE` or a sample; every
//! sample's family declared once with its type before its samples; label values escaped as the
//! format says; no series twice; a histogram's buckets cumulative and ending at `+Inf` = count.

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub struct Scrape {
    pub samples: Vec<Sample>,
    pub types: HashMap<String, String>,
}

impl Scrape {
    /// The sum of `name`'s samples whose labels include every one of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.matching(name, with).map(|s| s.value).sum()
    }

    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The one sample of `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

/// Parses `text`, panicking with the line at the first thing the format does not allow.
pub fn parse(text: &str) -> Scrape {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut seen_series: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    assert!(
        text.ends_with('\n'),
        "the exposition must end with a line feed"
    );
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(help) = rest.strip_prefix("HELP ") {
                let (name, _) = help.split_once(' ').unwrap_or((help, ""));
                assert!(is_name(name), "bad metric name in HELP, {}", at());
                assert!(helped.insert(name.to_string()), "HELP twice, {}", at());
            } else if let Some(ty) = rest.strip_prefix("TYPE ") {
                let (name, kind) = ty.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
                assert!(is_name(name), "bad metric name in TYPE, {}", at());
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "unknown type, {}",
                    at()
                );
                assert!(
                    !samples
                        .iter()
                        .any(|s: &Sample| family_of(&s.name, &types) == name),
                    "TYPE after the family's samples, {}",
                    at()
                );
                assert!(
                    types.insert(name.to_string(), kind.to_string()).is_none(),
                    "TYPE twice, {}",
                    at()
                );
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value, {}", at()),
        };
        assert!(is_name(name), "bad metric name, {}", at());
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end;
            loop {
                // A label name, `=`, then a quoted value; `,` or `}` after it.
                let start = chars
                    .peek()
                    .map(|&(i, _)| i)
                    .unwrap_or_else(|| panic!("{}", at()));
                if body[start..].starts_with('}') {
                    end = start + 1;
                    break;
                }
                let eq = body[start..]
                    .find('=')
                    .unwrap_or_else(|| panic!("label without =, {}", at()));
                let key = &body[start..start + eq];
                assert!(
                    is_name(key) && !key.starts_with("__"),
                    "bad label name, {}",
                    at()
                );
                while chars.peek().is_some_and(|&(i, _)| i <= start + eq) {
                    chars.next();
                }
                assert_eq!(
                    chars.next().map(|c| c.1),
                    Some('"'),
                    "label value not quoted, {}",
                    at()
                );
                let mut value = String::new();
                loop {
                    match chars.next().map(|c| c.1) {
                        Some('\\') => match chars.next().map(|c| c.1) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?}, {}", at()),
                        },
                        Some('"') => break,
                        Some('\n') | None => panic!("unterminated label value, {}", at()),
                        Some(c) => value.push(c),
                    }
                }
                assert!(
                    labels.insert(key.to_string(), value).is_none(),
                    "label twice, {}",
                    at()
                );
                match chars.next() {
                    Some((_, ',')) => {}
                    Some((i, '}')) => {
                        end = i + 1;
                        break;
                    }
                    other => panic!("expected , or }} not {other:?}, {}", at()),
                }
            }
            rest = &body[end..];
        }
        let rest = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value, {}", at()));
        let mut parts = rest.split(' ');
        let value_text = parts.next().unwrap();
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value, {}", at())),
        };
        if let Some(ts) = parts.next() {
            ts.parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp, {}", at()));
        }
        assert!(parts.next().is_none(), "trailing text, {}", at());
        let family = family_of(name, &types);
        assert!(
            types.contains_key(family),
            "sample before its TYPE, {}",
            at()
        );
        let series = format!("{name}{labels:?}");
        assert!(seen_series.insert(series), "series twice, {}", at());
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    let scrape = Scrape { samples, types };
    check_histograms(&scrape);
    scrape
}

fn check_histograms(s: &Scrape) {
    for (family, kind) in &s.types {
        if kind != "histogram" {
            continue;
        }
        // Buckets by their other labels, in the order served.
        let mut series: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
        for b in s
            .samples
            .iter()
            .filter(|x| x.name == format!("{family}_bucket"))
        {
            let mut others = b.labels.clone();
            let le = others.remove("le").expect("a bucket without le");
            series
                .entry(format!("{others:?}"))
                .or_default()
                .push((le, b.value));
        }
        for (others, buckets) in series {
            let mut last_le = f64::NEG_INFINITY;
            let mut last = 0.0;
            for (le, v) in &buckets {
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                assert!(
                    le > last_le,
                    "{family}{others}: buckets not in increasing le"
                );
                assert!(*v >= last, "{family}{others}: buckets not cumulative");
                (last_le, last) = (le, *v);
            }
            assert_eq!(last_le, f64::INFINITY, "{family}{others}: no +Inf bucket");
            let count = s
                .samples
                .iter()
                .find(|x| {
                    x.name == format!("{family}_count") && format!("{:?}", x.labels) == others
                })
                .unwrap_or_else(|| panic!("{family}{others}: no _count"));
            assert_eq!(
                count.value, last,
                "{family}{others}: +Inf bucket is not the count"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "bad escape")]
    fn a_bad_escape_is_refused() {
        super::parse("# TYPE m gauge\nm{a=\"x\\y\"} 1\n");
    }

    #[test]
    fn escapes_are_read() {
        let s = super::parse("# TYPE m gauge\nm{a=\"x\\\\y\\\"z\\n\"} 1\n");
        assert_eq!(s.samples[0].labels["a"], "x\\y\"z\n");
    }
}
