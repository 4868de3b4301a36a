//! The drill runner: phases in order, a timeline sampled in the background, floods per phase
//! (one run id, sequence numbers continuing across phases), injections at phase starts, then
//! accounting, reaction times, metrics and assertions.

use floodgate_core::ports::MappingState;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::accounting::{Accounting, Observed, account};
use super::metric::Metric;
use super::reaction::{Reaction, derive};
use super::spec::{DrillSpec, EsmAction, Injection, PhaseKind, PhaseSpec, Until};
use super::timeline::{Event, EventKind, Sample};
use super::{DrillReport, EndedBy, PhaseRecord, QueueRole, Target, Verdict};
use crate::flood::payload::Stamp;
use crate::flood::schedule::Limit;
use crate::flood::stats::Latency;
use crate::flood::{self, FloodConfig, FloodSummary, Live};
use crate::rates::RateProfile;
use crate::seqset::SeqSet;
use crate::victim::ledger::{LedgerKind, LedgerRecord};

/// Pause between accounting rounds while messages are still on their way.
const SETTLE_POLL: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Shared {
    samples: Vec<Sample>,
    phase: PhaseKind,
    /// The rate profile being sent and when its phase started.
    sending: Option<(Instant, RateProfile)>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the drill stopped early.
enum Stop {
    Aborted(String),
    Infra(String),
}

/// Resolves once the drill is aborted (or never, if it cannot be any more).
async fn aborted(abort: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = abort.borrow_and_update().clone() {
            return reason;
        }
        if abort.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

struct Runner<T: Target> {
    spec: DrillSpec,
    target: Arc<T>,
    run_id: String,
    started: Instant,
    started_at: DateTime<Utc>,
    shared: Arc<Mutex<Shared>>,
    live: Arc<Live>,
    latest: watch::Receiver<Option<Sample>>,
    abort: watch::Receiver<Option<String>>,
    events: Vec<Event>,
    phases: Vec<PhaseRecord>,
    floods: Vec<(PhaseKind, FloodSummary)>,
    ledger: Vec<LedgerRecord>,
    next_seq: u64,
}

/// Runs `spec` against `target`. Never fails: whatever happens ends in the report's
/// [`Verdict`]. `interrupt` aborts the drill when it completes (Ctrl-C); `progress` shows the
/// latest sample.
pub async fn run<T: Target>(
    spec: &DrillSpec,
    target: Arc<T>,
    run_id: &str,
    interrupt: impl Future<Output = ()> + Send + 'static,
    progress: &ProgressBar,
) -> DrillReport {
    let started = Instant::now();
    let shared = Arc::new(Mutex::new(Shared {
        samples: Vec::new(),
        phase: spec.phases[0].name,
        sending: None,
    }));
    let live = Arc::new(Live::default());
    let (sample_tx, latest) = watch::channel(None);
    let sampler = spawn_sampler(
        Arc::clone(&target),
        Arc::clone(&shared),
        Arc::clone(&live),
        started,
        spec.sample_every,
        sample_tx,
        progress.clone(),
    );
    let (abort_tx, abort) = watch::channel(None);
    let max_duration = spec.max_duration;
    let watcher = tokio::spawn(async move {
        let reason = tokio::select! {
            () = interrupt => "interrupted".to_owned(),
            () = async {
                match max_duration {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            } => "ran past max_duration".to_owned(),
        };
        abort_tx.send_replace(Some(reason));
    });
    let mut runner = Runner {
        spec: spec.clone(),
        target,
        run_id: run_id.to_owned(),
        started,
        started_at: Utc::now(),
        shared,
        live,
        latest,
        abort,
        events: Vec::new(),
        phases: Vec::new(),
        floods: Vec::new(),
        ledger: Vec::new(),
        next_seq: 0,
    };
    let outcome = runner.phases().await;
    let accounting = match outcome {
        Ok(()) => runner.settle().await.map(Some),
        Err(stop) => Err(stop),
    };
    sampler.abort();
    watcher.abort();
    runner.report(accounting)
}

fn spawn_sampler<T: Target>(
    target: Arc<T>,
    shared: Arc<Mutex<Shared>>,
    live: Arc<Live>,
    started: Instant,
    every: Duration,
    latest: watch::Sender<Option<Sample>>,
    progress: ProgressBar,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut previous: Option<(f64, u64)> = None;
        loop {
            interval.tick().await;
            let observed = target.observe().await;
            let t = started.elapsed().as_secs_f64();
            let sent = Live::get(&live.acked);
            #[allow(clippy::cast_precision_loss)]
            let send_rate = previous
                .filter(|(pt, _)| t > *pt)
                .map_or(0.0, |(pt, ps)| sent.saturating_sub(ps) as f64 / (t - pt));
            previous = Some((t, sent));
            let sample = {
                let mut shared = lock(&shared);
                let target_rate = shared
                    .sending
                    .as_ref()
                    .map_or(0.0, |(since, rates)| rates.rate_at(since.elapsed()));
                let sample = Sample {
                    t,
                    phase: shared.phase,
                    observed,
                    sent,
                    send_rate,
                    target_rate,
                };
                shared.samples.push(sample.clone());
                sample
            };
            progress.set_message(describe(&sample));
            latest.send_replace(Some(sample));
        }
    })
}

/// The progress line.
fn describe(s: &Sample) -> String {
    let count = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    let alarms = s.observed.alarms.values().filter(|v| *v == "ALARM").count();
    format!(
        "{:>6.1}s {:<8} sent {} ({:.0}/s of {:.0}/s) | queue {} visible {} in flight | DLQ {} | ESM {} max {} | breaker {} | alarms {}/{}",
        s.t,
        s.phase.as_str(),
        s.sent,
        s.send_rate,
        s.target_rate,
        count(s.observed.visible),
        count(s.observed.in_flight),
        count(s.observed.dlq),
        s.observed
            .esm_state
            .as_ref()
            .map_or("?", MappingState::as_str),
        s.observed
            .max_concurrency
            .map_or_else(|| "-".to_owned(), |m| m.to_string()),
        s.observed.breaker_state().unwrap_or("-"),
        alarms,
        s.observed.alarms.len(),
    )
}

fn seqs_of(bodies: &[String], run: &str) -> SeqSet {
    bodies
        .iter()
        .filter_map(|b| Stamp::parse(b))
        .filter(|s| s.run == run)
        .map(|s| s.seq)
        .collect()
}

impl<T: Target> Runner<T> {
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn event(&mut self, kind: EventKind, phase: PhaseKind, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::info!(phase = phase.as_str(), "{detail}");
        self.events.push(Event {
            t: self.now(),
            kind,
            phase,
            detail,
        });
    }

    async fn phases(&mut self) -> Result<(), Stop> {
        let phases = self.spec.phases.clone();
        for phase in &phases {
            self.phase(phase).await?;
        }
        Ok(())
    }

    async fn phase(&mut self, phase: &PhaseSpec) -> Result<(), Stop> {
        let kind = phase.name;
        let start = self.now();
        lock(&self.shared).phase = kind;
        let rate_profile = phase.send_rate();
        self.event(
            EventKind::PhaseStarted,
            kind,
            match &rate_profile {
                Some(p) => format!("{kind} starts, sending {p}"),
                None => format!("{kind} starts"),
            },
        );
        let mut result = Ok(());
        for injection in &phase.inject {
            let event = match injection {
                Injection::Victim(_) => EventKind::Victim,
                Injection::Esm(EsmAction::Disable) => EventKind::ManualDisable,
                Injection::Esm(EsmAction::Enable) => EventKind::ManualEnable,
            };
            // The event is stamped before the call: for a disable, that is the call time.
            self.event(event, kind, injection.to_string());
            if let Err(err) = self.target.inject(injection).await {
                result = Err(Stop::Infra(format!("{injection}: {err}")));
                break;
            }
        }
        let mut ended_by = EndedBy::Error;
        if result.is_ok() {
            let flood = rate_profile
                .clone()
                .map(|rates| self.start_flood(phase, rates));
            ended_by = self.wait(phase, start).await;
            if let Some((handle, stop)) = flood {
                // A phase of fixed length ends with its schedule; anything else cuts it.
                if ended_by != EndedBy::Duration {
                    let _ = stop.send(());
                }
                match handle.await {
                    Ok(Ok(summary)) => {
                        self.next_seq = summary.config.first_seq + summary.planned;
                        self.event(EventKind::Note, kind, summary.headline());
                        self.floods.push((kind, summary));
                    }
                    Ok(Err(err)) => result = Err(Stop::Infra(format!("flood of {kind}: {err}"))),
                    Err(err) => {
                        result = Err(Stop::Infra(format!("flood of {kind} panicked: {err}")));
                    }
                }
                lock(&self.shared).sending = None;
            }
            if let EndedBy::Aborted = ended_by {
                let reason = self.abort.borrow().clone().unwrap_or_default();
                result = result.and(Err(Stop::Aborted(reason)));
            }
        }
        self.phases.push(PhaseRecord {
            kind,
            start,
            end: self.now(),
            ended_by: if result.is_err() && ended_by != EndedBy::Aborted {
                EndedBy::Error
            } else {
                ended_by
            },
            until: phase.until.clone(),
            rate_profile: rate_profile.map(|p| p.to_string()),
        });
        self.event(
            EventKind::PhaseEnded,
            kind,
            format!("{kind} ends ({ended_by:?})"),
        );
        result
    }

    fn start_flood(
        &mut self,
        phase: &PhaseSpec,
        rate_profile: RateProfile,
    ) -> (JoinHandle<crate::Result<FloodSummary>>, oneshot::Sender<()>) {
        let settings = &self.spec.flood;
        let config = FloodConfig {
            batch: settings.batch(),
            payload_size: settings.payload_size.clone(),
            seed: settings.seed,
            // A FIFO queue needs message groups.
            fifo_groups: settings
                .fifo_groups
                .or_else(|| flood::default_fifo_groups(&self.spec.target.queue_url)),
            max_in_flight: settings.max_in_flight,
            first_seq: self.next_seq,
            ..FloodConfig::new(
                self.run_id.clone(),
                rate_profile.clone(),
                Limit::duration(phase.max_length()),
            )
        };
        lock(&self.shared).sending = Some((Instant::now(), rate_profile));
        let (stop, stopped) = oneshot::channel::<()>();
        let sink = self.target.sink();
        let live = Arc::clone(&self.live);
        let handle = tokio::spawn(async move {
            flood::run(sink, &config, live, async move {
                // A dropped sender also stops the flood: the phase is over either way.
                let _ = stopped.await;
            })
            .await
        });
        (handle, stop)
    }

    /// Waits for the phase's end: its duration, or its condition, its timeout, an abort.
    async fn wait(&mut self, phase: &PhaseSpec, start: f64) -> EndedBy {
        let deadline = Instant::now() + phase.max_length();
        let mut abort = self.abort.clone();
        let Some(until) = &phase.until else {
            return tokio::select! {
                () = tokio::time::sleep_until(deadline) => EndedBy::Duration,
                _ = aborted(&mut abort) => EndedBy::Aborted,
            };
        };
        let mut latest = self.latest.clone();
        loop {
            if self.holds(until, start).await {
                return EndedBy::Condition;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return EndedBy::Timeout,
                _ = aborted(&mut abort) => return EndedBy::Aborted,
                changed = latest.changed() => if changed.is_err() { return EndedBy::Timeout },
            }
        }
    }

    /// Whether `until` holds in the latest sample taken since the phase began.
    async fn holds(&mut self, until: &Until, phase_start: f64) -> bool {
        let Some(sample) = self.latest.borrow().clone().filter(|s| s.t >= phase_start) else {
            return false;
        };
        let o = &sample.observed;
        match until {
            Until::QueueEmpty => o.visible == Some(0) && o.in_flight == Some(0),
            Until::EsmState(state) => o.esm_state.as_ref() == Some(state),
            Until::Breaker(state) => o.breaker_state() == Some(state.as_str()),
            Until::Alarm => o.any_alarm(),
            Until::AlarmsOk => !o.alarms.is_empty() && o.alarms.values().all(|s| s == "OK"),
            Until::AllConsumed => {
                let mut records = std::mem::take(&mut self.ledger);
                let read = self.target.read_ledger(&mut records).await;
                self.ledger = records;
                if let Err(err) = read {
                    let phase = sample.phase;
                    self.event(
                        EventKind::Note,
                        phase,
                        format!("ledger read failed, will retry: {err}"),
                    );
                    return false;
                }
                self.sent().difference(&self.consumed()).is_empty()
            }
        }
    }

    fn sent(&self) -> SeqSet {
        let mut sent = SeqSet::new();
        for (_, flood) in &self.floods {
            sent.extend_from(&flood.sent);
        }
        sent
    }

    fn consumed(&self) -> SeqSet {
        self.ledger
            .iter()
            .filter(|r| r.run == self.run_id && r.kind == LedgerKind::Processed)
            .flat_map(|r| r.seqs.iter().copied())
            .collect()
    }

    async fn peek(&self, role: QueueRole) -> Result<SeqSet, Stop> {
        match self.target.peek(role).await {
            Ok(Some(bodies)) => Ok(seqs_of(&bodies, &self.run_id)),
            Ok(None) => Ok(SeqSet::new()),
            Err(err) => Err(Stop::Infra(format!("reading the {role:?} queue: {err}"))),
        }
    }

    /// Accounts for every sent message, waiting up to `settle` for stragglers.
    ///
    /// The source queue is peeked only when nothing is in flight and consumption has stalled,
    /// or when time is up: a peek is a receive, and receives count towards a message's
    /// `maxReceiveCount`, so peeking a queue whose consumer is busy failing would push
    /// messages into the DLQ and change the outcome being measured.
    async fn settle(&mut self) -> Result<Accounting, Stop> {
        let deadline = Instant::now() + self.spec.settle;
        let sent = self.sent();
        let mut uncertain = SeqSet::new();
        for (_, flood) in &self.floods {
            uncertain.extend_from(&flood.uncertain_seqs);
        }
        let phase = self
            .spec
            .phases
            .last()
            .map_or(PhaseKind::Recover, |p| p.name);
        self.event(
            EventKind::Note,
            phase,
            format!("accounting for {} sent messages", sent.len()),
        );
        let mut abort = self.abort.clone();
        loop {
            let before = self.consumed().len();
            let mut records = std::mem::take(&mut self.ledger);
            let read = self.target.read_ledger(&mut records).await;
            self.ledger = records;
            read.map_err(|err| Stop::Infra(format!("reading the ledger: {err}")))?;
            let progressed = self.consumed().len() > before;
            let mut observed = Observed::default();
            observed.add_ledger(&self.run_id, &self.ledger);
            let mut accounting = account(&sent, &uncertain, &observed);
            if accounting.lost > 0 {
                observed.dead_lettered = self.peek(QueueRole::Dlq).await?;
                observed.overflowed = self.peek(QueueRole::Overflow).await?;
                accounting = account(&sent, &uncertain, &observed);
            }
            let out_of_time = Instant::now() >= deadline;
            let in_flight = self
                .latest
                .borrow()
                .as_ref()
                .and_then(|s| s.observed.in_flight);
            let quiet = !progressed && in_flight == Some(0);
            if accounting.lost > 0 && (quiet || out_of_time) {
                observed.queued = self.peek(QueueRole::Source).await?;
                accounting = account(&sent, &uncertain, &observed);
            }
            if accounting.lost == 0 || out_of_time {
                accounting.in_flight_at_end = self
                    .latest
                    .borrow()
                    .as_ref()
                    .and_then(|s| s.observed.in_flight);
                self.event(
                    EventKind::Note,
                    phase,
                    format!(
                        "accounted: {} consumed, {} dead-lettered, {} overflowed, {} still queued, {} lost, {} duplicated",
                        accounting.consumed,
                        accounting.dead_lettered,
                        accounting.overflowed,
                        accounting.still_queued,
                        accounting.lost,
                        accounting.duplicated
                    ),
                );
                return Ok(accounting);
            }
            tokio::select! {
                () = tokio::time::sleep(SETTLE_POLL) => {}
                reason = aborted(&mut abort) => return Err(Stop::Aborted(reason)),
            }
        }
    }

    fn report(mut self, accounting: Result<Option<Accounting>, Stop>) -> DrillReport {
        let duration = self.now();
        let samples = std::mem::take(&mut lock(&self.shared).samples);
        let reaction = derive(&samples, &self.events, self.started_at);
        let (accounting, stop) = match accounting {
            Ok(accounting) => (accounting, None),
            Err(stop) => (None, Some(stop)),
        };
        let metrics = metrics(
            &self.floods,
            accounting.as_ref(),
            &reaction,
            &samples,
            duration,
        );
        let (verdict, assertions) = match stop {
            Some(Stop::Aborted(reason)) => (Verdict::Aborted { reason }, Vec::new()),
            Some(Stop::Infra(error)) => (Verdict::InfraError { error }, Vec::new()),
            None => {
                // Parsed when the spec loaded; a failure here is impossible but not fatal.
                let results: Vec<_> = self
                    .spec
                    .parsed_assertions()
                    .unwrap_or_default()
                    .iter()
                    .map(|a| a.evaluate(&metrics))
                    .collect();
                let failed = results.iter().filter(|r| !r.passed).count();
                let verdict = if failed == 0 {
                    Verdict::Passed
                } else {
                    Verdict::Failed { failed }
                };
                (verdict, results)
            }
        };
        let started_ms = self.started_at.timestamp_millis();
        // Every second of the drill, so a chart shows idle seconds as zero, not as a gap.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut consumed: BTreeMap<u64, u64> =
            (0..=duration.ceil() as u64).map(|s| (s, 0)).collect();
        for record in self
            .ledger
            .iter()
            .filter(|r| r.run == self.run_id && r.kind == LedgerKind::Processed)
        {
            let second = u64::try_from((record.at_ms - started_ms).max(0) / 1000).unwrap_or(0);
            *consumed.entry(second).or_default() += record.seqs.len() as u64;
        }
        let phase = self
            .spec
            .phases
            .last()
            .map_or(PhaseKind::Recover, |p| p.name);
        self.event(EventKind::Note, phase, format!("drill {}", verdict.label()));
        DrillReport {
            name: self.spec.name.clone(),
            description: self.spec.description.clone(),
            run_id: self.run_id.clone(),
            started_at: self.started_at,
            duration,
            exit_code: verdict.exit_code(),
            verdict,
            phases: self.phases,
            events: self.events,
            samples,
            floods: self.floods,
            reaction,
            accounting,
            consumed_per_second: consumed.into_iter().collect(),
            metrics,
            assertions,
        }
    }
}

/// Every [`Metric`]; those of steps that never happened are absent.
fn metrics(
    floods: &[(PhaseKind, FloodSummary)],
    accounting: Option<&Accounting>,
    reaction: &Reaction,
    samples: &[Sample],
    duration: f64,
) -> BTreeMap<Metric, f64> {
    #[allow(clippy::cast_precision_loss)]
    let n = |v: u64| v as f64;
    let mut m = BTreeMap::new();
    let mut put = |metric: Metric, v: f64| {
        m.insert(metric, v);
    };
    let total = |f: fn(&FloodSummary) -> u64| n(floods.iter().map(|(_, s)| f(s)).sum());
    put(Metric::Sent, total(|s| s.acked));
    put(Metric::Planned, total(|s| s.planned));
    put(Metric::FailedSends, total(|s| s.failed));
    put(Metric::UncertainSends, total(|s| s.uncertain));
    put(Metric::Dropped, total(|s| s.dropped));
    put(Metric::Late, total(|s| s.late));
    let (mut response, mut service, mut lag) = (Latency::new(), Latency::new(), Latency::new());
    for (_, flood) in floods {
        response.merge(&flood.histograms.response);
        service.merge(&flood.histograms.service);
        lag.merge(&flood.histograms.lag);
    }
    put(Metric::ResponseP99, response.percentile(99.0).as_secs_f64());
    put(Metric::ServiceP99, service.percentile(99.0).as_secs_f64());
    put(Metric::LagP99, lag.percentile(99.0).as_secs_f64());
    if let Some((_, flood)) = floods.iter().find(|(k, _)| *k == PhaseKind::Flood) {
        put(Metric::AchievedRate, flood.achieved_rate);
        put(Metric::Target, flood.target_rate);
        put(Metric::RateError, flood.rate_error);
    }
    if let Some(a) = accounting {
        put(Metric::Consumed, n(a.consumed));
        put(Metric::Lost, n(a.lost));
        put(Metric::Duplicated, n(a.duplicated));
        put(Metric::DeadLettered, n(a.dead_lettered));
        put(Metric::Overflowed, n(a.overflowed));
        put(Metric::StillQueued, n(a.still_queued));
        put(Metric::Unexpected, n(a.unexpected));
        put(Metric::FailedAttempts, n(a.failed_attempts));
    }
    let max = |f: fn(&Sample) -> Option<u64>| samples.iter().filter_map(f).max();
    if let Some(v) = max(|s| s.observed.visible) {
        put(Metric::MaxDepth, n(v));
    }
    if let Some(v) = max(|s| s.observed.in_flight) {
        put(Metric::MaxInFlight, n(v));
    }
    if let Some(v) = max(|s| s.observed.dlq) {
        put(Metric::MaxDlqDepth, n(v));
    }
    put(Metric::Duration, duration);
    m.extend(reaction.metrics());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::fake::{World, spec, world};
    use crate::drill::{EXIT_FAILED, EXIT_INFRA};

    async fn drill(spec: &DrillSpec, world: Arc<World>) -> DrillReport {
        run(
            spec,
            world,
            "drill-test",
            std::future::pending(),
            &ProgressBar::hidden(),
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_drill_runs_its_phases_accounts_for_every_message_and_passes() {
        let world = Arc::new(world(&[]));
        let report = drill(&spec(), Arc::clone(&world)).await;
        assert_eq!(report.verdict, Verdict::Passed, "{:#?}", report.assertions);
        assert_eq!(report.exit_code, 0);
        let kinds: Vec<PhaseKind> = report.phases.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                PhaseKind::Baseline,
                PhaseKind::Flood,
                PhaseKind::Drain,
                PhaseKind::Recover
            ]
        );
        assert_eq!(report.phases[2].ended_by, EndedBy::Condition);
        // Sequence numbers continue across phases: 40 in the baseline, then 800.
        assert_eq!(report.floods.len(), 2);
        assert_eq!(report.floods[1].1.config.first_seq, 40);
        let accounting = report.accounting.as_ref().unwrap();
        assert_eq!(
            (
                accounting.sent,
                accounting.consumed,
                accounting.dead_lettered
            ),
            (840, 837, 3)
        );
        assert_eq!(accounting.lost, 0);
        // The disable was the drill's own, at the start of the flood; the mapping read
        // Disabled at the next sample.
        let flood_start = report.reaction.flood_start.unwrap();
        assert!((report.reaction.disable_call.unwrap() - flood_start).abs() < 0.01);
        assert!(report.metrics[&Metric::TimeToDisabled] <= 0.3);
        assert!(report.reaction.closed.is_some());
        assert_eq!(
            *world.injected.lock().unwrap(),
            [
                "victim mode=Error ratio=1 latency=0s",
                "manual ESM disable",
                "victim mode=Healthy ratio=1 latency=0s",
                "manual ESM enable"
            ]
        );
        assert!(
            report.samples.len() >= 12,
            "{} samples",
            report.samples.len()
        );
        assert!(
            report
                .samples
                .iter()
                .any(|s| (s.target_rate - 400.0).abs() < 1e-9)
        );
        let seconds: Vec<u64> = report.consumed_per_second.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            seconds,
            (0..seconds.len() as u64).collect::<Vec<_>>(),
            "every second, idle ones too"
        );
        assert_eq!(
            report
                .consumed_per_second
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>(),
            837
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lost_messages_fail_the_drill_with_their_sequence_numbers() {
        let report = drill(&spec(), Arc::new(world(&[100, 101, 102, 700]))).await;
        assert_eq!(report.verdict, Verdict::Failed { failed: 1 });
        assert_eq!(report.exit_code, EXIT_FAILED);
        let accounting = report.accounting.unwrap();
        assert_eq!(accounting.lost_seqs.describe(10), "100-102, 700");
        let failed: Vec<&str> = report
            .assertions
            .iter()
            .filter(|a| !a.passed)
            .map(|a| a.assertion.as_str())
            .collect();
        assert_eq!(failed, ["lost == 0"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_injection_is_an_infrastructure_error() {
        let world = World {
            fail_injections: true,
            ..world(&[])
        };
        let report = drill(&spec(), Arc::new(world)).await;
        assert_eq!(report.exit_code, EXIT_INFRA);
        assert!(
            matches!(&report.verdict, Verdict::InfraError { error } if error.contains("refused by the test"))
        );
        assert_eq!(report.phases.last().unwrap().ended_by, EndedBy::Error);
        assert!(report.accounting.is_none() && report.assertions.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_aborts_the_drill_with_exit_code_3() {
        let interrupt = tokio::time::sleep(Duration::from_millis(1500));
        let report = run(
            &spec(),
            Arc::new(world(&[])),
            "drill-test",
            interrupt,
            &ProgressBar::hidden(),
        )
        .await;
        assert_eq!(
            report.verdict,
            Verdict::Aborted {
                reason: "interrupted".to_owned()
            }
        );
        assert_eq!(report.exit_code, 3);
        assert_eq!(report.phases.last().unwrap().kind, PhaseKind::Flood);
        assert_eq!(report.phases.last().unwrap().ended_by, EndedBy::Aborted);
        // The flood that was cut short still reports what it sent.
        assert!(report.floods.last().unwrap().1.stopped_early);
    }

    #[tokio::test(start_paused = true)]
    async fn a_phase_whose_condition_never_holds_ends_at_its_timeout() {
        let mut spec = spec();
        spec.phases[2].until = Some(Until::EsmState(MappingState::Deleting));
        spec.phases[2].timeout = Some(Duration::from_secs(2));
        let report = drill(&spec, Arc::new(world(&[]))).await;
        assert_eq!(report.phases[2].ended_by, EndedBy::Timeout);
        let length = report.phases[2].end - report.phases[2].start;
        assert!((2.0..2.3).contains(&length), "{length}");
    }
}
