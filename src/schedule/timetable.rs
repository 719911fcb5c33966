//! Which slot each scheduled job fires next, whatever the clock did in between.
//!
//! A daemon does not see time pass evenly: it is stopped and started, a VM is suspended for
//! hours (or a process is SIGSTOPped), NTP steps the clock forwards or backwards. The rules:
//! - after any gap (a restart, a pause, a step forwards), a job fires **once**, for the latest
//!   of the slots it missed: N days of suspend send one summary, not N;
//! - a slot fires only if it is later than the last slot fired, so a step **backwards** (or a
//!   restart after one) fires nothing twice; the job waits for its next slot after the last one
//!   it fired.
//!
//! The daemon persists each job's last fired slot with the work the fire does, and passes the
//! time in: nothing here reads a clock, so tests move time as they please.

use chrono::{DateTime, Utc};

use super::Schedule;

/// Every scheduled job with the last slot it fired.
#[derive(Debug, Default)]
pub struct Timetable {
    jobs: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    job: String,
    schedule: Schedule,
    /// The last slot fired (or the moment the schedule was first armed): only later slots
    /// fire.
    last: DateTime<Utc>,
}

/// One job to fire now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub job: String,
    /// The slot it fires for: the latest one at or before now.
    pub slot: DateTime<Utc>,
    /// Earlier slots missed since the last fire, served by this one (none in normal running).
    pub coalesced: bool,
}

impl Timetable {
    /// Adds a job whose last fired slot is `last` (from the store; the arming time for a
    /// schedule that never fired).
    pub fn add(&mut self, job: impl Into<String>, schedule: Schedule, last: DateTime<Utc>) {
        self.jobs.push(Entry {
            job: job.into(),
            schedule,
            last,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The jobs to fire at `now`, each at most once, and notes them as fired.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let mut due = Vec::new();
        for e in &mut self.jobs {
            let Some(slot) = e.schedule.latest_due(e.last, now) else {
                continue;
            };
            let coalesced = e
                .schedule
                .next_after(e.last)
                .is_some_and(|first| first < slot);
            e.last = slot;
            due.push(Due {
                job: e.job.clone(),
                slot,
                coalesced,
            });
        }
        due
    }

    /// When the next slot of any job falls: the first after both `now` and that job's last
    /// fired slot (after a step backwards, the slots up to the last one fired are done).
    /// `None` when no schedule fires again.
    pub fn next_slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs
            .iter()
            .filter_map(|e| e.schedule.next_after(e.last.max(now)))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use chrono_tz::Tz;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn every_minute() -> Schedule {
        Schedule::parse("* * * * *", Tz::UTC).unwrap()
    }

    /// A clock the test moves, and a daemon loop over it: at each wake-up the due jobs fire,
    /// then it sleeps until the next slot (at most 30 s, as the daemon does).
    struct Run {
        table: Timetable,
        now: DateTime<Utc>,
        fired: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    }

    impl Run {
        fn new(table: Timetable, now: DateTime<Utc>) -> Run {
            let mut run = Run {
                table,
                now,
                fired: Vec::new(),
            };
            run.wake();
            run
        }

        fn wake(&mut self) {
            for d in self.table.due(self.now) {
                self.fired.push((d.job, d.slot, self.now));
            }
        }

        /// Runs normally (no gap) until `until`.
        fn run_until(&mut self, until: DateTime<Utc>) {
            while self.now < until {
                let next = self.table.next_slot(self.now).expect("fires again");
                let step = (next - self.now).min(Duration::seconds(30));
                assert!(
                    step > Duration::zero(),
                    "the loop must not spin at {}",
                    self.now
                );
                self.now = (self.now + step).min(until);
                self.wake();
            }
        }

        /// A gap: the clock moves by `by` (forwards or backwards) with nothing running, then
        /// the loop wakes up.
        fn gap(&mut self, by: Duration) {
            self.now += by;
            self.wake();
        }

        fn slots(&self) -> Vec<DateTime<Utc>> {
            self.fired.iter().map(|f| f.1).collect()
        }
    }

    #[test]
    fn running_normally_every_slot_fires_once_at_its_time() {
        let start = utc(2026, 3, 2, 10, 0, 30);
        let mut table = Timetable::default();
        table.add("tick", every_minute(), start);
        let mut run = Run::new(table, start);
        run.run_until(utc(2026, 3, 2, 10, 5, 10));
        let want: Vec<_> = (1..=5).map(|m| utc(2026, 3, 2, 10, m, 0)).collect();
        assert_eq!(run.slots(), want);
        // Each at its own time, not late.
        assert!(run.fired.iter().all(|(_, slot, at)| slot == at));
    }

    #[test]
    fn a_pause_fires_the_missed_slots_once_not_once_each() {
        let start = utc(2026, 3, 2, 10, 0, 30);
        let mut table = Timetable::default();
        table.add("tick", every_minute(), start);
        let mut run = Run::new(table, start);
        run.run_until(utc(2026, 3, 2, 10, 1, 20));
        assert_eq!(run.slots(), [utc(2026, 3, 2, 10, 1, 0)]);

        // SIGSTOP (or a suspended VM) for 200 s: 10:02, 10:03 and 10:04 pass unseen.
        run.gap(Duration::seconds(200));
        assert_eq!(run.now, utc(2026, 3, 2, 10, 4, 40));
        assert_eq!(
            run.slots(),
            [utc(2026, 3, 2, 10, 1, 0), utc(2026, 3, 2, 10, 4, 0)]
        );
        // Then on as usual.
        run.run_until(utc(2026, 3, 2, 10, 6, 0));
        assert_eq!(
            run.slots()[2..],
            [utc(2026, 3, 2, 10, 5, 0), utc(2026, 3, 2, 10, 6, 0)]
        );
    }

    #[test]
    fn days_of_suspend_send_one_summary() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let summary = Schedule::parse("0 7 * * 1-5", berlin).unwrap();
        // Monday 2026-03-02, 08:00 local: today's summary went out at 07:00.
        let now = utc(2026, 3, 2, 7, 0, 0);
        let mut table = Timetable::default();
        table.add("daily-summary", summary, utc(2026, 3, 2, 6, 0, 0));
        let mut run = Run::new(table, now);
        assert!(run.fired.is_empty());

        // Suspended until Friday 09:00 local: Tuesday to Friday's 07:00 were missed.
        run.gap(Duration::days(4) + Duration::hours(1));
        assert_eq!(run.slots(), [utc(2026, 3, 6, 6, 0, 0)]);
        let due_flag = {
            let mut t = Timetable::default();
            t.add(
                "daily-summary",
                Schedule::parse("0 7 * * 1-5", berlin).unwrap(),
                utc(2026, 3, 2, 6, 0, 0),
            );
            t.due(utc(2026, 3, 6, 8, 0, 0))
        };
        assert!(due_flag[0].coalesced);
        // And the next one on Monday.
        run.run_until(utc(2026, 3, 9, 6, 30, 0));
        assert_eq!(run.slots().len(), 2);
        assert_eq!(run.slots()[1], utc(2026, 3, 9, 6, 0, 0));
    }

    #[test]
    fn a_clock_stepped_forward_fires_once() {
        let start = utc(2026, 3, 2, 10, 0, 30);
        let mut table = Timetable::default();
        table.add("tick", every_minute(), start);
        table.add(
            "hourly",
            Schedule::parse("0 * * * *", Tz::UTC).unwrap(),
            start,
        );
        let mut run = Run::new(table, start);
        // NTP steps the clock three hours forward.
        run.gap(Duration::hours(3));
        let mut got: Vec<_> = run.fired.iter().map(|f| (f.0.as_str(), f.1)).collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("hourly", utc(2026, 3, 2, 13, 0, 0)),
                ("tick", utc(2026, 3, 2, 13, 0, 0)),
            ]
        );
    }

    #[test]
    fn a_clock_stepped_backwards_fires_nothing_twice() {
        let start = utc(2026, 3, 2, 10, 0, 30);
        let mut table = Timetable::default();
        table.add("tick", every_minute(), start);
        let mut run = Run::new(table, start);
        run.run_until(utc(2026, 3, 2, 10, 3, 10));
        assert_eq!(run.slots().len(), 3);

        // The clock steps back 10 minutes, to 09:53:10, and time runs on from there.
        run.gap(-Duration::minutes(10));
        run.run_until(utc(2026, 3, 2, 10, 5, 10));
        let slots = run.slots();
        let mut unique = slots.clone();
        unique.dedup();
        assert_eq!(slots, unique, "a slot fired twice");
        // 09:54 to 10:03 had fired (10:01-10:03) or lie before the last fire: not fired;
        // 10:04 and 10:05 fire at their time.
        assert_eq!(
            slots,
            (1..=5)
                .map(|m| utc(2026, 3, 2, 10, m, 0))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_restart_after_a_step_backwards_fires_nothing_twice() {
        // The store says 10:03 fired; the restarted daemon reads the clock as 09:58.
        let mut table = Timetable::default();
        table.add("tick", every_minute(), utc(2026, 3, 2, 10, 3, 0));
        let mut run = Run::new(table, utc(2026, 3, 2, 9, 58, 0));
        assert!(run.fired.is_empty());
        run.run_until(utc(2026, 3, 2, 10, 4, 5));
        assert_eq!(run.slots(), [utc(2026, 3, 2, 10, 4, 0)]);
    }

    #[test]
    fn a_restart_catches_up_once() {
        // Down from Monday 10:00 to Wednesday 10:00 (UTC): 48 hourly slots missed.
        let mut table = Timetable::default();
        table.add(
            "hourly",
            Schedule::parse("0 * * * *", Tz::UTC).unwrap(),
            utc(2026, 3, 2, 10, 0, 0),
        );
        let run = Run::new(table, utc(2026, 3, 4, 10, 0, 1));
        assert_eq!(run.slots(), [utc(2026, 3, 4, 10, 0, 0)]);
    }
}
