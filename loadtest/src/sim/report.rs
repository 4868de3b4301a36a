//! What `loadtest simulate` prints and writes: one row per strategy, side by side.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::sim::run::StrategyResult;

/// One scenario, every strategy run on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// The scenario's name.
    pub scenario: String,
    /// The parameter profile (`aws` or `localstack`).
    pub profile: String,
    /// The seed.
    pub seed: u64,
    /// The strategies' results, in run order.
    pub strategies: Vec<StrategyResult>,
}

/// One cell of the table, from one strategy's result.
pub type Cell = fn(&StrategyResult) -> String;

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "never".to_owned(), |s| format!("{s:.0} s"))
}

/// The table's rows: a label, and how to get the cell from a strategy's result.
pub fn rows() -> Vec<(&'static str, Cell)> {
    vec![
        ("sent", |r| r.sent.to_string()),
        ("consumed", |r| r.consumed.to_string()),
        ("dead-lettered", |r| r.dead_lettered.to_string()),
        ("expired", |r| r.expired.to_string()),
        ("lost", |r| r.lost.to_string()),
        ("duplicates", |r| r.duplicates.to_string()),
        ("still queued", |r| r.still_queued.to_string()),
        ("overflow peak", |r| r.overflow_peak.to_string()),
        ("time to protect", |r| seconds(r.time_to_protect_s)),
        ("time to recover", |r| seconds(r.time_to_recover_s)),
        ("downstream failed calls", |r| {
            r.downstream_failed_calls.to_string()
        }),
        ("downstream overloaded", |r| {
            format!("{} s", r.downstream_overload_s)
        }),
        ("failed invocations", |r| r.failed_invocations.to_string()),
        ("throttled invocations", |r| {
            r.throttled_invocations.to_string()
        }),
        ("control-plane calls", |r| r.control_plane_calls.to_string()),
        ("mapping updates", |r| r.transitions.to_string()),
        ("phase changes", |r| {
            r.phase_changes
                .map_or_else(|| "-".to_owned(), |n| n.to_string())
        }),
        ("final state", |r| r.final_state.clone()),
    ]
}

impl SimReport {
    /// The side-by-side table, as text.
    pub fn table(&self) -> String {
        let mut out = format!(
            "scenario {} (profile {}, seed {})\n",
            self.scenario, self.profile, self.seed
        );
        let width = 24;
        let _ = write!(out, "{:width$}", "");
        for r in &self.strategies {
            let _ = write!(out, " {:>15}", r.strategy);
        }
        out.push('\n');
        for (label, cell) in rows() {
            let _ = write!(out, "{label:width$}");
            for r in &self.strategies {
                let _ = write!(out, " {:>15}", cell(r));
            }
            out.push('\n');
        }
        out
    }
}
