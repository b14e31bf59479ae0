//! Compiling on a bounded pool.
//!
//! A compile takes CPU and memory in proportion to what it is given, and
//! both roles that compile take their input from users (an upload, or the
//! bytes behind a cache miss). So every compile runs through a
//! [`CompilePool`]: at most `concurrency` at once on blocking threads (the
//! rest wait for a slot, up to the time limit, then are told the platform is
//! busy), each refused beyond `max_bytes` of input and given up on after
//! `timeout`.
//!
//! Wasmtime cannot cancel a compile. Past the time limit the caller stops
//! waiting and gets its answer, but the thread runs on to the end and keeps
//! its slot until then: the pool stays bounded by `concurrency` threads, at
//! the price of a slot being held by an abandoned compile for as long as it
//! takes.

use std::sync::Arc;
use std::time::Duration;

use protocol::{ErrorBody, ErrorCode};
use tokio::sync::Semaphore;

/// How compiles are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileLimits {
    /// Compiles running at once.
    pub concurrency: usize,
    /// How long a compile may take, and how long one waits for a slot.
    pub timeout: Duration,
    /// Largest input accepted, in bytes.
    pub max_bytes: u64,
    /// Where an operator changes `timeout`, named in the refusal.
    pub timeout_setting: &'static str,
}

/// Why a compile did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileRefused {
    /// The input is larger than a compile accepts.
    #[error("the component is {size} bytes, more than the {limit} bytes a compile accepts")]
    TooLarge {
        /// Input size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The compile took longer than the limit.
    #[error("the component did not compile within the limit of {limit_secs} s ({setting})")]
    TimedOut {
        /// The limit in seconds.
        limit_secs: u64,
        /// Where it is configured.
        setting: &'static str,
    },
    /// Every slot stayed busy for the whole time limit: retry later.
    #[error("all {concurrency} compile slots stayed busy for {waited_secs} s; retry later")]
    Busy {
        /// Slots in the pool.
        concurrency: usize,
        /// How long this compile waited.
        waited_secs: u64,
    },
    /// The compile panicked (a Wasmtime bug).
    #[error("the compile failed unexpectedly: {0}")]
    Crashed(String),
}

impl CompileRefused {
    /// The wire code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::TimedOut { .. } => ErrorCode::CompileLimitExceeded,
            Self::Busy { .. } => ErrorCode::Unavailable,
            Self::Crashed(_) => ErrorCode::Internal,
        }
    }
}

impl From<CompileRefused> for ErrorBody {
    fn from(err: CompileRefused) -> Self {
        ErrorBody::new(err.code(), err.to_string())
    }
}

/// Runs compiles within [`CompileLimits`]; clones share the slots.
#[derive(Clone)]
pub struct CompilePool {
    slots: Arc<Semaphore>,
    limits: CompileLimits,
}

impl CompilePool {
    /// A pool with `limits.concurrency` slots (at least one).
    pub fn new(limits: CompileLimits) -> Self {
        Self { slots: Arc::new(Semaphore::new(limits.concurrency.max(1))), limits }
    }

    /// Runs `compile`, which works on `size` bytes of input, on a blocking
    /// thread once a slot is free, and waits for it at most the time limit.
    pub async fn run<T: Send + 'static>(
        &self,
        size: u64,
        compile: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CompileRefused> {
        let CompileLimits { concurrency, timeout, max_bytes, timeout_setting } = self.limits;
        if size > max_bytes {
            return Err(CompileRefused::TooLarge { size, limit: max_bytes });
        }
        let slot = tokio::time::timeout(timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| CompileRefused::Busy {
                concurrency: concurrency.max(1),
                waited_secs: timeout.as_secs(),
            })?
            .expect("the pool's semaphore is never closed");
        let running = tokio::task::spawn_blocking(move || {
            // Held until the compile really ends, even if nobody waits for it.
            let _slot = slot;
            compile()
        });
        match tokio::time::timeout(timeout, running).await {
            Err(_) => {
                Err(CompileRefused::TimedOut { limit_secs: timeout.as_secs(), setting: timeout_setting })
            }
            Ok(Err(join)) => Err(CompileRefused::Crashed(join.to_string())),
            Ok(Ok(output)) => Ok(output),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn pool(concurrency: usize, timeout_ms: u64) -> CompilePool {
        CompilePool::new(CompileLimits {
            concurrency,
            timeout: Duration::from_millis(timeout_ms),
            max_bytes: 100,
            timeout_setting: "TEST_SETTING",
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compiles_are_bounded_in_size_time_and_number() {
        let pool = pool(1, 300);
        assert_eq!(pool.run(101, || ()).await, Err(CompileRefused::TooLarge { size: 101, limit: 100 }));
        assert_eq!(pool.run(100, || 7).await, Ok(7));

        // A compile past the limit: the caller hears at the limit...
        let started = Instant::now();
        let slow = pool.run(1, || std::thread::sleep(Duration::from_millis(800))).await;
        let refused = slow.expect_err("too slow");
        assert!(matches!(refused, CompileRefused::TimedOut { .. }), "{refused:?}");
        assert!(refused.to_string().contains("TEST_SETTING"), "{refused}");
        assert_eq!(refused.code(), ErrorCode::CompileLimitExceeded);
        assert!(started.elapsed() < Duration::from_millis(450), "{:?}", started.elapsed());

        // ...while its thread still holds the only slot: the next one waits
        // and, the slot staying taken for the whole limit, is told to retry.
        let busy = pool.run(1, || ()).await.expect_err("the abandoned compile still runs");
        assert!(matches!(busy, CompileRefused::Busy { concurrency: 1, .. }), "{busy:?}");
        assert_eq!(busy.code(), ErrorCode::Unavailable);

        // Once it really ended, the slot is back.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(pool.run(1, || 8).await, Ok(8));
    }
}
