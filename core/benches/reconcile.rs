//! Controller overhead per event with the in-memory AWS: what the controller itself costs
//! around the AWS calls (parsing, routing, observing through the ports, deciding, planning,
//! recording), with calls that answer instantly.
//!
//! - `route_alarm_event`: parse and route a direct alarm action (no reconcile).
//! - `steady_state`: an OK alarm event for a Closed circuit: five reads, no write.
//! - `trip`: an errors alarm event for a Closed circuit: five reads, three actuation calls,
//!   one tag write, one transition logged and one EMF line.

#[path = "../tests/controller_support/mod.rs"]
mod controller_support;

use std::hint::black_box;
use std::sync::Arc;

use controller_support::{ERRORS, alarm_action, at, config, t0, world};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use floodgate_core::Controller;
use floodgate_core::controller::route;
use floodgate_core::metrics::Recorder;
use floodgate_core::policy::{AlarmState, PhaseName};
use floodgate_testkit::FakeAws;
use tokio::runtime::Runtime;

/// Drops EMF lines, so the bench measures rendering them but not keeping them.
struct Discard;

impl Recorder for Discard {
    fn record(&self, line: &str) {
        black_box(line);
    }
}

/// A controller whose circuit has run once (Closed at `max`), with `errors` in `errors_state`.
fn settled(rt: &Runtime, errors_state: AlarmState) -> Controller<FakeAws> {
    let controller = Controller::new(config(), world().quiet()).with_recorder(Arc::new(Discard));
    rt.block_on(controller.handle(br#"{"floodgate":"tick"}"#, t0()))
        .expect("settles");
    controller.ports().set_alarm(ERRORS, errors_state, at(595));
    controller
}

fn bench(c: &mut Criterion) {
    // Paused: the control-plane limiter's waits (the controller wraps every port in it) pass
    // in virtual time, so the bench measures the controller's work, not the limit's sleeps.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let config = config();
    let ok_event = alarm_action(ERRORS, AlarmState::Ok, at(595)).to_string();
    let alarm_event = alarm_action(ERRORS, AlarmState::Alarm, at(595)).to_string();

    // Each case must do what its name says, or the numbers mean nothing.
    let steady = settled(&rt, AlarmState::Ok);
    let response = rt
        .block_on(steady.handle(ok_event.as_bytes(), at(600)))
        .expect("steady");
    assert!(response.circuits[0].steps.is_empty() && response.circuits[0].transitions.is_empty());
    let tripped = settled(&rt, AlarmState::Alarm);
    let response = rt
        .block_on(tripped.handle(alarm_event.as_bytes(), at(600)))
        .expect("trip");
    assert_eq!(response.circuits[0].state, PhaseName::Open);

    let mut group = c.benchmark_group("controller");
    group.bench_function("route_alarm_event", |b| {
        b.iter(|| route(black_box(alarm_event.as_bytes()), &config).expect("routes"));
    });
    group.bench_function("steady_state", |b| {
        b.iter(|| {
            rt.block_on(steady.handle(black_box(ok_event.as_bytes()), at(600)))
                .expect("reconciles")
        });
    });
    group.bench_function("trip", |b| {
        // By reference, so dropping the used controller is not timed.
        b.iter_batched_ref(
            || settled(&rt, AlarmState::Alarm),
            |controller| {
                rt.block_on(controller.handle(black_box(alarm_event.as_bytes()), at(600)))
                    .expect("trips")
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
