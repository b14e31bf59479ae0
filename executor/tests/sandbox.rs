//! The sandbox's limits against hostile guests, on the runtime itself (no
//! NATS, no S3): time spent anywhere in a call, memory summed over every
//! memory of a component, and a full instance pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use executor::runtime::{CallFailure, FunctionRuntime, SpentSandbox};
use executor::{CallSettings, ExecError, ExecLimits};

fn limits(timeout_ms: u64) -> ExecLimits {
    ExecLimits { timeout_ms, memory_mib: 64, ..ExecLimits::default() }
}

fn runtime_for(limits: ExecLimits, concurrency: usize) -> Arc<FunctionRuntime> {
    Arc::new(FunctionRuntime::new(limits, concurrency).expect("runtime builds"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_sleeping_in_a_host_call_is_stopped_at_the_deadline() {
    let runtime = runtime_for(limits(1_000), 1);
    let sleepy = runtime.prepare(&runtime.compile(&stack::guests::guest_bytes("sleepy")).unwrap()).unwrap();

    let started = Instant::now();
    let failure = runtime
        .call(&sleepy, r#"{"ms":20000}"#.into(), &CallSettings::defaults(runtime.limits()))
        .await
        .expect_err("the sleep outlasts the limit");
    let took = started.elapsed();
    assert!(matches!(failure.error, ExecError::Timeout { limit_ms: 1_000 }), "{:?}", failure.error);
    assert!(took < Duration::from_millis(1_100), "answered {took:?} after the start, limit 1 s");

    // Nothing of the abandoned call is left holding the pool.
    let started = Instant::now();
    let output = runtime
        .call(&sleepy, r#"{"ms":10}"#.into(), &CallSettings::defaults(runtime.limits()))
        .await
        .expect("a short sleep fits");
    assert_eq!(output.result, "slept 10 ms");
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// A component exporting `exec` that answers `ok` (or spins forever), with
/// `extra` more core instances holding one memory of `pages` 64 KiB pages each.
fn many_memories(extra: usize, pages: u32, spin: bool) -> Vec<u8> {
    let body = if spin {
        "(loop $forever (br $forever)) unreachable"
    } else {
        // The (pointer, length) of the answer at 0, the answer "ok" at 8.
        "i32.const 0 i32.const 8 i32.store  i32.const 4 i32.const 2 i32.store
         i32.const 8 i32.const 0x6b6f i32.store16  i32.const 0"
    };
    let instances: String =
        (0..extra).map(|i| format!("(core instance $extra{i} (instantiate $holder))\n")).collect();
    let wat = format!(
        r#"(component
            (core module $holder (memory (export "memory") {pages}))
            {instances}
            (core module $main
                (memory (export "memory") 1)
                (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 16)
                (func (export "exec") (param i32 i32) (result i32) {body}))
            (core instance $main (instantiate $main))
            (func (export "exec") (param "input" string) (result string)
                (canon lift (core func $main "exec") (memory (core memory $main "memory"))
                    (realloc (core func $main "realloc")))))"#
    );
    wat::parse_str(wat).expect("the test's component is valid WAT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_of_all_instances_share_one_budget() {
    let runtime = runtime_for(limits(2_000), 1);
    let run = |bytes: Vec<u8>| {
        let runtime = runtime.clone();
        async move {
            let component = runtime.prepare(&runtime.compile(&bytes).unwrap()).unwrap();
            runtime.call(&component, String::new(), &CallSettings::defaults(runtime.limits())).await
        }
    };

    // Four memories of 10 MiB: 40 MiB of a 64 MiB budget.
    let output = run(many_memories(4, 160, false)).await.expect("within the budget");
    assert_eq!(output.result, "ok");

    // Four memories of 20 MiB, each under the cap, together over it.
    let failure = run(many_memories(4, 320, false)).await.expect_err("80 MiB in all");
    assert!(matches!(failure.error, ExecError::MemoryLimit { limit_mib: 64 }), "{:?}", failure.error);

    // More memories than a call may hold: refused when compiled, whatever their size.
    let Err(refused) = runtime.compile(&many_memories(8, 1, false)) else { panic!("nine memories compiled") };
    assert!(refused.to_string().contains("maximum of 8"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_unavailable_not_invalid() {
    // Sized for one call at a time (four component slots, counting room for
    // slots being released); the runtime is driven past that on purpose.
    let runtime = runtime_for(limits(1_000), 1);
    let spinner = Arc::new(runtime.prepare(&runtime.compile(&many_memories(2, 1, true)).unwrap()).unwrap());
    let hello = runtime.prepare(&runtime.compile(&stack::guests::guest_bytes("hello")).unwrap()).unwrap();

    // A spinner that instantiates while a probe below holds a slot is the
    // one refused: it tries again, or the pool would never fill (this made
    // the test flaky on a loaded machine). Its refusals are counted too.
    let spinner_refusals = Arc::new(AtomicU64::new(0));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let (runtime, spinner, refusals) = (runtime.clone(), spinner.clone(), spinner_refusals.clone());
            tokio::spawn(async move {
                loop {
                    let settings = CallSettings::defaults(runtime.limits());
                    match runtime.call(&spinner, String::new(), &settings).await {
                        Err(failure) if matches!(failure.error, ExecError::PoolExhausted(_)) => {
                            refusals.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        outcome => return outcome,
                    }
                }
            })
        })
        .collect();
    // The spinners take every slot as soon as they are instantiated, which
    // on a loaded machine may take a while: a call succeeds until then.
    let spinning = Instant::now();
    let (failure, refused_in) = loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let settings = CallSettings::defaults(runtime.limits());
        match runtime.call(&hello, r#"{"name":"Ada"}"#.into(), &settings).await {
            Err(failure) => break (failure, started.elapsed()),
            Ok(_) => {
                assert!(spinning.elapsed() < Duration::from_millis(900), "the spinners never filled the pool")
            }
        }
    };
    // Refused at once: it does not wait for a slot to free (the spinners
    // hold theirs for their whole second).
    assert!(refused_in < Duration::from_millis(500), "refused after {refused_in:?}");
    assert!(matches!(failure.error, ExecError::PoolExhausted(_)), "{:?}", failure.error);
    assert_eq!(failure.error.code(), protocol::ErrorCode::Unavailable);

    for spinner in spinners {
        let failure = spinner.await.unwrap().expect_err("spins past the limit");
        assert!(matches!(failure.error, ExecError::Timeout { .. }), "{:?}", failure.error);
    }
    // Every refusal is counted: the probe's and any spinner's.
    assert_eq!(runtime.pool_exhaustions(), 1 + spinner_refusals.load(Ordering::Relaxed));
    let output = runtime
        .call(&hello, r#"{"name":"Ada"}"#.into(), &CallSettings::defaults(runtime.limits()))
        .await
        .expect("slots are back");
    assert_eq!(output.result, "Hello Ada, how are you?");
}

/// Calls until the pool refuses one, keeping every successful call's
/// sandbox; then frees one and calls again. The executor replies before
/// freeing a call's sandbox, and holds the call's concurrency slot until it
/// has: this is why. A pool sized for one call at a time has room for a
/// few sandboxes, not more.
async fn kept_sandboxes_hold_the_pool<F, Fut>(call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<SpentSandbox, CallFailure>>,
{
    let mut kept = Vec::new();
    let refused = loop {
        match call().await {
            Ok(spent) => {
                kept.push(spent);
                assert!(kept.len() <= 16, "the pool never filled: sandboxes are not held");
            }
            Err(failure) => break failure,
        }
    };
    assert!(matches!(refused.error, ExecError::PoolExhausted(_)), "{:?}", refused.error);
    assert!(kept.len() >= 2, "the pool has room for more than one sandbox: {}", kept.len());

    // Freed, the slot is there for the next call at once.
    kept.pop();
    call().await.expect("a freed sandbox's slot is reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_sandbox_holds_its_pool_slot_until_dropped() {
    let runtime = runtime_for(limits(1_000), 1);
    let hello = runtime.prepare(&runtime.compile(&stack::guests::guest_bytes("hello")).unwrap()).unwrap();
    let settings = CallSettings::defaults(runtime.limits());
    kept_sandboxes_hold_the_pool(|| async {
        let (output, spent) =
            runtime.call_keeping_sandbox(&hello, r#"{"name":"Ada"}"#.into(), &settings).await?;
        assert_eq!(output.result, "Hello Ada, how are you?");
        Ok(spent)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_functions_kept_sandbox_holds_its_pool_slot_until_dropped() {
    let runtime = runtime_for(limits(1_000), 1);
    let hello =
        runtime.prepare(&runtime.compile(&stack::guests::guest_bytes("hello-http")).unwrap()).unwrap();
    let settings = CallSettings::defaults(runtime.limits());
    kept_sandboxes_hold_the_pool(|| async {
        let request = executor::http_call::post(r#"{"name":"Ada"}"#.into());
        let (output, spent) = runtime.call_http(&hello, request, &settings).await?;
        assert_eq!((output.status, &output.body[..]), (200, &b"Hello Ada, how are you?"[..]));
        Ok(spent)
    })
    .await;
}
