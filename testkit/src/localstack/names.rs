//! Resource names for tests that share one LocalStack.

use std::process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest prefix [`unique_name`] accepts, so a name fits every service's limit (Lambda
/// function names: 64 characters; the suffix takes 17).
const MAX_PREFIX: usize = 40;

/// A resource name no other test (in this process or another run) will use: `prefix`, then a
/// fixed-width suffix unique to this call.
///
/// The suffix has a fixed width and carries a per-call counter, so no generated name is a
/// prefix or substring of another. That matters beyond collisions: LocalStack matches
/// CloudWatch dimensions by substring, so `orders-1` would also see metrics of `orders-10`.
///
/// # Panics
/// If `prefix` is longer than 40 characters or holds anything but ASCII letters, digits,
/// `-` and `_` (the characters every service here accepts in names).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    assert!(
        prefix.len() <= MAX_PREFIX
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "unique_name prefix {prefix:?} must be at most {MAX_PREFIX} of [A-Za-z0-9_-]"
    );
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff;
    // Process id and start time tell runs apart against a LocalStack that stays up.
    let pid = process::id() & 0xff_ffff;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        & 0xff_ffff;
    format!("{prefix}-{pid:06x}{secs:06x}{count:04x}")
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    #[test]
    fn names_from_one_prefix_are_never_substrings_of_each_other() {
        let names: Vec<String> = (0..300).map(|_| unique_name("fn")).collect();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                assert!(i == j || !b.contains(a.as_str()), "{a} is inside {b}");
            }
        }
    }

    #[test]
    fn names_keep_their_prefix_and_fit_lambda_limits() {
        let name = unique_name(&"p".repeat(40));
        assert!(name.starts_with(&"p".repeat(40)));
        assert!(name.len() <= 64, "{name} is {} long", name.len());
    }

    #[test]
    #[should_panic(expected = "must be at most")]
    fn prefixes_with_characters_aws_rejects_are_refused() {
        unique_name("orders.fifo");
    }
}
