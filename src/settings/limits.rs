//! The range of every duration, size and count a configuration may set, in one place: the
//! checks use these, the README's configuration reference lists them (a test keeps the two
//! in step), and nothing clerk computes from a value in range can overflow.
//!
//! Why bounds at all: a value is later added to a clock (`drain_timeout`), multiplied
//! (`max_file_size_mb` into bytes, `rescan_interval` into the watchdog's patience) or used
//! as a loop bound. An unbounded value wraps or panics far from the file that set it; a
//! bounded one is refused by `clerk check` with the file, line and key.

use std::fmt;
use std::time::Duration;

/// The bounds of a duration setting (`"2s"`, `"1h30m"`), both included.
#[derive(Debug, Clone, Copy)]
pub struct DurationRange {
    /// The key as written in the file, with `*` for a name or a job: for messages and docs.
    pub key: &'static str,
    pub min: Duration,
    pub max: Duration,
}

/// The bounds of a whole-number setting, both included, and the unit it counts.
#[derive(Debug, Clone, Copy)]
pub struct CountRange {
    pub key: &'static str,
    pub min: i64,
    pub max: i64,
    /// `MB`, `business days`, `breaks`: said in messages and docs.
    pub unit: &'static str,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const HOUR: u64 = 3600;

// ---- clerk.toml ------------------------------------------------------------------------------

/// How often folders are listed, events or not. Below 10 ms the listing is all clerk does.
pub const RESCAN_INTERVAL: DurationRange = DurationRange {
    key: "daemon.rescan_interval",
    min: ms(10),
    max: secs(HOUR),
};

/// How long a file must stay unchanged before it is taken (also `watch.settle_time`).
pub const SETTLE_TIME: DurationRange = DurationRange {
    key: "daemon.settle_time",
    min: Duration::ZERO,
    max: secs(HOUR),
};

/// How long an unmatched item waits for its counterpart before it is a break (also a job's
/// `break_grace`). Up to a day: a counterpart later than that is a real break.
pub const BREAK_GRACE: DurationRange = DurationRange {
    key: "daemon.break_grace",
    min: Duration::ZERO,
    max: secs(24 * HOUR),
};

/// The same bounds for a job's own grace period.
pub const JOB_BREAK_GRACE: DurationRange = DurationRange {
    key: "break_grace",
    ..BREAK_GRACE
};

/// The same bounds for a job's own settle time.
pub const WATCH_SETTLE_TIME: DurationRange = DurationRange {
    key: "watch.settle_time",
    ..SETTLE_TIME
};

/// How long shutdown waits for the unit of work in progress. systemd's `TimeoutStopSec` must
/// be longer; an hour is longer than any stop an operator waits for.
pub const DRAIN_TIMEOUT: DurationRange = DurationRange {
    key: "daemon.drain_timeout",
    min: Duration::ZERO,
    max: secs(HOUR),
};

/// Files larger than this are refused unread. 16 GiB: past it the byte count of the largest
/// file still fits every integer clerk keeps it in, with a wide margin.
pub const MAX_FILE_SIZE_MB: CountRange = CountRange {
    key: "daemon.max_file_size_mb",
    min: 1,
    max: 16_384,
    unit: "MB",
};

/// One whole SMTP delivery or health check.
pub const SMTP_TIMEOUT: DurationRange = DurationRange {
    key: "mail.smtp.timeout",
    min: secs(1),
    max: secs(10 * 60),
};

/// How often a mailbox is looked at when the server cannot tell (or a Maildir is listed).
pub const MAILBOX_POLL_INTERVAL: DurationRange = DurationRange {
    key: "mailboxes.*.poll_interval",
    min: ms(100),
    max: secs(24 * HOUR),
};

/// One step of an IMAP session (connect, TLS, login, a command), and a token command.
pub const MAILBOX_TIMEOUT: DurationRange = DurationRange {
    key: "mailboxes.*.timeout",
    min: secs(1),
    max: secs(10 * 60),
};

/// The sizes of one mail, held in memory while it is read.
pub const MAX_MESSAGE_MB: CountRange = CountRange {
    key: "mailboxes.*.max_message_mb",
    min: 1,
    max: 4096,
    unit: "MB",
};
pub const MAX_ATTACHMENT_MB: CountRange = CountRange {
    key: "mailboxes.*.max_attachment_mb",
    ..MAX_MESSAGE_MB
};
pub const MAX_UNZIPPED_MB: CountRange = CountRange {
    key: "mailboxes.*.max_unzipped_mb",
    ..MAX_MESSAGE_MB
};
pub const MAX_ZIP_ENTRIES: CountRange = CountRange {
    key: "mailboxes.*.max_zip_entries",
    min: 1,
    max: 100_000,
    unit: "files",
};
pub const MAX_PARTS: CountRange = CountRange {
    key: "mailboxes.*.max_parts",
    min: 1,
    max: 100_000,
    unit: "MIME parts",
};

// ---- job files -------------------------------------------------------------------------------

/// How many of the oldest breaks a summary mail lists.
pub const SUMMARY_OLDEST: CountRange = CountRange {
    key: "summary.oldest",
    min: 0,
    max: 1000,
    unit: "breaks",
};

/// How many of the largest breaks a summary mail lists.
pub const SUMMARY_LARGEST: CountRange = CountRange {
    key: "summary.largest",
    min: 0,
    max: 1000,
    unit: "breaks",
};

/// The line or row of a file's header.
pub const HEADER_ROW: CountRange = CountRange {
    key: "extract.header_row",
    min: 1,
    max: 10_000,
    unit: "line",
};

/// A matching pass's date window.
pub const PASS_WINDOW: CountRange = CountRange {
    key: "match.passes[*].date.window_business_days",
    min: 0,
    max: 366,
    unit: "business days",
};

/// The short form's window (`match.window_business_days`).
pub const LEGACY_WINDOW: CountRange = CountRange {
    key: "match.window_business_days",
    min: 0,
    max: 60,
    unit: "business days",
};

/// How many items one side of a grouped match may take: the subset search grows fast.
pub const MAX_GROUP_SIZE: CountRange = CountRange {
    key: "match.passes[*].max_group_size",
    min: 2,
    max: 64,
    unit: "items",
};

/// How late a trade may settle before it is a break.
pub const SETTLEMENT_WINDOW: CountRange = CountRange {
    key: "settlement.window_business_days",
    min: 0,
    max: 30,
    unit: "business days",
};

/// Every range, in the order the README lists them.
pub const DURATIONS: &[DurationRange] = &[
    RESCAN_INTERVAL,
    SETTLE_TIME,
    DRAIN_TIMEOUT,
    SMTP_TIMEOUT,
    MAILBOX_POLL_INTERVAL,
    MAILBOX_TIMEOUT,
    BREAK_GRACE,
    WATCH_SETTLE_TIME,
    JOB_BREAK_GRACE,
];

pub const COUNTS: &[CountRange] = &[
    MAX_FILE_SIZE_MB,
    MAX_MESSAGE_MB,
    MAX_ATTACHMENT_MB,
    MAX_UNZIPPED_MB,
    MAX_ZIP_ENTRIES,
    MAX_PARTS,
    SUMMARY_OLDEST,
    SUMMARY_LARGEST,
    HEADER_ROW,
    PASS_WINDOW,
    LEGACY_WINDOW,
    MAX_GROUP_SIZE,
    SETTLEMENT_WINDOW,
];

impl DurationRange {
    /// `value` if it is in range; otherwise what the range is, as a sentence.
    pub fn check(&self, value: Duration) -> Result<Duration, String> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "expected {} to {}, found {}",
                Span(self.min),
                Span(self.max),
                Span(value)
            ))
        }
    }

    /// Parses `text` ([`super::parse_duration`]) and checks it; the error quotes the text as
    /// written.
    pub fn parse(&self, text: &str) -> Result<Duration, String> {
        let d = super::parse_duration(text)?;
        self.check(d).map_err(|_| {
            format!(
                "expected {} to {}, found {:?}",
                Span(self.min),
                Span(self.max),
                text.trim()
            )
        })
    }
}

impl CountRange {
    /// `value` if it is in range; otherwise what the range is, as a sentence.
    pub fn check(&self, value: i64) -> Result<i64, String> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "expected {} to {} ({}), found {value}",
                self.min, self.max, self.unit
            ))
        }
    }

    /// As [`CountRange::check`], for a value that will be a size or an index.
    pub fn check_usize(&self, value: i64) -> Result<usize, String> {
        // In range means 0 or more and at most an i64 that fits any 64-bit usize.
        self.check(value).map(|v| v as usize)
    }
}

/// A duration as the configuration writes it: `1h`, `30s`, `1m30s`, `100ms`.
pub struct Span(pub Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        let mut secs = d.as_secs();
        let millis = d.subsec_millis();
        let mut wrote = false;
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
                wrote = true;
            }
        }
        if millis > 0 || !wrote {
            write!(f, "{millis}ms")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_the_configuration_writes_them() {
        assert_eq!(Span(secs(3600)).to_string(), "1h");
        assert_eq!(Span(secs(90)).to_string(), "1m30s");
        assert_eq!(Span(ms(100)).to_string(), "100ms");
        assert_eq!(Span(Duration::ZERO).to_string(), "0s");
        assert_eq!(Span(secs(86_400 + 1)).to_string(), "1d1s");
        // What is printed parses back to the same duration.
        for d in [secs(3600), secs(90), ms(1500), secs(86_400 * 3)] {
            assert_eq!(super::super::parse_duration(&Span(d).to_string()), Ok(d));
        }
    }

    #[test]
    fn every_range_is_sane_and_keeps_arithmetic_on_it_in_bounds() {
        for r in DURATIONS {
            assert!(r.min <= r.max, "{}", r.key);
            // The daemon adds these to clocks and multiplies them by small factors.
            assert!(r.max.checked_mul(1000).is_some(), "{}", r.key);
        }
        for r in COUNTS {
            assert!(0 <= r.min && r.min <= r.max, "{}", r.key);
        }
        // MB into bytes, with room.
        assert!(
            (MAX_FILE_SIZE_MB.max as u64)
                .checked_mul(1024 * 1024 * 1024)
                .is_some()
        );
    }

    #[test]
    fn out_of_range_values_say_the_range() {
        let e = DRAIN_TIMEOUT.parse("18446744073709551615s").unwrap_err();
        assert_eq!(e, "expected 0s to 1h, found \"18446744073709551615s\"");
        let e = MAX_FILE_SIZE_MB.check(17_592_186_044_416).unwrap_err();
        assert_eq!(e, "expected 1 to 16384 (MB), found 17592186044416");
        assert_eq!(RESCAN_INTERVAL.parse("2s"), Ok(secs(2)));
        assert!(RESCAN_INTERVAL.parse("0s").is_err());
        assert!(SUMMARY_OLDEST.check(-1).is_err());
    }

    /// The README's configuration reference lists every range as the code has it.
    #[test]
    fn the_readme_states_every_range() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let row = |key: &str| {
            readme
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&format!("`{key}`")))
                .unwrap_or_else(|| panic!("README has no row for `{key}`"))
                .to_string()
        };
        for r in DURATIONS {
            let line = row(r.key);
            let want = format!("{} to {}", Span(r.min), Span(r.max));
            assert!(line.contains(&want), "README row for {}: {line}", r.key);
        }
        for r in COUNTS {
            let line = row(r.key);
            let want = format!("{} to {}", r.min, r.max);
            assert!(line.contains(&want), "README row for {}: {line}", r.key);
        }
    }
}
