//! The transfer loop: receive a batch, send copies (and what must not stay, with its reason,
//! to the circuit's DLQ), delete what was sent, release or hold the rest — at a limited rate,
//! up to a count, and stopping early when told to.

use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::Quota;

use super::batch::{
    Fate, LAST_DELIVERY_HOLD, MAX_BATCH_BYTES, Prepared, Settlement, Tally, Transfer,
    dead_letter_copy, deliveries_left, hold_for, pack, prepare, settle,
};
use crate::error::Error;
use crate::ports::{
    Clock, EntryResult, MAX_BATCH_ENTRIES, OutgoingMessage, Pace, Queues, ReceivedMessage, Retrying,
};

/// How long received messages stay hidden while a batch is sent and deleted: longer than the
/// retry policy's longest run of one call, twice (send, then delete). If the controller dies
/// mid-batch, they reappear after this — a duplicate at worst, never a loss.
pub const IN_FLIGHT_VISIBILITY: Duration = Duration::from_mins(2);
/// How long a message that cannot be moved (no room for its provenance, or refused by SQS as
/// the sender's fault) is kept hidden. Every receive raises a message's receive count toward
/// its queue's DLQ; holding it spares it a receive in every batch and invocation meanwhile,
/// while it stays in its queue for its consumer.
pub const UNMOVABLE_HOLD: Duration = Duration::from_mins(10);
/// Long-poll wait of each receive: long polling asks every SQS server, so a queue that has
/// messages does not answer empty by chance, as a short poll can.
pub const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// A full batch, as the pacer counts.
const FULL_BATCH: NonZeroU32 = NonZeroU32::MIN.saturating_add(9);
const _: () = assert!(FULL_BATCH.get() as usize == MAX_BATCH_ENTRIES);

/// The rate limit of one transfer: batches wait on a [`Pace`] so the messages moved per second
/// stay at the configured rate.
#[derive(Debug)]
pub struct Pacer {
    pace: Option<Pace>,
    batch: NonZeroU32,
}

impl Pacer {
    /// At most `rate` messages per second, in batches of up to 10 (fewer when the rate is
    /// lower, so one batch never exceeds a second's worth). The burst is one batch.
    pub fn per_second(rate: NonZeroU32) -> Self {
        let batch = rate.min(FULL_BATCH);
        Self {
            pace: Some(Pace::new(Quota::per_second(rate).allow_burst(batch))),
            batch,
        }
    }

    /// No limit, batches of 10: for tests whose subject is not the rate.
    pub fn unlimited() -> Self {
        Self {
            pace: None,
            batch: FULL_BATCH,
        }
    }

    /// The largest batch.
    pub fn batch(&self) -> usize {
        self.batch.get() as usize
    }

    /// Waits on `clock` until `n` (at most [`Pacer::batch`]) more messages may go.
    async fn wait<C: Clock + ?Sized>(&self, clock: &C, n: usize) {
        let Some(pace) = &self.pace else {
            return;
        };
        let n = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN)
            .min(self.batch);
        pace.wait(clock, n).await;
    }
}

/// Transfers up to `count` messages as `transfer` says, at `pacer`'s rate (on the ports'
/// clock), every call under the ports' retry policy. Before each batch, `allow` is asked how
/// many messages may go next (given how many were transferred so far; it may wait for room),
/// or why the transfer must end early.
///
/// Per batch: receive (hidden for [`Transfer::in_flight`]), [`prepare`] copies, send them
/// (split by [`pack`]), [`settle`], send what must go to the circuit's DLQ there with its
/// reason, then delete the originals that were sent, make those whose send failed visible
/// again at once, and hold back the unmovable and the refused as [`settle`] says. The transfer ends early when the queue answers empty, when a receive
/// or a send fails on SQS's side (so a failing queue is not hammered, and messages are not
/// received again and again), or when a delete call fails as a whole. It never fails: what
/// went wrong is in [`Tally::stopped`] and the log.
pub async fn transfer<Q, S>(
    ports: &Retrying<Q>,
    pacer: &Pacer,
    transfer: &Transfer,
    count: u64,
    now: DateTime<Utc>,
    mut allow: S,
) -> Tally
where
    Q: Queues + Clock,
    S: AsyncFnMut(u64) -> Result<u64, String>,
{
    let mut tally = Tally::default();
    let mut remaining = count;
    while remaining > 0 {
        let want = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(pacer.batch());
        pacer.wait(ports, want).await;
        // Asked after the wait, so the answer is as fresh as it can be when the batch starts.
        let want = match allow(tally.transferred).await {
            Ok(allowed) => want.min(usize::try_from(allowed).unwrap_or(usize::MAX)),
            Err(reason) => {
                tally.stopped = Some(reason);
                break;
            }
        };
        if want == 0 {
            tally.stopped = Some("no room for more".to_owned());
            break;
        }
        let received = match ports
            .receive_messages(&transfer.from, want, transfer.in_flight, RECEIVE_WAIT)
            .await
        {
            Ok(received) => received,
            Err(error) => {
                tally.stopped = Some(format!("receive failed: {error}"));
                break;
            }
        };
        if received.is_empty() {
            tally.stopped = Some(format!("{} had no more visible messages", transfer.from));
            break;
        }
        remaining = remaining.saturating_sub(received.len() as u64);
        if let Err(reason) = batch(ports, transfer, &received, now, &mut tally).await {
            tally.stopped = Some(reason);
            break;
        }
    }
    tally
}

/// One batch of received messages, added to `tally`; `Err` says why the transfer must stop.
async fn batch<Q: Queues + ?Sized>(
    ports: &Q,
    transfer: &Transfer,
    received: &[ReceivedMessage],
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<(), String> {
    let prepared: Vec<Prepared> = received.iter().map(|m| prepare(m, transfer, now)).collect();
    let copies: Vec<(usize, OutgoingMessage)> = prepared
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Prepared::Send(message) => Some((i, message.clone())),
            Prepared::Unmovable(_) | Prepared::DeadLetter(_) => None,
        })
        .collect();
    let (results, send_error) = send(ports, &transfer.to, &copies).await;
    let results = by_index(received.len(), results);
    let mut settlement = settle(&prepared, &results, received, transfer, now);
    let dead_error = dead_letter(ports, transfer, received, &mut settlement, now).await;
    tally.add(&prepared, &settlement);
    let handles = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .map(|&i| received[i].receipt_handle.clone())
            .collect()
    };
    let sent = settlement.delete();
    let (undeleted, delete_error) = delete(ports, transfer, &handles(&sent), tally).await;
    // An original that could not be deleted is a duplicate of the copy just sent. Hidden
    // only for the in-flight time, it would be received again soon, raising its receive
    // count: it is held like a message that stays, so its last delivery is not the
    // controller's.
    let undeleted: Vec<usize> = undeleted.into_iter().map(|k| sent[k]).collect();
    let mut visibility: Vec<(Duration, Vec<usize>)> = Vec::new();
    for (i, fate) in settlement.fates.iter().enumerate() {
        let timeout = match fate {
            Fate::Release => Duration::ZERO,
            Fate::Hold(hold) => *hold,
            Fate::Sent | Fate::DeadLettered if undeleted.contains(&i) => hold_for(
                deliveries_left(received[i].receive_count, transfer.limits.from_max_receives),
                transfer.hold,
                &received[i],
                transfer.limits.from_retention,
                now,
            ),
            Fate::Sent | Fate::DeadLettered | Fate::DeadLetter(_) => continue,
        };
        match visibility.iter_mut().find(|(t, _)| *t == timeout) {
            Some((_, indices)) => indices.push(i),
            None => visibility.push((timeout, vec![i])),
        }
    }
    for (timeout, indices) in visibility {
        change_visibility(ports, transfer, &handles(&indices), timeout).await;
    }
    log_batch(transfer, &prepared, &settlement);
    let released = settlement.indices(|f| *f == Fate::Release).len();
    match (send_error.or(dead_error), delete_error) {
        (Some(error), _) => Err(format!("send failed: {error}")),
        (None, Some(error)) => Err(format!("delete failed: {error}")),
        (None, None) if settlement.transient_failure => Err(format!(
            "{released} of {} sends failed on SQS's side",
            received.len()
        )),
        (None, None) => Ok(()),
    }
}

/// `results` of some of `len` entries, by entry index (`None` for the others).
fn by_index(len: usize, results: Vec<(usize, EntryResult)>) -> Vec<Option<EntryResult>> {
    let mut all: Vec<Option<EntryResult>> = vec![None; len];
    for (i, result) in results {
        all[i] = Some(result);
    }
    all
}

/// Sends to the circuit's DLQ, with their reasons, the messages `settlement` sends there, and
/// records the outcomes. A message without a DLQ copy (no DLQ, or no room in it) or whose
/// send fails stays in its queue for [`LAST_DELIVERY_HOLD`]. Returns the error of a call that
/// failed as a whole.
async fn dead_letter<Q: Queues + ?Sized>(
    ports: &Q,
    transfer: &Transfer,
    received: &[ReceivedMessage],
    settlement: &mut Settlement,
    now: DateTime<Utc>,
) -> Option<Error> {
    let mut copies = Vec::new();
    for (i, cause) in settlement.dead_letters() {
        if let Some(copy) = dead_letter_copy(&received[i], transfer, &cause, now) {
            copies.push((i, copy));
        } else {
            tracing::error!(
                circuit = %transfer.circuit,
                queue = %transfer.from,
                message_id = %received[i].message_id,
                cause = %cause,
                "a message bound for the DLQ cannot be sent there (no DLQ, or no room for \
                 its reason): it stays where it is"
            );
            settlement.dead_letter_sent(i, None, LAST_DELIVERY_HOLD);
        }
    }
    let Some(dead_letter) = &transfer.limits.dead_letter else {
        return None;
    };
    if copies.is_empty() {
        return None;
    }
    let (results, error) = send(ports, &dead_letter.url, &copies).await;
    let results = by_index(received.len(), results);
    for (i, _) in &copies {
        settlement.dead_letter_sent(*i, results[*i].as_ref(), LAST_DELIVERY_HOLD);
    }
    error
}

/// Sends `copies` (each with its entry index) to `to` in size-limited batches; the results
/// of the entries SQS answered for, and the error of a call that failed as a whole (the rest
/// are then not sent).
async fn send<Q: Queues + ?Sized>(
    ports: &Q,
    to: &str,
    copies: &[(usize, OutgoingMessage)],
) -> (Vec<(usize, EntryResult)>, Option<Error>) {
    let mut results = Vec::with_capacity(copies.len());
    let sizes: Vec<usize> = copies.iter().map(|(_, m)| m.size()).collect();
    for range in pack(&sizes, MAX_BATCH_BYTES) {
        let chunk = &copies[range];
        let messages: Vec<OutgoingMessage> = chunk.iter().map(|(_, m)| m.clone()).collect();
        match ports.send_messages(to, &messages).await {
            Ok(answers) => {
                results.extend(chunk.iter().map(|(i, _)| *i).zip(answers));
            }
            // The rest stays unsent: sending more to a queue that just failed helps nobody.
            Err(error) => return (results, Some(error)),
        }
    }
    (results, None)
}

/// Deletes the originals that were sent; counts what could not be deleted (a duplicate
/// later, not a loss). Returns the positions in `handles` not deleted, and the error of a
/// call that failed as a whole.
async fn delete<Q: Queues + ?Sized>(
    ports: &Q,
    transfer: &Transfer,
    handles: &[String],
    tally: &mut Tally,
) -> (Vec<usize>, Option<Error>) {
    if handles.is_empty() {
        return (Vec::new(), None);
    }
    let (undeleted, error): (Vec<usize>, _) =
        match ports.delete_messages(&transfer.from, handles).await {
            Ok(results) => (
                (0..handles.len())
                    .filter(|&i| results.get(i).is_none_or(Result::is_err))
                    .collect(),
                None,
            ),
            Err(error) => ((0..handles.len()).collect(), Some(error)),
        };
    let failed = undeleted.len();
    if failed > 0 {
        tally.delete_failed += failed as u64;
        tracing::warn!(
            circuit = %transfer.circuit,
            direction = transfer.direction.as_str(),
            queue = %transfer.from,
            failed,
            error = error.as_ref().map(tracing::field::display),
            "sent messages could not be deleted from their queue: they will be seen twice"
        );
    }
    (undeleted, error)
}

/// Changes the visibility of messages left in their queue. A failure loses nothing: they
/// reappear when [`Transfer::in_flight`] runs out.
async fn change_visibility<Q: Queues + ?Sized>(
    ports: &Q,
    transfer: &Transfer,
    handles: &[String],
    timeout: Duration,
) {
    if handles.is_empty() {
        return;
    }
    let failed = match ports
        .change_visibility(&transfer.from, handles, timeout)
        .await
    {
        Ok(results) => results.iter().filter(|r| r.is_err()).count(),
        Err(_) => handles.len(),
    };
    if failed > 0 {
        tracing::warn!(
            circuit = %transfer.circuit,
            queue = %transfer.from,
            failed,
            visibility_secs = timeout.as_secs(),
            "could not change the visibility of messages left in their queue; they reappear after {} s",
            transfer.in_flight.as_secs()
        );
    }
}

fn log_batch(transfer: &Transfer, prepared: &[Prepared], settlement: &Settlement) {
    let mut batch = Tally::default();
    batch.add(prepared, settlement);
    if batch.transferred < batch.received {
        tracing::warn!(
            circuit = %transfer.circuit,
            direction = transfer.direction.as_str(),
            from = %transfer.from,
            to = %transfer.to,
            received = batch.received,
            sent = batch.transferred,
            dead_lettered = batch.dead_lettered,
            send_failed = batch.send_failed,
            unmovable = batch.unmovable,
            "some messages were not sent to their target"
        );
    }
}
