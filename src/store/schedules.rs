//! Schedules: when each scheduled job last fired.

use chrono::{DateTime, Utc};

use super::Result;

/// What a unit of work keeps and reads of schedules.
pub trait Schedules {
    fn last_fired(&mut self, job: &str) -> Result<Option<DateTime<Utc>>>;
    fn set_last_fired(&mut self, job: &str, at: DateTime<Utc>) -> Result<()>;
}
