//! Scheduled triggers: when each tick falls, and publishing the ticks this
//! dispatcher won.
//!
//! Every dispatcher runs a ticker per scheduled trigger and, at each tick,
//! tries to claim it ([`bus::ScheduleTicks`]); the one that does publishes
//! the tick on the trigger's schedule subject, where the trigger's queue
//! group picks it up like any event: same sync or async run, output,
//! failures, hop count and budget as a subject trigger. So a tick runs once
//! while at least one dispatcher runs, whichever start, stop or crash.
//!
//! Ticks are not caught up: a tick a dispatcher reaches more than
//! [`MAX_LATENESS`] late (no dispatcher was running, NATS was down) is
//! skipped, and the schedule goes on from the next one.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use protocol::{TriggerName, headers};
use tracing::{debug, warn};

use super::triggers::TriggerContext;

/// How late a tick may still be published.
pub const MAX_LATENESS: Duration = Duration::from_secs(10);

/// A trigger's schedule: a cron expression read in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    /// Parses a cron expression (five fields, or six with seconds first) and
    /// an IANA time zone name (default UTC).
    pub fn parse(expression: &str, time_zone: Option<&str>) -> Result<Self, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|e| format!("schedule {expression:?} is not a cron expression: {e}"))?;
        let zone = match time_zone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("time_zone {name:?} is not an IANA time zone name (e.g. Europe/Paris)")
            })?,
        };
        let schedule = Self { cron, zone };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(format!("schedule {expression:?} never ticks"));
        }
        Ok(schedule)
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.zone);
        self.cron.find_next_occurrence(&local, false).ok().map(|tick| tick.with_timezone(&Utc))
    }
}

/// What a ticker publishes for one scheduled trigger.
pub struct Ticker {
    /// The trigger.
    pub name: TriggerName,
    /// When it ticks.
    pub schedule: Schedule,
    /// Where ticks are published (the trigger listens there).
    pub subject: String,
    /// The input of each run, if the trigger sets one.
    pub input: Option<String>,
}

impl Ticker {
    /// Wakes at every tick and publishes the ones this dispatcher claims,
    /// until aborted.
    pub async fn run(self, context: Arc<TriggerContext>) {
        let mut after = Utc::now();
        loop {
            let Some(tick) = self.schedule.next_after(after) else {
                warn!(trigger = %self.name, "the schedule has no further tick");
                return;
            };
            let wait = (tick - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            after = tick;
            let late = (Utc::now() - tick).to_std().unwrap_or_default();
            if late > MAX_LATENESS {
                warn!(trigger = %self.name, tick = %rfc3339(tick), ?late, "tick skipped: reached too late");
                context.metrics.schedule_tick(self.name.as_str(), "skipped");
                after = Utc::now();
                continue;
            }
            match context.ticks.claim(&self.name, tick.timestamp_millis(), &context.instance).await {
                Ok(true) => {
                    self.publish(&context, tick).await;
                    context.metrics.schedule_tick(self.name.as_str(), "published");
                }
                Ok(false) => {
                    debug!(trigger = %self.name, tick = %rfc3339(tick), "tick claimed by another dispatcher")
                }
                Err(err) => {
                    warn!(trigger = %self.name, tick = %rfc3339(tick), %err, "tick skipped: could not claim it");
                    context.metrics.schedule_tick(self.name.as_str(), "skipped");
                }
            }
        }
    }

    async fn publish(&self, context: &TriggerContext, tick: DateTime<Utc>) {
        let at = rfc3339(tick);
        // One id per tick: a tick's runs, outputs and failures share it.
        let key = format!("{}@{}", self.name, tick.timestamp_millis());
        let request_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string();
        let mut map = HeaderMap::new();
        map.insert(headers::REQUEST_ID, request_id.as_str());
        map.insert(headers::SCHEDULED_AT, at.as_str());
        let input = match &self.input {
            Some(input) => input.clone().into_bytes(),
            None => serde_json::json!({"trigger": self.name.as_str(), "scheduled_at": at})
                .to_string()
                .into_bytes(),
        };
        let client = context.caller.client();
        if let Err(err) = client.publish_with_headers(self.subject.clone(), map, input.into()).await {
            warn!(trigger = %self.name, tick = %at, %err, "could not publish the tick");
        }
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn seconds_are_optional_and_time_zones_shift_the_ticks() {
        let every_second = Schedule::parse("* * * * * *", None).unwrap();
        assert_eq!(every_second.next_after(at("2026-11-29T10:00:00.400Z")), Some(at("2026-11-29T10:00:01Z")));
        let nine_daily = Schedule::parse("0 9 * * *", Some("Europe/Paris")).unwrap();
        // Paris is UTC+1 in winter, UTC+2 in summer.
        assert_eq!(nine_daily.next_after(at("2026-11-29T10:00:00Z")), Some(at("2026-11-30T08:00:00Z")));
        assert_eq!(nine_daily.next_after(at("2026-07-01T00:00:00Z")), Some(at("2026-07-01T07:00:00Z")));
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_with_the_reason() {
        assert!(Schedule::parse("every minute", None).unwrap_err().contains("not a cron expression"));
        assert!(Schedule::parse("61 * * * *", None).is_err());
        assert!(Schedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err().contains("IANA"));
        // Valid fields, but no such day: refused, not a ticker that never wakes.
        assert!(Schedule::parse("0 0 30 2 *", None).is_err());
    }
}
