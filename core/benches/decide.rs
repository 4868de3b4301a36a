//! `decide()` on representative cases: the steady state, a trip, an open circuit waiting out
//! its backoff (which draws the jittered wait), and a ramp step.

#[path = "../tests/policy_support/mod.rs"]
mod policy_support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use floodgate_core::policy::{AlarmKind, CircuitState, Signals, decide};
use policy_support::{at, config, firing, ok, phase, state};

/// The five alarm kinds a circuit usually has, all OK, plus `errors` as given.
fn alarms(errors: floodgate_core::policy::AlarmReading) -> Signals {
    Signals::alarms(vec![
        errors,
        ok(AlarmKind::Throttles, -600),
        ok(AlarmKind::Depth, -600),
        ok(AlarmKind::Age, -600),
        ok(
            AlarmKind::Custom(floodgate_core::policy::Action::Open),
            -600,
        ),
    ])
}

fn bench(c: &mut Criterion) {
    let cfg = config();
    let cases: [(&str, CircuitState, Signals); 4] = [
        (
            "closed_all_ok",
            state(phase::closed(-3600)),
            alarms(ok(AlarmKind::Errors, -600)),
        ),
        (
            "trip",
            state(phase::closed(-3600)),
            alarms(firing(AlarmKind::Errors, -1)),
        ),
        (
            "open_waiting",
            state(phase::open(-10, 2)),
            alarms(ok(AlarmKind::Errors, -5)),
        ),
        (
            "ramp_step",
            state(phase::ramping(-60, 4, 1)),
            alarms(ok(AlarmKind::Errors, -600)),
        ),
    ];
    let mut group = c.benchmark_group("decide");
    for (name, s, signals) in &cases {
        // Each case must do what its name says, or the numbers mean nothing.
        let d = decide(at(0), s, signals, &cfg).expect("decides");
        assert_eq!(
            d.phase_changed(),
            matches!(*name, "trip" | "ramp_step"),
            "{name}"
        );
        group.bench_function(*name, |b| {
            b.iter(|| {
                decide(
                    black_box(at(0)),
                    black_box(s),
                    black_box(signals),
                    black_box(&cfg),
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
