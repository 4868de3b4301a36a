//! Polling with a deadline: the emulator is eventually consistent in places (ESM start-up,
//! alarm actions, redrive), and a test must say what it waited for when it gives up.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::HarnessError;

/// Pause between polls: short enough to keep tests quick, long enough not to load LocalStack.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One observation while waiting.
#[derive(Debug)]
pub enum Check<T> {
    /// The condition holds; stop waiting with this value.
    Done(T),
    /// Not yet; the text describes what was seen, for the timeout message.
    NotYet(String),
}

/// Polls `check` until it returns [`Check::Done`] or `timeout` passes.
///
/// # Errors
/// The first error `check` returns, or [`HarnessError::Timeout`] naming `what` and the last
/// [`Check::NotYet`] observation.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>, HarnessError>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await? {
            Check::Done(value) => return Ok(value),
            Check::NotYet(seen) => seen,
        };
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: what.to_owned(),
                after: timeout,
                last,
            });
        }
        sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_condition_holds() {
        let mut polls = 0;
        let value = wait_for("three polls", Duration::from_secs(5), || {
            polls += 1;
            let seen = polls;
            async move {
                Ok(if seen >= 3 {
                    Check::Done(seen)
                } else {
                    Check::NotYet(format!("poll {seen}"))
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    #[tokio::test]
    async fn times_out_with_what_it_waited_for_and_the_last_observation() {
        let err = wait_for("the queue to drain", Duration::from_millis(300), || async {
            Ok::<Check<()>, HarnessError>(Check::NotYet("7 messages visible".to_owned()))
        })
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("the queue to drain"), "{message}");
        assert!(message.contains("7 messages visible"), "{message}");
    }
}
