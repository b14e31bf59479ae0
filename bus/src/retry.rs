//! Retrying until the bus answers, with growing, jittered pauses.
//!
//! Every service starts at once (compose, `faas-local`), so NATS and
//! JetStream may come up after them, and an outage ends for every process
//! at the same moment. A fixed pause would make them all retry in lockstep;
//! pauses that double up to a cap, each shortened by a random part, spread
//! the retries out while keeping the first ones quick.

use std::hash::{BuildHasher as _, RandomState};
use std::time::Duration;

/// Pauses between attempts: `first`, doubling up to `max`, each one a
/// random duration between half of that and all of it.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 100 ms, doubling up to 2 s: quick when the bus is nearly up, one
    /// attempt every second or two per process during a long outage.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(2))
    }
}

impl Backoff {
    /// Pauses starting at `first` and growing up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { first, max: max.max(first), next: first }
    }

    /// The pause to take now; the one after it is twice as long (up to the cap).
    pub fn next_pause(&mut self) -> Duration {
        let full = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = full / 2;
        half + half.mul_f64(unit_random())
    }

    /// Sleeps for [`Self::next_pause`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_pause()).await;
    }

    /// Back to the first pause, after a success.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Runs `attempt` until it succeeds, logging each failure and pausing as
/// [`Backoff::default`] says between attempts. `what` names the thing
/// being waited for in the log (`"function registry"`).
pub async fn retry<T, E, F, Fut>(what: &str, mut attempt: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::default();
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(err) => {
                let pause = backoff.next_pause();
                tracing::warn!(%err, "{what} not ready; retrying in {} ms", pause.as_millis());
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// A number in `[0, 1)`. Jitter needs no strong randomness: the standard
/// library's randomly keyed hasher gives a different value per call and
/// per process without another dependency.
fn unit_random() -> f64 {
    let bits = RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_with_jitter_below_each() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let expected = [100, 200, 400, 800, 800, 800];
        for full in expected {
            let full = Duration::from_millis(full);
            let pause = backoff.next_pause();
            assert!(pause >= full / 2 && pause <= full, "{pause:?} outside [{:?}, {full:?}]", full / 2);
        }
        backoff.reset();
        assert!(backoff.next_pause() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_differs_between_calls() {
        let pauses: std::collections::HashSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_pause())
            .collect();
        assert!(pauses.len() > 1, "twenty pauses were all {pauses:?}");
    }

    #[tokio::test]
    async fn retry_returns_the_first_success() {
        let mut attempts = 0;
        let value = retry("test store", || {
            attempts += 1;
            let result = if attempts < 3 { Err("not yet") } else { Ok(attempts) };
            async move { result }
        })
        .await;
        assert_eq!(value, 3);
    }
}
