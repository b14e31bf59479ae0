//! How the threads a service runs beside its main runtime ended.
//!
//! The api's serving threads and the executor's call threads each run a
//! runtime of their own and send their result once, as they end. The
//! service watches for one that ends before it was told to (and stops
//! with its error), and at its stop waits for all of them. Both need the
//! same bookkeeping, generic over the service's error.

use tokio::sync::oneshot;

/// Most threads a service runs beside its main runtime (the api's serving
/// threads, the executor's call threads). Each holds a NATS connection and
/// a runtime, and past the CPUs they only add wake-ups; without a bound a
/// slip such as `10000` would open as many connections to the server.
pub const MAX_THREADS: usize = 256;

/// Reads a thread count setting: `0` (one per CPU) up to [`MAX_THREADS`].
pub fn thread_count_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(0..=MAX_THREADS as u64)
}

/// `configured` threads, or one per CPU (the cgroup's quota counted) for
/// `0`; never more than [`MAX_THREADS`], whoever built the setting.
pub fn thread_count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        threads => threads,
    }
    .min(MAX_THREADS)
}

/// Where a thread sends how it ended.
pub type ThreadEnd<E> = oneshot::Sender<Result<(), E>>;

/// The ends of a service's threads, in the order they were started.
pub struct ThreadEnds<E> {
    ended: Vec<oneshot::Receiver<Result<(), E>>>,
}

impl<E> Default for ThreadEnds<E> {
    fn default() -> Self {
        Self { ended: Vec::new() }
    }
}

impl<E> ThreadEnds<E> {
    /// The end of one more thread, for it to send its result on.
    pub fn add(&mut self) -> ThreadEnd<E> {
        let (end, ended) = oneshot::channel();
        self.ended.push(ended);
        end
    }

    /// Resolves when one of the threads has ended: with the error it sent,
    /// or `unexplained()` when it sent none (it returned `Ok` without being
    /// told to stop, or it panicked). A thread reported here is not waited
    /// for again; with none left, this never resolves.
    pub async fn first_ended(&mut self, unexplained: impl FnOnce() -> E) -> E {
        if self.ended.is_empty() {
            return std::future::pending().await;
        }
        let (result, index, _) = futures::future::select_all(self.ended.iter_mut()).await;
        // Resolved: never polled again.
        drop(self.ended.swap_remove(index));
        match result {
            Ok(Err(error)) => error,
            Ok(Ok(())) | Err(_) => unexplained(),
        }
    }

    /// Waits until every thread has ended; the first error in start order,
    /// `unexplained()` standing for a thread that panicked.
    pub async fn all_ended(self, unexplained: impl Fn() -> E) -> Result<(), E> {
        let mut first = Ok(());
        for ended in self.ended {
            let result = ended.await.unwrap_or_else(|_| Err(unexplained()));
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Debug, PartialEq)]
    enum Why {
        Failed(u8),
        Unexplained,
    }

    #[test]
    fn a_thread_count_is_one_per_cpu_for_zero_and_never_past_the_bound() {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(thread_count(0), cpus.min(MAX_THREADS));
        assert_eq!(thread_count(3), 3);
        // A config built in code skips the parser: the bound still holds.
        assert_eq!(thread_count(MAX_THREADS * 40), MAX_THREADS);
    }

    #[tokio::test]
    async fn the_first_thread_to_end_is_reported_with_its_error_or_as_unexplained() {
        let mut ends = ThreadEnds::default();
        let (quiet, failing, panicking) = (ends.add(), ends.add(), ends.add());
        let _ = failing.send(Err(Why::Failed(1)));
        assert_eq!(ends.first_ended(|| Why::Unexplained).await, Why::Failed(1));
        // A panic drops the thread's end unsent.
        drop(panicking);
        assert_eq!(ends.first_ended(|| Why::Unexplained).await, Why::Unexplained);
        // A thread that returns Ok without being told to stop is no better.
        let _ = quiet.send(Ok(()));
        assert_eq!(ends.first_ended(|| Why::Unexplained).await, Why::Unexplained);
        // None left: nothing more to report, ever.
        let nothing = tokio::time::timeout(Duration::from_millis(50), ends.first_ended(|| Why::Unexplained));
        assert!(nothing.await.is_err());
    }

    #[tokio::test]
    async fn the_stop_waits_for_every_thread_and_keeps_the_first_error() {
        let mut ends = ThreadEnds::default();
        let (first, second, third) = (ends.add(), ends.add(), ends.add());
        let waiting = tokio::spawn(ends.all_ended(|| Why::Unexplained));
        let _ = third.send(Err(Why::Failed(3)));
        let _ = first.send(Ok(()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one thread is still running");
        drop(second);
        assert_eq!(waiting.await.unwrap(), Err(Why::Unexplained));

        let mut ends = ThreadEnds::<Why>::default();
        for end in [ends.add(), ends.add()] {
            let _ = end.send(Ok(()));
        }
        assert_eq!(ends.all_ended(|| Why::Unexplained).await, Ok(()));
    }
}
