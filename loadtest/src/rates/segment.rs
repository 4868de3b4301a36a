//! One linear piece of a rate function: the rate, the messages due, and the inverse (when
//! `n` messages have come due), in the form the schedule integrates. Pure.

/// One linear piece of a rate function: the rate goes from `rate_start` at `start` to
/// `rate_end` at `end` (seconds since the start of the flood; `end` may be infinite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds (`f64::INFINITY` for the last segment).
    pub end: f64,
    /// Rate at `start`.
    pub rate_start: f64,
    /// Rate at `end` (equal to `rate_start` when the segment is infinite).
    pub rate_end: f64,
}

impl Segment {
    pub(super) fn flat(start: f64, end: f64, rate: f64) -> Self {
        Self {
            start,
            end,
            rate_start: rate,
            rate_end: rate,
        }
    }

    /// Rate change per second within the segment.
    pub fn slope(&self) -> f64 {
        if self.end.is_finite() && self.end > self.start {
            (self.rate_end - self.rate_start) / (self.end - self.start)
        } else {
            0.0
        }
    }

    /// The rate at `t` (clamped into the segment).
    pub fn rate_at(&self, t: f64) -> f64 {
        let tau = (t.min(self.end) - self.start).max(0.0);
        self.rate_start + self.slope() * tau
    }

    /// Messages due between `start` and `t` (clamped into the segment).
    pub fn count_until(&self, t: f64) -> f64 {
        let tau = (t.min(self.end) - self.start).max(0.0);
        if tau == 0.0 {
            return 0.0;
        }
        self.rate_start * tau + self.slope() * tau * tau / 2.0
    }

    /// Messages due in the whole segment (infinite unless the rate is 0).
    pub fn count(&self) -> f64 {
        if self.end.is_finite() {
            self.count_until(self.end)
        } else if self.rate_start > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// Seconds after `start` at which `count` messages have come due (the inverse of
    /// [`Segment::count_until`]); `None` if that never happens in this segment.
    pub fn time_of(&self, count: f64) -> Option<f64> {
        if count <= 0.0 {
            return Some(0.0);
        }
        if count > self.count() {
            return None;
        }
        let a = self.slope();
        let r0 = self.rate_start;
        // Roots of r0·τ + a·τ²/2 = count in the form that stays exact when a is tiny or 0.
        let root = r0.mul_add(r0, 2.0 * a * count).max(0.0).sqrt();
        let denominator = r0 + root;
        (denominator > 0.0).then(|| 2.0 * count / denominator)
    }
}
