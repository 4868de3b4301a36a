//! `floodgate event check`: the operator's window into how the controller reads an event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../alarms/tests/fixtures")
        .join(name)
}

fn floodgate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("floodgate binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(bytes) = stdin {
        // The CLI stops reading past its size cap, so a broken pipe here is expected.
        if let Err(err) = pipe.write_all(bytes) {
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe,
                "write stdin: {err}"
            );
        }
    }
    drop(pipe);
    child.wait_with_output().expect("floodgate exits")
}

fn stdout_signal(out: &Output) -> alarms::AlarmSignal {
    serde_json::from_slice(&out.stdout).expect("stdout is one AlarmSignal as JSON")
}

#[test]
fn prints_the_normalized_signal_for_every_delivery_shape() {
    for name in [
        "lambda-metric.json",
        "sns-metric.json",
        "eventbridge-composite.json",
    ] {
        let path = fixture(name);
        let out = floodgate(
            &["event", "check", path.to_str().expect("utf-8 path")],
            None,
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected =
            alarms::parse_event(&std::fs::read(&path).expect("fixture")).expect("fixture parses");
        assert_eq!(stdout_signal(&out), expected, "{name}");
    }
}

#[test]
fn reads_the_event_from_standard_input_with_a_dash_or_no_file() {
    let bytes = std::fs::read(fixture("sns-metric.json")).expect("fixture");
    for args in [&["event", "check", "-"][..], &["event", "check"][..]] {
        let out = floodgate(args, Some(&bytes));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout_signal(&out).alarm_name, "floodgate-orders-throttles");
    }
}

#[test]
fn rejects_an_event_that_is_not_an_alarm_with_exit_1_and_the_reason() {
    let out = floodgate(
        &["event", "check", "-"],
        Some(br#"{"source":"aws.events","detail-type":"Scheduled Event"}"#),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a CloudWatch alarm delivery"),
        "{stderr}"
    );
}

#[test]
fn names_the_broken_field_and_does_not_echo_the_body() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("lambda-metric.json")).expect("fixture"))
            .expect("json");
    event["alarmData"]["state"]["value"] = serde_json::json!("SECRET-BODY-VALUE-NOT-A-STATE");
    let out = floodgate(&["event", "check", "-"], Some(event.to_string().as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("state"), "{stderr}");
    assert!(
        !stderr.contains(&event.to_string()),
        "the whole body must not be echoed: {stderr}"
    );
}

#[test]
fn rejects_an_oversized_event_without_reading_it_all() {
    let huge = vec![b' '; alarms::MAX_EVENT_BYTES * 4];
    let out = floodgate(&["event", "check", "-"], Some(&huge));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limit"));
}

#[test]
fn exits_2_when_the_file_cannot_be_read() {
    let out = floodgate(&["event", "check", "/nonexistent/event.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/event.json"));
}
