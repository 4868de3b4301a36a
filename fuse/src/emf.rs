//! The window's counts as a CloudWatch Embedded Metric Format line, at one-second storage
//! resolution (namespace `Floodgate`, dimension `Circuit`, as the controller's own metrics).
//!
//! Metrics: `FuseRecords` and `FuseFailedRecords` (this batch: their `Sum` per second or minute
//! over every environment is the consumer's record and failure rate), `FuseWindowRecords` and
//! `FuseWindowFailedRecords` (this environment's window after the batch: use `Maximum`).

use std::time::SystemTime;

use serde_json::json;

use crate::window::Counts;

/// The metric namespace, shared with the controller.
pub const NAMESPACE: &str = "Floodgate";

/// One EMF line (no trailing newline).
pub fn render(circuit: &str, at: SystemTime, batch: Counts, window: Counts) -> String {
    let timestamp = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let metric = |name: &str| json!({"Name": name, "Unit": "Count", "StorageResolution": 1});
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Circuit"]],
                "Metrics": [
                    metric("FuseRecords"),
                    metric("FuseFailedRecords"),
                    metric("FuseWindowRecords"),
                    metric("FuseWindowFailedRecords"),
                ],
            }],
        },
        "Circuit": circuit,
        "FuseRecords": batch.records,
        "FuseFailedRecords": batch.failed,
        "FuseWindowRecords": window.records,
        "FuseWindowFailedRecords": window.failed,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_metric_is_high_resolution_and_carried() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let line = render(
            "orders",
            at,
            Counts {
                records: 10,
                failed: 7,
            },
            Counts {
                records: 40,
                failed: 31,
            },
        );
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["_aws"]["Timestamp"], 1_795_000_000_123_u64);
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Floodgate");
        assert_eq!(directive["Dimensions"], json!([["Circuit"]]));
        let metrics = directive["Metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 4);
        for metric in metrics {
            assert_eq!(metric["StorageResolution"], 1, "{metric}");
            assert_eq!(metric["Unit"], "Count");
            let name = metric["Name"].as_str().unwrap();
            assert!(value[name].is_u64(), "{name} has no value");
        }
        assert_eq!(value["Circuit"], "orders");
        assert_eq!(value["FuseFailedRecords"], 7);
        assert_eq!(value["FuseWindowRecords"], 40);
    }
}
