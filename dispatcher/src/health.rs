//! Whether this dispatcher's background parts still run.
//!
//! The job worker and the trigger router run as tasks of their own; if one
//! ends while the dispatcher keeps answering admin commands, jobs pile up or
//! events go unheard with nothing to show for it. So the flows half records
//! a part that stopped here, and the dispatcher's readiness ping answers
//! `degraded: ...` instead of `pong` from then on, which turns the api's
//! `/ready` to 503.

use std::sync::Mutex;

/// The parts that stopped, and why.
#[derive(Debug, Default)]
pub struct Health {
    stopped: Mutex<Vec<String>>,
}

impl Health {
    /// Records that `part` stopped for `reason`.
    pub fn stopped(&self, part: &str, reason: &str) {
        tracing::error!(part, reason, "a dispatcher part stopped: readiness now reports it");
        self.stopped.lock().expect("health lock").push(format!("{part} stopped: {reason}"));
    }

    /// The answer to a readiness ping: [`protocol::subjects::PONG`] while
    /// every part runs, else `degraded: ` and what stopped.
    pub fn ping_answer(&self) -> String {
        let stopped = self.stopped.lock().expect("health lock");
        if stopped.is_empty() {
            protocol::subjects::PONG.to_owned()
        } else {
            format!("{}{}", protocol::subjects::DEGRADED, stopped.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_part_turns_the_answer_degraded() {
        let health = Health::default();
        assert_eq!(health.ping_answer(), "pong");
        health.stopped("job worker", "the job consumer was deleted");
        assert_eq!(health.ping_answer(), "degraded: job worker stopped: the job consumer was deleted");
    }
}
