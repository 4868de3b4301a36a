//! Persistence of the circuit state as event source mapping tags.

mod policy_support;

use std::collections::BTreeMap;

use chrono::TimeDelta;
use floodgate_core::policy::tags::{TAG_KEYS, is_valid_tag_value, sanitize};
use floodgate_core::policy::{CircuitState, Override, OverrideKind, Phase, PolicyError};
use policy_support::{at, phase, state};

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn read(pairs: &[(&str, &str)]) -> Result<CircuitState, PolicyError> {
    CircuitState::from_tags(&tags(pairs), at(0))
}

#[test]
fn a_mapping_without_state_tags_is_a_fresh_closed_circuit() {
    let s = read(&[("team", "payments")]).expect("fresh");
    assert_eq!(s, CircuitState::fresh(at(0)));
}

#[test]
fn a_preset_dry_run_tag_starts_a_new_circuit_in_dry_run() {
    let s = read(&[("floodgate:dry-run", "true")]).expect("fresh");
    assert!(s.dry_run);
    assert_eq!(s.phase, phase::closed(0));
}

#[test]
fn every_key_is_written_even_when_empty_so_stale_values_are_overwritten() {
    let t = state(phase::closed(0)).to_tags();
    assert_eq!(
        t.keys().map(String::as_str).collect::<Vec<_>>().len(),
        TAG_KEYS.len()
    );
    assert_eq!(t["floodgate:state"], "closed");
    assert_eq!(t["floodgate:since"], "2027-01-15T08:00:00Z");
    assert_eq!(t["floodgate:level"], "");
    assert_eq!(t["floodgate:dry-run"], "false");
}

#[test]
fn each_phase_round_trips() {
    let since = at(0) + TimeDelta::nanoseconds(123_456_789);
    for phase in [
        Phase::closed(since),
        Phase::Throttled {
            since,
            level: 8,
            trips: 0,
        },
        Phase::Open { since, trips: 3 },
        Phase::HalfOpen { since, trips: 1 },
        Phase::Ramping {
            since,
            level: 4,
            trips: 2,
        },
    ] {
        let s = state(phase);
        assert_eq!(
            CircuitState::from_tags(&s.to_tags(), at(99)),
            Ok(s),
            "{phase:?}"
        );
    }
}

#[test]
fn an_override_with_expiry_round_trips() {
    let s = CircuitState {
        phase: phase::open(0, 1),
        override_: Some(Override {
            kind: OverrideKind::ForceOpen,
            reason: "db failover".into(),
            actor: "arn:aws:iam::000000000000:user/alice".into(),
            until: Some(at(3600)),
        }),
        dry_run: true,
        pending: false,
    };
    let t = s.to_tags();
    assert_eq!(t["floodgate:override"], "force-open");
    assert_eq!(t["floodgate:until"], "2027-01-15T09:00:00Z");
    assert_eq!(CircuitState::from_tags(&t, at(0)), Ok(s));
}

#[test]
fn free_text_is_sanitized_and_cut_to_256_characters() {
    assert_eq!(
        sanitize("deploy #42 — rollback!\tnow"),
        "deploy _42 _ rollback_ now"
    );
    assert_eq!(sanitize("ok: a/b=c+d-e@f_g.h"), "ok: a/b=c+d-e@f_g.h");
    let long = sanitize(&"é".repeat(300));
    assert_eq!(long.chars().count(), 256);
    assert!(is_valid_tag_value(&long));
    assert!(!is_valid_tag_value("semi;colon"));
}

#[test]
fn unsanitized_override_text_reads_back_sanitized() {
    let s = CircuitState {
        phase: phase::closed(0),
        override_: Some(Override {
            kind: OverrideKind::ForceClose,
            reason: "ticket #7".into(),
            actor: "bob (on call)".into(),
            until: None,
        }),
        dry_run: false,
        pending: false,
    };
    let back = CircuitState::from_tags(&s.to_tags(), at(0)).expect("reads");
    assert_eq!(back, s.sanitized());
    assert_eq!(back.override_.expect("override").actor, "bob _on call_");
}

#[test]
fn garbled_or_missing_values_are_rejected_with_the_key() {
    let since = ("floodgate:since", "2027-01-15T08:00:00Z");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("floodgate:state", "ajar"), since], "floodgate:state"),
        (vec![("floodgate:state", "closed")], "floodgate:since"),
        (
            vec![
                ("floodgate:state", "closed"),
                ("floodgate:since", "yesterday"),
            ],
            "floodgate:since",
        ),
        (vec![("floodgate:state", "open"), since], "floodgate:trips"),
        (
            vec![("floodgate:state", "open"), since, ("floodgate:trips", "0")],
            "floodgate:trips",
        ),
        (
            vec![
                ("floodgate:state", "open"),
                since,
                ("floodgate:trips", "-1"),
            ],
            "floodgate:trips",
        ),
        (
            vec![
                ("floodgate:state", "throttled"),
                since,
                ("floodgate:trips", "0"),
            ],
            "floodgate:level",
        ),
        (
            vec![
                ("floodgate:state", "ramping"),
                since,
                ("floodgate:trips", "0"),
                ("floodgate:level", "1"),
            ],
            "floodgate:level",
        ),
        (
            vec![
                ("floodgate:state", "closed"),
                since,
                ("floodgate:override", "force-open"),
                ("floodgate:actor", "a"),
            ],
            "floodgate:override",
        ),
        (
            vec![
                ("floodgate:state", "closed"),
                since,
                ("floodgate:override", "force-close"),
            ],
            "floodgate:actor",
        ),
        (
            vec![
                ("floodgate:state", "closed"),
                since,
                ("floodgate:override", "sideways"),
            ],
            "floodgate:override",
        ),
        (
            vec![
                ("floodgate:state", "closed"),
                since,
                ("floodgate:dry-run", "yes"),
            ],
            "floodgate:dry-run",
        ),
        (vec![since], "floodgate:state"),
    ];
    for (pairs, key) in cases {
        let err = read(&pairs).expect_err("rejected");
        let named = match &err {
            PolicyError::MissingTag { key } | PolicyError::InvalidTag { key, .. } => *key,
            other => panic!("unexpected error {other:?}"),
        };
        assert_eq!(named, key, "{pairs:?}: {err}");
    }
}

#[test]
fn keys_a_phase_does_not_use_are_ignored() {
    let s = read(&[
        ("floodgate:state", "closed"),
        ("floodgate:since", "2027-01-15T08:00:00Z"),
        ("floodgate:level", "8"),
        ("floodgate:reason", "left over"),
    ])
    .expect("reads");
    assert_eq!(s, state(phase::closed(0)));
}
