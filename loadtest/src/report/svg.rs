//! Inline SVG charts: line charts and state bands on a shared time axis, with the drill's
//! phases shaded behind them. No scripts, no external resources: the page renders offline
//! and in a headless browser exactly as written.

use std::fmt::Write as _;

use super::escape;
use crate::drill::PhaseRecord;

/// Chart width in pixels.
pub const WIDTH: f64 = 960.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 28.0;

/// About how wide one character of the chart's text is.
const CHAR_WIDTH: f64 = 6.0;
/// A white outline behind text, so lines crossing it do not make it unreadable.
const HALO: &str =
    r##"paint-order="stroke" stroke="#fff" stroke-width="3" stroke-linejoin="round""##;

/// Background tint of each phase, in phase order.
const PHASE_TINTS: [&str; 6] = [
    "#f4f6f8", "#fdecea", "#fff4e5", "#eef2f7", "#e8f4fd", "#e9f7ef",
];

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Points `(t, value)`, in time order.
    pub points: Vec<(f64, f64)>,
    /// Dashed stroke (targets).
    pub dashed: bool,
    /// Hold each value until the next point (levels such as concurrency).
    pub step: bool,
}

/// A shaded span behind a chart: a drill phase, a fault window.
#[derive(Debug, Clone, PartialEq)]
pub struct Shade {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The label written above it where it fits.
    pub label: String,
    /// Its fill.
    pub tint: &'static str,
}

/// The drill's phases as shades.
pub fn phase_shades(phases: &[PhaseRecord]) -> Vec<Shade> {
    phases
        .iter()
        .map(|phase| Shade {
            start: phase.start,
            end: phase.end,
            label: phase.kind.as_str().to_owned(),
            tint: PHASE_TINTS[phase.kind as usize % PHASE_TINTS.len()],
        })
        .collect()
}

/// One row of a state band: spans `(from, to, label, colour)`.
#[derive(Debug, Clone)]
pub struct Band {
    /// Row label.
    pub name: String,
    /// The spans.
    pub spans: Vec<(f64, f64, String, &'static str)>,
}

/// A "nice" tick step (1, 2 or 5 × 10ⁿ) giving about `count` ticks up to `max`.
pub fn tick_step(max: f64, count: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn number(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

struct Frame {
    x_max: f64,
    height: f64,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.x_max).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn plot_bottom(&self) -> f64 {
        self.height - BOTTOM
    }

    /// Opening tag, shading and the time axis.
    fn open(&self, out: &mut String, label: &str, shades: &[Shade]) {
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}" width="{WIDTH}" height="{}" viewBox="0 0 {WIDTH} {}" font-family="system-ui, sans-serif" font-size="11">"#,
            escape(label),
            self.height,
            self.height
        );
        for shade in shades {
            let (x0, x1) = (self.x(shade.start), self.x(shade.end));
            let tint = shade.tint;
            let label = escape(&shade.label);
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="{tint}"/>"#,
                (x1 - x0).max(0.5),
                self.plot_bottom() - TOP,
            );
            // A label only where it fits: a zero-length phase (stop) is a boundary, not a span.
            #[allow(clippy::cast_precision_loss)]
            if x1 - x0 >= CHAR_WIDTH * shade.label.chars().count() as f64 + 4.0 {
                let _ = write!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" fill="#555" font-size="10">{label}</text>"##,
                    x0 + 3.0,
                    TOP - 6.0,
                );
            }
        }
        let step = tick_step(self.x_max, 10.0);
        let mut t = 0.0;
        while t <= self.x_max + 1e-9 {
            let x = self.x(t);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}s</text>"##,
                self.plot_bottom(),
                self.plot_bottom() + 4.0,
                self.plot_bottom() + 16.0,
                number(t)
            );
            t += step;
        }
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
            self.plot_bottom(),
            WIDTH - RIGHT,
            self.plot_bottom()
        );
    }
}

/// A line chart of `series` over `[0, x_max]` seconds, `unit` on the y axis.
pub fn line_chart(
    label: &str,
    unit: &str,
    x_max: f64,
    phases: &[PhaseRecord],
    series: &[Series],
) -> String {
    let scale = Scale {
        x_max,
        y_at_least: 0.0,
        height: 230.0,
    };
    shaded_line_chart(label, unit, &scale, &phase_shades(phases), series)
}

/// A chart's axes and size, for charts that must compare with each other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// The time axis runs from 0 to this, in seconds.
    pub x_max: f64,
    /// The value axis reaches at least this (charts given the same one share their axis).
    pub y_at_least: f64,
    /// Height in pixels.
    pub height: f64,
}

/// A line chart of `series` on `scale`, `unit` on the y axis, `shades` behind it.
pub fn shaded_line_chart(
    label: &str,
    unit: &str,
    scale: &Scale,
    shades: &[Shade],
    series: &[Series],
) -> String {
    let frame = Frame {
        x_max: scale.x_max.max(1.0),
        height: scale.height,
    };
    let y_max_data = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, v)| *v))
        .fold(scale.y_at_least, f64::max);
    let step = tick_step(y_max_data.max(1.0), 4.0);
    let y_max = (y_max_data / step).ceil().max(1.0) * step;
    let y =
        |v: f64| frame.plot_bottom() - (v / y_max).clamp(0.0, 1.0) * (frame.plot_bottom() - TOP);
    let mut out = String::new();
    frame.open(&mut out, label, shades);
    let mut v = 0.0;
    while v <= y_max + 1e-9 {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            y(v),
            WIDTH - RIGHT,
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            number(v)
        );
        v += step;
    }
    let _ = write!(
        out,
        r##"<text x="12" y="{:.1}" fill="#333" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
        f64::midpoint(TOP, frame.plot_bottom()),
        f64::midpoint(TOP, frame.plot_bottom()),
        escape(unit)
    );
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let mut path = String::new();
        let mut previous: Option<f64> = None;
        for (i, (t, v)) in s.points.iter().enumerate() {
            let (px, py) = (frame.x(*t), y(*v));
            if i == 0 {
                let _ = write!(path, "M{px:.1},{py:.1}");
            } else {
                if s.step
                    && let Some(prev_y) = previous
                {
                    let _ = write!(path, " L{px:.1},{prev_y:.1}");
                }
                let _ = write!(path, " L{px:.1},{py:.1}");
            }
            previous = Some(py);
        }
        let _ = write!(
            out,
            r#"<path d="{path}" fill="none" stroke="{}" stroke-width="1.8"{}><title>{}</title></path>"#,
            s.color,
            if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            },
            escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// State bands: one row per [`Band`], coloured spans labelled where they are wide enough.
pub fn band_chart(label: &str, x_max: f64, phases: &[PhaseRecord], bands: &[Band]) -> String {
    shaded_band_chart(label, x_max, &phase_shades(phases), bands)
}

/// State bands with `shades` behind them.
pub fn shaded_band_chart(label: &str, x_max: f64, shades: &[Shade], bands: &[Band]) -> String {
    const ROW: f64 = 26.0;
    #[allow(clippy::cast_precision_loss)]
    let height = TOP + ROW * bands.len().max(1) as f64 + BOTTOM + 4.0;
    let frame = Frame {
        x_max: x_max.max(1.0),
        height,
    };
    let mut out = String::new();
    frame.open(&mut out, label, shades);
    for (row, band) in bands.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let top = TOP + 2.0 + ROW * row as f64;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            LEFT - 6.0,
            top + ROW / 2.0 + 2.0,
            escape(&shorten(&band.name, 10))
        );
        for (from, to, text, color) in &band.spans {
            let (x0, x1) = (frame.x(*from), frame.x(*to));
            let width = (x1 - x0).max(1.0);
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{top:.1}" width="{width:.1}" height="{:.1}" fill="{color}"><title>{}: {} from {from:.1}s to {to:.1}s</title></rect>"#,
                ROW - 6.0,
                escape(&band.name),
                escape(text)
            );
            #[allow(clippy::cast_precision_loss)]
            if width > CHAR_WIDTH * text.len() as f64 + 6.0 {
                let _ = write!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" fill="#111">{}</text>"##,
                    x0 + 3.0,
                    top + ROW / 2.0 + 1.0,
                    escape(text)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// Vertical markers with labels (the reaction steps) on the time axis.
pub fn marker_chart(
    label: &str,
    x_max: f64,
    phases: &[PhaseRecord],
    markers: &[(f64, &str)],
) -> String {
    const LANES: usize = 3;
    const LANE_HEIGHT: f64 = 16.0;
    let frame = Frame {
        x_max: x_max.max(1.0),
        height: TOP + LANE_HEIGHT * 3.0 + 12.0 + BOTTOM,
    };
    let mut out = String::new();
    frame.open(&mut out, label, &phase_shades(phases));
    for (i, (t, name)) in markers.iter().enumerate() {
        let x = frame.x(*t);
        // Labels in staggered lanes so close steps stay readable.
        #[allow(clippy::cast_precision_loss)]
        let y = TOP + 14.0 + LANE_HEIGHT * (i % LANES) as f64;
        let anchor = if x > WIDTH - 140.0 { "end" } else { "start" };
        let dx = if anchor == "end" { -4.0 } else { 4.0 };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#c62828" stroke-width="1.5"/><circle cx="{x:.1}" cy="{:.1}" r="3.5" fill="#c62828"/><text x="{:.1}" y="{y:.1}" text-anchor="{anchor}" fill="#111" {HALO}>{} ({t:.1}s)</text>"##,
            frame.plot_bottom(),
            y - 4.0,
            x + dx,
            escape(name)
        );
    }
    out.push_str("</svg>");
    out
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

/// Turns a sequence of `(t, state)` samples into spans ending at the next change (the last
/// at `end`).
pub fn spans(
    samples: &[(f64, Option<String>)],
    end: f64,
    color: impl Fn(&str) -> &'static str,
) -> Vec<(f64, f64, String, &'static str)> {
    let mut spans: Vec<(f64, f64, String, &'static str)> = Vec::new();
    for (t, state) in samples {
        let label = state.clone().unwrap_or_else(|| "unknown".to_owned());
        match spans.last_mut() {
            Some(last) if last.2 == label => {}
            Some(last) => {
                last.1 = *t;
                let c = color(&label);
                spans.push((*t, *t, label, c));
            }
            None => {
                let c = color(&label);
                spans.push((*t, *t, label, c));
            }
        }
    }
    if let Some(last) = spans.last_mut() {
        last.1 = end.max(last.0);
    }
    spans
}

#[cfg(test)]
// The expected values are exact in binary floating point (small integers and halves).
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(100.0, 10.0), 10.0);
        assert_eq!(tick_step(87.0, 4.0), 50.0);
        assert_eq!(tick_step(0.3, 3.0), 0.1);
        assert_eq!(tick_step(0.0, 4.0), 1.0);
    }

    #[test]
    fn state_samples_become_spans_that_end_at_the_next_change() {
        let samples = [
            (0.0, Some("Enabled".to_owned())),
            (1.0, Some("Enabled".to_owned())),
            (2.0, Some("Disabled".to_owned())),
            (3.0, None),
        ];
        let spans = spans(&samples, 5.0, |_| "#000");
        let simple: Vec<_> = spans
            .iter()
            .map(|(a, b, l, _)| (*a, *b, l.as_str()))
            .collect();
        assert_eq!(
            simple,
            [
                (0.0, 2.0, "Enabled"),
                (2.0, 3.0, "Disabled"),
                (3.0, 5.0, "unknown")
            ]
        );
    }

    #[test]
    fn charts_escape_names_and_draw_every_series() {
        let series = [Series {
            name: "<b>sent</b>".to_owned(),
            color: "#00f",
            points: vec![(0.0, 1.0), (1.0, 3.0)],
            dashed: false,
            step: true,
        }];
        let svg = line_chart("rate", "msg/s", 2.0, &[], &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;b&gt;sent"));
        assert!(!svg.contains("<b>"));
        assert_eq!(svg.matches("<path").count(), 1);
    }
}
