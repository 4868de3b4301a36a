//! The simulation's HTML report (`loadtest simulate --html`): the side-by-side table, then
//! one section per strategy with the same charts on the same axes (the downstream's fault
//! windows shaded behind them), so the strategies compare at a glance. One page, inline CSS
//! and SVG, nothing fetched, like the drill's report.

use std::fmt::Write as _;
use std::path::Path;

use super::escape;
use super::html::{breaker_color, legend, page_head};
use super::svg::{Band, Scale, Series, Shade, shaded_band_chart, shaded_line_chart};
use crate::error::Result;
use crate::sim::report::{SimReport, rows};
use crate::sim::run::StrategyResult;
use crate::sim::timeline::{Point, Timeline};

/// Height of one line chart, in pixels.
const HEIGHT: f64 = 150.0;
/// Circuits up to which `floodgate`'s phases are one band each; more are counted per phase.
const BAND_CIRCUITS: usize = 8;
/// The tint of a fault window.
const FAULT_TINT: &str = "#fdecea";

/// How a chart reads one value from a sample, given the sampling step in seconds.
type Read = fn(&Point, f64) -> f64;

/// One chart of every strategy's section: its title, unit, and its lines
/// (name, colour, dashed, how to read it).
struct Chart {
    title: &'static str,
    unit: &'static str,
    lines: &'static [(&'static str, &'static str, bool, Read)],
}

#[allow(clippy::cast_precision_loss)] // counts stay far below 2^52
const CHARTS: &[Chart] = &[
    Chart {
        title: "Source queue: visible messages",
        unit: "messages",
        lines: &[("visible", "#1565c0", false, |p, _| p.source_visible as f64)],
    },
    Chart {
        title: "Overflow queue: messages",
        unit: "messages",
        lines: &[("overflow", "#ef6c00", false, |p, _| p.overflow as f64)],
    },
    Chart {
        title: "Dead-letter queue: messages",
        unit: "messages",
        lines: &[("DLQ", "#c62828", false, |p, _| p.dlq as f64)],
    },
    Chart {
        title: "Messages consumed (mean per second over each step)",
        unit: "msg/s",
        lines: &[("consumed", "#2e7d32", false, |p, step| {
            p.consumed as f64 / step
        })],
    },
    Chart {
        title: "Downstream failed calls (mean per second over each step)",
        unit: "calls/s",
        lines: &[("failed calls", "#c62828", false, |p, step| {
            p.failed_calls as f64 / step
        })],
    },
    Chart {
        title: "Consumer: running invocations, pollers' batches, concurrency limit",
        unit: "invocations",
        lines: &[
            ("running", "#1565c0", false, |p, _| p.running as f64),
            ("batches", "#90a4ae", true, |p, _| p.batches as f64),
            ("limit", "#6a1b9a", true, |p, _| {
                p.limit.map_or(f64::NAN, |l| l as f64)
            }),
        ],
    },
];

/// The phases in the order they are drawn.
const PHASES: [&str; 5] = ["closed", "throttled", "open", "half-open", "ramping"];

fn points(timeline: &Timeline, read: Read) -> Vec<(f64, f64)> {
    let step = timeline.step_s.max(1.0);
    timeline
        .points
        .iter()
        .map(|p| (p.t, read(p, step)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

fn shades(timeline: &Timeline) -> Vec<Shade> {
    timeline
        .faults
        .iter()
        .map(|&(start, end)| Shade {
            start,
            end,
            label: "fault".to_owned(),
            tint: FAULT_TINT,
        })
        .collect()
}

/// The highest value `read` takes in any strategy: the shared top of a chart's axis.
fn shared_max(report: &SimReport, read: Read) -> f64 {
    report
        .strategies
        .iter()
        .flat_map(|r| points(&r.timeline, read))
        .map(|(_, v)| v)
        .fold(0.0, f64::max)
}

fn summary(out: &mut String, report: &SimReport) {
    out.push_str("<table><tr><th></th>");
    for r in &report.strategies {
        let _ = write!(out, "<th>{}</th>", escape(&r.strategy));
    }
    out.push_str("</tr>");
    for (label, cell) in rows() {
        let _ = write!(out, "<tr><th>{}</th>", escape(label));
        for r in &report.strategies {
            let _ = write!(out, r#"<td class="num">{}</td>"#, escape(&cell(r)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn phase_section(out: &mut String, r: &StrategyResult, x_max: f64, circuits_max: f64) {
    let timeline = &r.timeline;
    let label = format!("{}: circuit phase", r.strategy);
    let _ = write!(out, "<h3>{}</h3>", escape(&label));
    if timeline.phase_spans.len() <= BAND_CIRCUITS {
        let bands: Vec<Band> = timeline
            .phase_spans
            .iter()
            .map(|c| Band {
                name: c.circuit.clone(),
                spans: c
                    .spans
                    .iter()
                    .map(|(from, to, phase)| (*from, *to, phase.clone(), breaker_color(phase)))
                    .collect(),
            })
            .collect();
        out.push_str(&shaded_band_chart(&label, x_max, &shades(timeline), &bands));
    } else {
        #[allow(clippy::cast_precision_loss)] // circuit counts
        let series: Vec<Series> = PHASES
            .iter()
            .map(|phase| Series {
                name: (*phase).to_owned(),
                color: breaker_color(phase),
                points: timeline
                    .points
                    .iter()
                    .map(|p| (p.t, p.phases.get(*phase).copied().unwrap_or(0) as f64))
                    .collect(),
                dashed: false,
                step: true,
            })
            .collect();
        let scale = Scale {
            x_max,
            y_at_least: circuits_max,
            height: HEIGHT,
        };
        out.push_str(&shaded_line_chart(
            &label,
            "circuits",
            &scale,
            &shades(timeline),
            &series,
        ));
    }
    let items: Vec<(&str, &str)> = PHASES.iter().map(|p| (*p, breaker_color(p))).collect();
    legend(out, &items);
}

/// The page.
pub fn render(report: &SimReport) -> String {
    let mut out = page_head(
        &format!("Simulation: {}", report.scenario),
        "h3 { font-size: 14px; margin: 14px 0 2px; }",
    );
    let _ = write!(
        out,
        r#"<h1>Simulation: {}</h1><p class="meta">profile {} · seed {}"#,
        escape(&report.scenario),
        escape(&report.profile),
        report.seed
    );
    let first = report.strategies.first().map(|r| &r.timeline);
    if let Some(t) = first {
        let _ = write!(
            out,
            " · {:.0} s simulated, sampled every {:.0} s",
            t.duration_s, t.step_s
        );
        for (from, to) in &t.faults {
            let _ = write!(out, " · downstream faulty {from:.0} s – {to:.0} s");
        }
    }
    out.push_str("</p><h2>Summary</h2>");
    summary(&mut out, report);
    let x_max = report
        .strategies
        .iter()
        .map(|r| r.timeline.duration_s)
        .fold(1.0, f64::max);
    let tops: Vec<f64> = CHARTS
        .iter()
        .map(|c| {
            c.lines
                .iter()
                .map(|line| shared_max(report, line.3))
                .fold(0.0, f64::max)
        })
        .collect();
    #[allow(clippy::cast_precision_loss)] // circuit counts
    let circuits_max = report
        .strategies
        .iter()
        .map(|r| r.timeline.phase_spans.len() as f64)
        .fold(1.0, f64::max);
    legend(&mut out, &[("downstream fault window", FAULT_TINT)]);
    for r in &report.strategies {
        let _ = write!(out, "<h2>{}</h2>", escape(&r.strategy));
        let shades = shades(&r.timeline);
        for (chart, top) in CHARTS.iter().zip(&tops) {
            let label = format!("{}: {}", r.strategy, chart.title);
            let _ = write!(out, "<h3>{}</h3>", escape(chart.title));
            let series: Vec<Series> = chart
                .lines
                .iter()
                .map(|(name, color, dashed, read)| Series {
                    name: (*name).to_owned(),
                    color,
                    points: points(&r.timeline, *read),
                    dashed: *dashed,
                    step: false,
                })
                .collect();
            let scale = Scale {
                x_max,
                y_at_least: *top,
                height: HEIGHT,
            };
            out.push_str(&shaded_line_chart(
                &label, chart.unit, &scale, &shades, &series,
            ));
            if chart.lines.len() > 1 {
                let items: Vec<(&str, &str)> = chart.lines.iter().map(|l| (l.0, l.1)).collect();
                legend(&mut out, &items);
            }
        }
        if r.strategy == "floodgate" {
            phase_section(&mut out, r, x_max, circuits_max);
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes the page to `path`.
///
/// # Errors
/// [`crate::error::Error::Io`] when it cannot be written.
pub fn write(report: &SimReport, path: &Path) -> Result<()> {
    super::write(path, &render(report))
}

/// Charts in each strategy's section besides `floodgate`'s phase chart.
pub const CHARTS_PER_STRATEGY: usize = CHARTS.len();

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sim::Profile;
    use crate::sim::run::{STRATEGIES, run};
    use crate::sim::scenario::Scenario;

    const SHORT: &str = r#"
        name = "short"
        duration = "8m"
        load = { kind = "constant", rate = 20 }
        consumer = { maximum_concurrency = 10, visibility_timeout = "10s", max_receive_count = 3 }
        [downstream]
        capacity_per_sec = 100
        latency = "20ms"
        [[downstream.faults]]
        start = "2m"
        for = "3m"
        fault = { kind = "outage" }
        [floodgate]
        levels = { max = 10, safe = 4 }
    "#;

    fn report() -> SimReport {
        let scenario = Scenario::from_toml(SHORT, Path::new("short.toml")).expect("valid");
        let profile = Profile::aws();
        SimReport {
            // A name a page must escape (not a valid resource name, so not the scenario's).
            scenario: "short <script>alert(1)</script>".to_owned(),
            profile: profile.name.to_owned(),
            seed: scenario.seed,
            strategies: STRATEGIES
                .iter()
                .map(|s| run(&scenario, &profile, s).expect("runs"))
                .collect(),
        }
    }

    #[test]
    fn the_page_has_every_chart_of_every_strategy_on_shared_axes_and_is_escaped() {
        let report = report();
        let page = render(&report);
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        assert!(!page.contains("<script"), "the scenario's name is escaped");
        assert!(page.contains("short &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            !page.contains("src=") && !page.contains("<link"),
            "nothing fetched"
        );
        for r in &report.strategies {
            assert!(
                r.timeline.points.len() >= 48,
                "8 min at 10 s: {}",
                r.timeline.points.len()
            );
            assert_eq!(r.timeline.faults, [(120.0, 300.0)], "{}", r.strategy);
            for chart in CHARTS {
                let label = format!(
                    r#"aria-label="{}""#,
                    escape(&format!("{}: {}", r.strategy, chart.title))
                );
                assert_eq!(page.matches(&label).count(), 1, "{label}");
            }
        }
        assert_eq!(
            page.matches("<svg").count(),
            STRATEGIES.len() * CHARTS_PER_STRATEGY + 1,
            "six charts per strategy and floodgate's phases"
        );
        assert!(page.contains(r#"aria-label="floodgate: circuit phase""#));
        let floodgate = report
            .strategies
            .iter()
            .find(|r| r.strategy == "floodgate")
            .expect("ran");
        assert!(
            floodgate.timeline.phase_spans[0]
                .spans
                .iter()
                .any(|s| s.2 == "open"),
            "the outage opened the circuit: {:?}",
            floodgate.timeline.phase_spans
        );
        // The fault window is shaded in every chart, and every table row is there.
        assert_eq!(
            page.matches(FAULT_TINT).count(),
            STRATEGIES.len() * CHARTS_PER_STRATEGY + 2,
            "each chart's shade, the phase band's and the legend's swatch"
        );
        for (label, _) in rows() {
            assert!(
                page.contains(&format!("<th>{}</th>", escape(label))),
                "{label}"
            );
        }
    }

    #[test]
    fn charts_of_one_series_share_their_axis_across_strategies() {
        let report = report();
        let page = render(&report);
        // The DLQ's axis tops out at the same value in every strategy's chart: the highest.
        let top = shared_max(&report, |p, _| {
            #[allow(clippy::cast_precision_loss)]
            let dlq = p.dlq as f64;
            dlq
        });
        assert!(top > 0.0, "the outage dead-letters with nothing in front");
        let tops: Vec<&str> = page
            .split(r#"aria-label=""#)
            .filter(|chart| {
                chart
                    .split('"')
                    .next()
                    .is_some_and(|label| label.ends_with("Dead-letter queue: messages"))
            })
            .map(|chart| {
                // The last y-axis label of the chart is its top.
                chart
                    .split(r##"text-anchor="end" fill="#333">"##)
                    .last()
                    .and_then(|t| t.split('<').next())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(tops.len(), STRATEGIES.len());
        assert!(tops.windows(2).all(|w| w[0] == w[1]), "{tops:?}");
    }
}
