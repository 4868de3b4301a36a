//! The HTML report: one page, inline CSS and SVG, nothing fetched.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::escape;
use super::svg::{Band, Series, band_chart, line_chart, marker_chart, spans};
use crate::drill::accounting::Accounting;
use crate::drill::{DrillReport, Verdict};
use crate::seqset::SeqSet;

pub(super) const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d2329; margin: 24px auto; max-width: 1000px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #dde2e7; padding-bottom: 4px; }
.meta { color: #56606b; font-size: 13px; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: 600; color: #fff; margin: 8px 0; }
.passed { background: #2e7d32; } .failed { background: #c62828; } .infra { background: #ef6c00; } .aborted { background: #616161; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { border: 1px solid #dde2e7; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { color: #2e7d32; font-weight: 600; } .bad { color: #c62828; font-weight: 600; }
.legend { font-size: 12px; margin: 2px 0 0; } .legend span { margin-right: 14px; white-space: nowrap; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border-radius: 2px; }
.ranges { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
svg { display: block; margin: 4px 0 2px; }
";

pub(super) fn legend(out: &mut String, items: &[(&str, &str)]) {
    out.push_str(r#"<div class="legend">"#);
    for (name, color) in items {
        let _ = write!(
            out,
            r#"<span><span class="swatch" style="background:{color}"></span>{}</span>"#,
            escape(name)
        );
    }
    out.push_str("</div>");
}

fn esm_color(state: &str) -> &'static str {
    match state {
        "Enabled" => "#8fd19e",
        "Enabling" => "#c5e1a5",
        "Disabling" => "#f4a99b",
        "Disabled" => "#e57373",
        _ => "#cfd8dc",
    }
}

pub(super) fn breaker_color(state: &str) -> &'static str {
    match state {
        "closed" => "#8fd19e",
        "throttled" => "#ffcc80",
        "open" => "#e57373",
        "half-open" => "#fff176",
        "ramping" => "#90caf9",
        _ => "#e0e0e0",
    }
}

fn alarm_color(state: &str) -> &'static str {
    match state {
        "OK" => "#8fd19e",
        "ALARM" => "#e57373",
        _ => "#cfd8dc",
    }
}

fn seconds(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} s"))
}

fn verdict_badge(verdict: &Verdict) -> String {
    let (class, text) = match verdict {
        Verdict::Passed => ("passed", "PASSED".to_owned()),
        Verdict::Failed { failed } => ("failed", format!("FAILED — {failed} assertion(s)")),
        Verdict::InfraError { error } => ("infra", format!("INFRASTRUCTURE ERROR — {error}")),
        Verdict::Aborted { reason } => ("aborted", format!("ABORTED — {reason}")),
    };
    format!(r#"<div class="verdict {class}">{}</div>"#, escape(&text))
}

type Sample = crate::drill::timeline::Sample;

fn rate_chart(out: &mut String, report: &DrillReport) {
    let samples = &report.samples;
    let series = vec![
        Series {
            name: "target msg/s".to_owned(),
            color: "#7a8793",
            points: samples.iter().map(|s| (s.t, s.target_rate)).collect(),
            dashed: true,
            step: true,
        },
        Series {
            name: "sent msg/s (acknowledged)".to_owned(),
            color: "#1565c0",
            // The first sample has no interval to measure a rate over.
            points: samples.iter().skip(1).map(|s| (s.t, s.send_rate)).collect(),
            dashed: false,
            step: false,
        },
        Series {
            name: "consumed msg/s (victim ledger)".to_owned(),
            color: "#2e7d32",
            #[allow(clippy::cast_precision_loss)]
            points: report
                .consumed_per_second
                .iter()
                .map(|(second, n)| (*second as f64 + 0.5, *n as f64))
                .collect(),
            dashed: false,
            step: false,
        },
    ];
    out.push_str("<h2>Send rate vs target</h2>");
    legend(
        out,
        &[
            ("target", "#7a8793"),
            ("sent (acknowledged)", "#1565c0"),
            ("consumed by the victim", "#2e7d32"),
        ],
    );
    out.push_str(&line_chart(
        "send rate",
        "msg/s",
        report.duration.max(1.0),
        &report.phases,
        &series,
    ));
}

fn line(
    name: &str,
    color: &'static str,
    points: Vec<(f64, f64)>,
    dashed: bool,
    step: bool,
) -> Series {
    Series {
        name: name.to_owned(),
        color,
        points,
        dashed,
        step,
    }
}

fn depth_chart(out: &mut String, report: &DrillReport) {
    #[allow(clippy::cast_precision_loss)]
    let depth = |f: fn(&Sample) -> Option<u64>| -> Vec<(f64, f64)> {
        report
            .samples
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t, v as f64)))
            .collect()
    };
    let mut series = vec![
        line(
            "visible",
            "#1565c0",
            depth(|s| s.observed.visible),
            false,
            false,
        ),
        line(
            "in flight",
            "#ef6c00",
            depth(|s| s.observed.in_flight),
            false,
            false,
        ),
        line("DLQ", "#c62828", depth(|s| s.observed.dlq), false, false),
    ];
    let mut items = vec![
        ("visible", "#1565c0"),
        ("in flight", "#ef6c00"),
        ("DLQ", "#c62828"),
    ];
    let overflow = depth(|s| s.observed.overflow);
    if !overflow.is_empty() {
        series.push(line("overflow", "#6a1b9a", overflow, false, false));
        items.push(("overflow queue", "#6a1b9a"));
    }
    out.push_str("<h2>Queue depth</h2>");
    legend(out, &items);
    out.push_str(&line_chart(
        "queue depth",
        "messages",
        report.duration.max(1.0),
        &report.phases,
        &series,
    ));
}

fn concurrency_chart(out: &mut String, report: &DrillReport) {
    let level = |f: fn(&Sample) -> Option<i32>| -> Vec<(f64, f64)> {
        report
            .samples
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t, f64::from(v))))
            .collect()
    };
    let series = vec![
        line(
            "ESM MaximumConcurrency",
            "#1565c0",
            level(|s| s.observed.max_concurrency),
            false,
            true,
        ),
        line(
            "reserved concurrency",
            "#ef6c00",
            level(|s| s.observed.reserved_concurrency),
            true,
            true,
        ),
    ];
    out.push_str("<h2>Concurrency</h2>");
    if series.iter().all(|s| s.points.is_empty()) {
        out.push_str("<p class=\"meta\">Neither MaximumConcurrency nor reserved concurrency was set during the drill (Lambda defaults applied).</p>");
    } else {
        legend(
            out,
            &[
                ("ESM MaximumConcurrency", "#1565c0"),
                ("reserved concurrency (dashed)", "#ef6c00"),
            ],
        );
        out.push_str(&line_chart(
            "concurrency",
            "executions",
            report.duration.max(1.0),
            &report.phases,
            &series,
        ));
    }
}

fn state_chart(out: &mut String, report: &DrillReport) {
    let end = report.duration.max(1.0);
    let samples = &report.samples;
    let esm: Vec<_> = samples
        .iter()
        .map(|s| {
            (
                s.t,
                s.observed.esm_state.as_ref().map(|m| m.as_str().to_owned()),
            )
        })
        .collect();
    let mut bands = vec![Band {
        name: "ESM".to_owned(),
        spans: spans(&esm, end, esm_color),
    }];
    let breaker: Vec<_> = samples
        .iter()
        .map(|s| (s.t, s.observed.breaker_state().map(str::to_owned)))
        .collect();
    let has_breaker = breaker.iter().any(|(_, b)| b.is_some());
    if has_breaker {
        bands.push(Band {
            name: "breaker".to_owned(),
            spans: spans(&breaker, end, breaker_color),
        });
    }
    let alarm_names: BTreeSet<&String> = samples
        .iter()
        .flat_map(|s| s.observed.alarms.keys())
        .collect();
    for name in alarm_names {
        let states: Vec<_> = samples
            .iter()
            .map(|s| (s.t, s.observed.alarms.get(name).cloned()))
            .collect();
        bands.push(Band {
            name: name.clone(),
            spans: spans(&states, end, alarm_color),
        });
    }
    out.push_str("<h2>Breaker state over time</h2>");
    legend(
        out,
        &[
            ("Enabled / closed / OK", "#8fd19e"),
            ("Disabled / open / ALARM", "#e57373"),
            ("half-open", "#fff176"),
            ("throttled", "#ffcc80"),
            ("ramping", "#90caf9"),
            ("other / unknown", "#cfd8dc"),
        ],
    );
    out.push_str(&band_chart("states", end, &report.phases, &bands));
    if !has_breaker {
        out.push_str("<p class=\"meta\">No <code>floodgate:state</code> tags on the mapping: no breaker was running, so the ESM row shows what the drill itself did.</p>");
    }
}

fn charts(out: &mut String, report: &DrillReport) {
    rate_chart(out, report);
    depth_chart(out, report);
    concurrency_chart(out, report);
    state_chart(out, report);
}

fn reaction(out: &mut String, report: &DrillReport) {
    let r = &report.reaction;
    out.push_str(
        "<h2>Reaction time</h2><table><tr><th>step</th><th>at</th><th>since flood start</th></tr>",
    );
    for (step, at) in r.steps() {
        let since = at.zip(r.flood_start).map(|(a, s)| a - s);
        let _ = write!(
            out,
            "<tr><td>{step}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            seconds(at),
            seconds(since)
        );
    }
    out.push_str("</table>");
    let markers: Vec<(f64, &str)> = r
        .steps()
        .iter()
        .filter_map(|(name, at)| at.map(|t| (t, *name)))
        .collect();
    out.push_str(&marker_chart(
        "reaction steps",
        report.duration.max(1.0),
        &report.phases,
        &markers,
    ));
}

fn range_row(out: &mut String, name: &str, count: u64, set: &SeqSet, bad: bool) {
    let class = if bad && count > 0 { "bad" } else { "" };
    let _ = write!(
        out,
        r#"<tr><td>{name}</td><td class="num {class}">{count}</td><td class="ranges">{}</td></tr>"#,
        if set.is_empty() {
            "—".to_owned()
        } else {
            escape(&set.describe(40))
        }
    );
}

fn accounting(out: &mut String, a: Option<&Accounting>) {
    out.push_str("<h2>Message accounting</h2>");
    let Some(a) = a else {
        out.push_str("<p class=\"meta\">The drill ended before accounting.</p>");
        return;
    };
    let lost_class = if a.lost == 0 { "ok" } else { "bad" };
    let _ = write!(
        out,
        r#"<p>Every acknowledged message must be consumed, still queued, dead-lettered or in the overflow queue. <span class="{lost_class}">{} lost</span> of {} sent.</p>"#,
        a.lost, a.sent
    );
    out.push_str("<table><tr><th>category</th><th>messages</th><th>sequence numbers</th></tr>");
    let _ = write!(
        out,
        r#"<tr><td>sent (acknowledged)</td><td class="num">{}</td><td></td></tr>"#,
        a.sent
    );
    let _ = write!(
        out,
        r#"<tr><td>consumed</td><td class="num">{}</td><td></td></tr>"#,
        a.consumed
    );
    range_row(
        out,
        "dead-lettered",
        a.dead_lettered,
        &a.dead_lettered_seqs,
        false,
    );
    range_row(
        out,
        "in the overflow queue",
        a.overflowed,
        &a.overflowed_seqs,
        false,
    );
    range_row(
        out,
        "still queued",
        a.still_queued,
        &a.still_queued_seqs,
        false,
    );
    range_row(out, "lost", a.lost, &a.lost_seqs, true);
    range_row(
        out,
        "duplicated (processed more than once)",
        a.duplicated,
        &a.duplicated_seqs,
        false,
    );
    range_row(
        out,
        "unexpected (processed, never sent)",
        a.unexpected,
        &a.unexpected_seqs,
        true,
    );
    let _ = write!(
        out,
        r#"<tr><td>deliveries failed on purpose</td><td class="num">{}</td><td></td></tr>"#,
        a.failed_attempts
    );
    out.push_str("</table>");
    if let Some(in_flight) = a.in_flight_at_end.filter(|n| *n > 0 && a.lost > 0) {
        let _ = write!(
            out,
            r#"<p class="meta">When accounting ended, {in_flight} messages were in flight in the source queue (received, not yet deleted): lost messages among them may still be consumed. A longer <code>settle</code> tells.</p>"#
        );
    }
}

fn floods(out: &mut String, report: &DrillReport) {
    out.push_str("<h2>Floods</h2><table><tr><th>phase</th><th>profile</th><th>planned</th><th>acked</th><th>failed</th><th>uncertain</th><th>dropped</th><th>late</th><th>target/s</th><th>achieved/s</th><th>error</th><th>response p50 / p99</th><th>lag p99</th></tr>");
    for (phase, f) in &report.floods {
        let _ = write!(
            out,
            r#"<tr><td>{phase}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.1}</td><td class="num">{:.1}</td><td class="num">{:+.2}%</td><td class="num">{:.1} / {:.1} ms</td><td class="num">{:.2} ms</td></tr>"#,
            escape(&f.rate_profile),
            f.planned,
            f.acked,
            f.failed,
            f.uncertain,
            f.dropped,
            f.late,
            f.target_rate,
            f.achieved_rate,
            f.rate_error * 100.0,
            f.response_time.p50_ms,
            f.response_time.p99_ms,
            f.schedule_lag.p99_ms,
        );
    }
    out.push_str("</table>");
}

/// A page's start, up to its `<body>`: `title` (escaped here) and the reports' style, with
/// `more_style` after it.
pub(super) fn page_head(title: &str, more_style: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>{STYLE}{more_style}</style></head><body>"#,
        escape(title)
    );
    out
}

/// The whole page.
pub fn render(report: &DrillReport) -> String {
    let mut out = page_head(&format!("Drill: {}", report.name), "");
    let _ = write!(out, "<h1>Drill: {}</h1>", escape(&report.name));
    if !report.description.is_empty() {
        let _ = write!(out, "<p>{}</p>", escape(&report.description));
    }
    let _ = write!(
        out,
        r#"<div class="meta">run <code>{}</code> · started {} · {:.1} s · exit code {}</div>"#,
        escape(&report.run_id),
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.duration,
        report.exit_code
    );
    out.push_str(&verdict_badge(&report.verdict));

    out.push_str("<h2>Assertions</h2>");
    if report.assertions.is_empty() {
        out.push_str("<p class=\"meta\">None evaluated.</p>");
    } else {
        out.push_str(
            "<table><tr><th></th><th>assertion</th><th>left</th><th>right</th><th>detail</th></tr>",
        );
        for a in &report.assertions {
            let value = |v: Option<f64>| {
                v.map_or_else(
                    || "—".to_owned(),
                    |v| {
                        format!("{v:.4}")
                            .trim_end_matches('0')
                            .trim_end_matches('.')
                            .to_owned()
                    },
                )
            };
            let _ = write!(
                out,
                r#"<tr><td class="{}">{}</td><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                if a.passed { "ok" } else { "bad" },
                if a.passed { "✔ pass" } else { "✘ fail" },
                escape(&a.assertion),
                value(a.left),
                value(a.right),
                escape(&a.detail)
            );
        }
        out.push_str("</table>");
    }

    reaction(&mut out, report);
    charts(&mut out, report);
    accounting(&mut out, report.accounting.as_ref());
    floods(&mut out, report);

    out.push_str("<h2>Phases</h2><table><tr><th>phase</th><th>from</th><th>to</th><th>ended by</th><th>until</th><th>sending</th></tr>");
    for p in &report.phases {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="num">{:.1} s</td><td class="num">{:.1} s</td><td>{:?}</td><td>{}</td><td>{}</td></tr>"#,
            p.kind,
            p.start,
            p.end,
            p.ended_by,
            p.until
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            escape(p.rate_profile.as_deref().unwrap_or("—"))
        );
    }
    out.push_str("</table>");

    out.push_str(
        "<h2>Events</h2><table><tr><th>at</th><th>phase</th><th>kind</th><th>detail</th></tr>",
    );
    for e in &report.events {
        let _ = write!(
            out,
            r#"<tr><td class="num">{:.1} s</td><td>{}</td><td>{:?}</td><td>{}</td></tr>"#,
            e.t,
            e.phase,
            e.kind,
            escape(&e.detail)
        );
    }
    out.push_str("</table>");
    let errors: usize = report.samples.iter().map(|s| s.observed.errors.len()).sum();
    let _ = write!(
        out,
        r#"<p class="meta">{} timeline samples{}. Generated by <code>loadtest drill</code>.</p></body></html>"#,
        report.samples.len(),
        if errors > 0 {
            format!(", {errors} failed reads (see the JSON report)")
        } else {
            String::new()
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use indicatif::ProgressBar;

    use super::*;
    use crate::drill::fake::{spec, world};

    #[tokio::test(start_paused = true)]
    async fn the_page_of_a_drill_has_its_charts_verdict_accounting_and_events_and_fetches_nothing()
    {
        let report = crate::drill::run(
            &spec(),
            Arc::new(world(&[])),
            "drill-test",
            std::future::pending(),
            &ProgressBar::hidden(),
        )
        .await;
        let html = render(&report);
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(
            html.contains("PASSED")
                && html.contains("Message accounting")
                && html.contains("manual ESM disable")
        );
        assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    }
}
