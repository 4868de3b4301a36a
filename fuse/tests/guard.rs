//! The fuse around a handler: results unchanged, signals as configured, and a controller that
//! fails or never answers costs the batch at most `invoke_timeout`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use floodgate_fuse::{
    Action, Counts, Fuse, FuseConfig, FuseStats, ManualClock, SendError, Signal, SignalSender,
    Suppression, failed_records,
};
use proptest::prelude::*;

/// Answers as told, and keeps what it was sent.
#[derive(Debug, Default, Clone)]
struct Recorder {
    sent: Arc<Mutex<Vec<Signal>>>,
    fail: Option<SendError>,
}

impl SignalSender for Recorder {
    async fn send(&self, signal: &Signal) -> Result<(), SendError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(signal.clone());
        self.fail.clone().map_or(Ok(()), Err)
    }
}

/// Never answers (a controller endpoint that accepts the connection and says nothing).
#[derive(Debug, Default, Clone)]
struct Silent {
    calls: Arc<AtomicUsize>,
}

impl SignalSender for Silent {
    async fn send(&self, _signal: &Signal) -> Result<(), SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Fails or succeeds by a script (true = success), then succeeds.
#[derive(Debug, Default, Clone)]
struct Scripted {
    script: Arc<Mutex<Vec<bool>>>,
}

impl SignalSender for Scripted {
    async fn send(&self, _signal: &Signal) -> Result<(), SendError> {
        let ok = self
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or(true);
        if ok {
            Ok(())
        } else {
            Err(SendError::Throttled {
                code: "TooManyRequestsException".into(),
            })
        }
    }
}

fn config() -> FuseConfig {
    let mut config = FuseConfig::new(
        "orders",
        "arn:aws:lambda:eu-west-1:123456789012:function:floodgate:fuse",
    );
    config.min_records = 10;
    config.sender_function = Some("orders-consumer".into());
    config
}

fn event(n: usize) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = (0..n)
        .map(|i| {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m-{i}"));
            message.body = Some("secret payload".into());
            message
        })
        .collect();
    event
}

fn failures(ids: &[&str]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = ids
        .iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            (*id).clone_into(&mut failure.item_identifier);
            failure
        })
        .collect();
    response
}

fn all_failed(event: &SqsEvent) -> SqsBatchResponse {
    let ids: Vec<&str> = event
        .records
        .iter()
        .filter_map(|r| r.message_id.as_deref())
        .collect();
    failures(&ids)
}

fn manual() -> ManualClock {
    ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000))
}

#[test]
fn failures_are_counted_as_lambda_counts_them() {
    let batch = event(4);
    assert_eq!(
        failed_records::<()>(&batch, &Ok(SqsBatchResponse::default())),
        0
    );
    assert_eq!(failed_records(&batch, &Err("boom")), 4);
    assert_eq!(
        failed_records::<()>(&batch, &Ok(failures(&["m-1", "m-3"]))),
        2
    );
    assert_eq!(
        failed_records::<()>(&batch, &Ok(failures(&["m-1", "m-1"]))),
        1
    );
    // Lambda retries the whole batch for an empty or unknown identifier.
    assert_eq!(failed_records::<()>(&batch, &Ok(failures(&["m-1", ""]))), 4);
    assert_eq!(failed_records::<()>(&batch, &Ok(failures(&["m-9"]))), 4);
}

#[tokio::test]
async fn a_failing_window_sends_one_signal_with_its_counts() {
    let clock = manual();
    let sender = Recorder::default();
    let fuse = Fuse::with_clock(config(), sender.clone(), clock.clone()).unwrap();

    let batch = event(6);
    let first = fuse
        .guard(&batch, Some("req-1"), async {
            Ok::<_, ()>(all_failed(&batch))
        })
        .await;
    assert_eq!(first, Ok(all_failed(&batch)));
    assert!(
        sender.sent.lock().unwrap().is_empty(),
        "6 records < min_records 10"
    );

    clock.advance(Duration::from_millis(1500));
    let second = fuse
        .guard(&batch, Some("req-2"), async {
            Err::<SqsBatchResponse, _>("handler failed")
        })
        .await;
    assert_eq!(second, Err("handler failed"));

    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let value = serde_json::to_value(&sent[0]).unwrap();
    assert_eq!(value["floodgate"], "signal");
    assert_eq!(value["version"], 1);
    assert_eq!(value["circuit"], "orders");
    assert_eq!(value["kind"], "record-failures");
    assert_eq!(
        value["window"],
        serde_json::json!({"seconds": 10, "records": 12, "failed": 12})
    );
    assert_eq!(value["sender"]["function"], "orders-consumer");
    assert_eq!(value["sender"]["request_id"], "req-2");
    assert_eq!(value["sent_at"], "2026-11-18T11:06:41.500Z");
    assert!(!value.to_string().contains("secret payload"));

    // Still failing, within the cool-down: held back, and counted.
    clock.advance(Duration::from_secs(29));
    let observation = fuse.observe(10, 10, None).await;
    assert_eq!(
        observation.action,
        Action::Suppressed(Suppression::CoolDown)
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(fuse.observe(10, 10, None).await.action, Action::Sent);
    assert_eq!(
        fuse.stats(),
        FuseStats {
            batches: 4,
            records: 32,
            failed_records: 32,
            over_threshold: 3,
            signals_sent: 2,
            send_failures: 0,
            suppressed_cool_down: 1,
            suppressed_back_off: 0,
        }
    );
}

#[tokio::test]
async fn a_healthy_window_sends_nothing() {
    let sender = Recorder::default();
    let fuse = Fuse::with_clock(config(), sender.clone(), manual()).unwrap();
    let batch = event(10);
    let response = failures(&["m-0", "m-1", "m-2", "m-3", "m-4"]);
    for _ in 0..5 {
        let result = fuse
            .guard(&batch, None, async { Ok::<_, ()>(response.clone()) })
            .await;
        assert_eq!(result, Ok(response.clone()), "returned unchanged");
    }
    // Exactly half failed: not over a 0.5 threshold.
    assert_eq!(
        fuse.window(),
        Counts {
            records: 50,
            failed: 25
        }
    );
    assert!(sender.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_signal_is_counted_and_retried_after_the_back_off() {
    let clock = manual();
    let sender = Recorder {
        fail: Some(SendError::Refused {
            code: "AccessDeniedException".into(),
            message: "not authorized".into(),
        }),
        ..Recorder::default()
    };
    let fuse = Fuse::with_clock(config(), sender.clone(), clock.clone()).unwrap();
    let batch = event(20);
    let result = fuse
        .guard(&batch, None, async { Ok::<_, ()>(all_failed(&batch)) })
        .await;
    assert_eq!(
        result,
        Ok(all_failed(&batch)),
        "the batch is not failed by the fuse"
    );
    assert_eq!(fuse.stats().send_failures, 1);

    clock.advance(Duration::from_secs(4));
    assert_eq!(
        fuse.observe(1, 1, None).await.action,
        Action::Suppressed(Suppression::BackOff)
    );
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        fuse.observe(1, 1, None).await.action,
        Action::SendFailed(SendError::Refused { .. })
    ));
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_controller_that_never_answers_costs_the_batch_at_most_the_invoke_timeout() {
    let sender = Silent::default();
    let fuse = Fuse::new(config(), sender.clone()).unwrap();
    let batch = event(10);

    let started = tokio::time::Instant::now();
    let result = fuse
        .guard(&batch, Some("req-1"), async {
            Err::<SqsBatchResponse, _>("poison")
        })
        .await;
    let waited = started.elapsed();
    assert_eq!(result, Err("poison"), "an Err stays the same Err");
    assert_eq!(
        waited,
        Duration::from_millis(300),
        "waited exactly invoke_timeout"
    );
    assert_eq!(sender.calls.load(Ordering::SeqCst), 1);
    let stats = fuse.stats();
    assert_eq!((stats.signals_sent, stats.send_failures), (0, 1));

    // Within the back-off the next batches do not wait at all.
    let started = tokio::time::Instant::now();
    for _ in 0..10 {
        let result = fuse
            .guard(&batch, None, async { Ok::<_, ()>(all_failed(&batch)) })
            .await;
        assert_eq!(result, Ok(all_failed(&batch)));
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(sender.calls.load(Ordering::SeqCst), 1);
    assert_eq!(fuse.stats().suppressed_back_off, 10);
}

#[tokio::test(start_paused = true)]
async fn a_batch_dropped_mid_signal_does_not_jam_the_fuse() {
    let sender = Silent::default();
    let fuse = Fuse::new(config(), sender.clone()).unwrap();
    // The caller gives up on the batch before the invoke timeout.
    let dropped = tokio::time::timeout(Duration::from_millis(10), fuse.observe(20, 20, None)).await;
    assert!(dropped.is_err());
    assert_eq!(
        fuse.stats().send_failures,
        1,
        "settled as failed when dropped"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    let next = fuse.observe(20, 20, None).await;
    assert_eq!(
        next.action,
        Action::SendFailed(SendError::Timeout(Duration::from_millis(300)))
    );
    assert_eq!(sender.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn emf_lines_do_not_disturb_the_batch() {
    let mut config = config();
    config.emf = true;
    let fuse = Fuse::with_clock(config, Recorder::default(), manual()).unwrap();
    let batch = event(3);
    let result = fuse
        .guard(&batch, None, async {
            Ok::<_, ()>(SqsBatchResponse::default())
        })
        .await;
    assert_eq!(result, Ok(SqsBatchResponse::default()));
}

/// A batch's result, as the handler returns it.
#[derive(Debug, Clone)]
enum Outcome {
    Success,
    Error,
    Partial(Vec<usize>),
}

fn outcomes() -> impl Strategy<Value = Vec<(u64, usize, Outcome, bool)>> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Error),
        prop::collection::vec(0usize..10, 0..10).prop_map(Outcome::Partial),
    ];
    prop::collection::vec((0u64..5_000, 1usize..10, outcome, any::<bool>()), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the handlers return and whatever the controller answers, every batch gets its
    /// handler's result back, and the counters add up.
    #[test]
    fn results_are_unchanged_and_stats_add_up(steps in outcomes()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let clock = manual();
            let script: Vec<bool> = steps.iter().rev().map(|s| s.3).collect();
            let sender = Scripted { script: Arc::new(Mutex::new(script)) };
            let mut config = config();
            config.min_records = 5;
            let fuse = Fuse::with_clock(config, sender, clock.clone()).unwrap();
            let (mut records, mut failed) = (0, 0);
            for (gap_ms, n, outcome, _) in &steps {
                clock.advance(Duration::from_millis(*gap_ms));
                let batch = event(*n);
                let expected: Result<SqsBatchResponse, String> = match outcome {
                    Outcome::Success => Ok(SqsBatchResponse::default()),
                    Outcome::Error => Err("handler error".into()),
                    Outcome::Partial(ids) => {
                        let ids: Vec<String> = ids.iter().map(|i| format!("m-{i}")).collect();
                        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                        Ok(failures(&ids))
                    }
                };
                records += *n as u64;
                failed += failed_records(&batch, &expected);
                let handed = expected.clone();
                let result = fuse.guard(&batch, None, async move { handed }).await;
                prop_assert_eq!(result, expected);
            }
            let stats = fuse.stats();
            prop_assert_eq!(stats.batches, steps.len() as u64);
            prop_assert_eq!((stats.records, stats.failed_records), (records, failed));
            prop_assert_eq!(
                stats.over_threshold,
                stats.signals_sent + stats.send_failures + stats.suppressed_cool_down + stats.suppressed_back_off
            );
            Ok(())
        })?;
    }
}

#[test]
fn guarded_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fuse = Fuse::with_clock(config(), Recorder::default(), manual()).unwrap();
    let batch = event(1);
    let future = fuse.guard(&batch, None, async {
        Ok::<_, ()>(SqsBatchResponse::default())
    });
    assert_send(&future);
}
