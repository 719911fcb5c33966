//! TEMPORARY stub until the schedule module lands (same public shapes).
use chrono::{Datelike, NaiveDate, Weekday};

#[derive(Clone, Debug, Default)]
pub struct Calendar;

impl Calendar {
    pub fn weekends_only() -> Calendar {
        Calendar
    }
    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut n = 0;
        let mut d = a;
        while d < b {
            d = d.succ_opt().unwrap();
            if self.is_business_day(d) {
                n += 1;
            }
        }
        n * sign
    }
}
