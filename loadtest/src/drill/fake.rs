//! A drill's world in memory, for tests of the runner and of what is made of its report.
//! [`spec`] is a drill that passes in it; [`world`] loses the messages it is told to.

use floodgate_core::ports::MappingState;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::spec::{DrillSpec, EsmAction, Injection};
use super::timeline::Observation;
use super::{QueueRole, Target};
use crate::error::Error;
use crate::flood::payload::Stamp;
use crate::flood::sender::MemorySink;
use crate::victim::ledger::{LedgerKind, LedgerRecord};

/// An in-memory world: while the mapping is enabled, whatever reaches the sink is
/// consumed at once (it shows in the ledger at the next read), except the sequence numbers
/// sent to the DLQ or lost on purpose; while it is disabled, messages pile up.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) sink: Arc<MemorySink>,
    pub(crate) dead: BTreeSet<u64>,
    pub(crate) lose: BTreeSet<u64>,
    pub(crate) fail_injections: bool,
    pub(crate) esm: Mutex<String>,
    pub(crate) consumed: Mutex<usize>,
    pub(crate) received_when_disabled: Mutex<Option<usize>>,
    pub(crate) injected: Mutex<Vec<String>>,
}

impl World {
    fn bodies(&self, keep: impl Fn(u64) -> bool) -> Vec<String> {
        self.sink
            .received()
            .into_iter()
            .filter(|e| Stamp::parse(&e.body).is_some_and(|s| keep(s.seq)))
            .map(|e| e.body)
            .collect()
    }
}

impl Target for World {
    type Sink = MemorySink;

    fn sink(&self) -> Arc<MemorySink> {
        Arc::clone(&self.sink)
    }

    async fn observe(&self) -> Observation {
        let received = self.sink.received().len();
        let backlog = self
            .received_when_disabled
            .lock()
            .unwrap()
            .map_or(0, |at| received - at);
        Observation {
            esm_state: Some(MappingState::parse(&self.esm.lock().unwrap())),
            visible: Some(backlog as u64),
            in_flight: Some(0),
            dlq: Some(self.dead.len() as u64),
            ..Observation::default()
        }
    }

    async fn inject(&self, injection: &Injection) -> crate::Result<()> {
        if self.fail_injections {
            return Err(Error::invalid("injection", "refused by the test"));
        }
        self.injected.lock().unwrap().push(injection.to_string());
        if let Injection::Esm(action) = injection {
            let disabled = *action == EsmAction::Disable;
            *self.esm.lock().unwrap() = if disabled { "Disabled" } else { "Enabled" }.to_owned();
            *self.received_when_disabled.lock().unwrap() =
                disabled.then(|| self.sink.received().len());
        }
        Ok(())
    }

    async fn read_ledger(&self, out: &mut Vec<LedgerRecord>) -> crate::Result<()> {
        let received = self.sink.received();
        let mut consumed = self.consumed.lock().unwrap();
        let seqs: Vec<u64> = received[*consumed..]
            .iter()
            .filter_map(|e| Stamp::parse(&e.body))
            .map(|s| s.seq)
            .filter(|seq| !self.dead.contains(seq) && !self.lose.contains(seq))
            .collect();
        *consumed = received.len();
        if !seqs.is_empty() {
            out.push(LedgerRecord {
                run: "drill-test".to_owned(),
                kind: LedgerKind::Processed,
                seqs,
                at_ms: Utc::now().timestamp_millis(),
                request_id: "fake".to_owned(),
            });
        }
        Ok(())
    }

    async fn peek(&self, queue: QueueRole) -> crate::Result<Option<Vec<String>>> {
        Ok(match queue {
            QueueRole::Source => Some(Vec::new()),
            QueueRole::Dlq => Some(self.bodies(|seq| self.dead.contains(&seq))),
            QueueRole::Overflow => None,
        })
    }
}

pub(crate) const SPEC: &str = r#"
    name = "fake drill"
    sample_every = "250ms"
    settle = "5s"
    assertions = ["lost == 0", "achieved_rate >= 0.98 * target", "time_to_disabled < 3s", "dead_lettered == 3"]

    [target]
    queue_url = "q"
    function = "victim"
    ledger_url = "ledger"

    [[phase]]
    name = "baseline"
    duration = "1s"
    rate = 40

    [[phase]]
    name = "flood"
    duration = "2s"
    rate = 400
    inject = [{ victim = { mode = "error" } }, { esm = "disable" }]

    [[phase]]
    name = "drain"
    until = "queue_empty"
    timeout = "10s"
    inject = [{ victim = { mode = "healthy" } }, { esm = "enable" }]

    [[phase]]
    name = "recover"
    until = "all_consumed"
    timeout = "10s"
"#;

pub(crate) fn spec() -> DrillSpec {
    let spec: DrillSpec = toml::from_str(SPEC).unwrap();
    spec.validate().unwrap();
    spec
}

pub(crate) fn world(lose: &[u64]) -> World {
    World {
        dead: [5, 6, 400].into_iter().collect(),
        lose: lose.iter().copied().collect(),
        esm: Mutex::new("Enabled".to_owned()),
        ..World::default()
    }
}
