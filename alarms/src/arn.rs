//! CloudWatch alarm ARNs: `arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`.

use std::fmt;
use std::str::FromStr;

use crate::error::AlarmError;

/// Partitions an alarm may live in. Others (the isolated `aws-iso*` partitions) are refused
/// because nothing in this project deploys there and an ARN naming one is far more likely a
/// forgery than a real alarm.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// CloudWatch caps alarm names at 255 characters.
const MAX_ALARM_NAME_CHARS: usize = 255;

/// A validated CloudWatch alarm ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlarmArn {
    partition: String,
    region: String,
    account: String,
    name: String,
}

impl AlarmArn {
    /// Parses `arn` and names `field` in any error.
    pub(crate) fn parse_field(arn: &str, field: &str) -> Result<Self, AlarmError> {
        let invalid = |reason| AlarmError::InvalidArn {
            field: field.to_owned(),
            reason,
        };
        // Alarm names may contain ':', so the name is everything after the sixth colon.
        let mut parts = arn.splitn(7, ':');
        let mut next = || parts.next();
        let (Some(prefix), Some(partition), Some(service), Some(region), Some(account)) =
            (next(), next(), next(), next(), next())
        else {
            return Err(invalid("too few ':'-separated parts"));
        };
        let (Some(resource), Some(name)) = (next(), next()) else {
            return Err(invalid("too few ':'-separated parts"));
        };
        if prefix != "arn" {
            return Err(invalid("does not start with `arn:`"));
        }
        if !PARTITIONS.contains(&partition) {
            return Err(invalid("partition is not aws, aws-cn or aws-us-gov"));
        }
        if service != "cloudwatch" {
            return Err(invalid("service is not cloudwatch"));
        }
        if !is_region_code(region) {
            return Err(invalid("region is not a region code like us-east-1"));
        }
        if !region_fits_partition(region, partition) {
            return Err(invalid("region does not belong to the partition"));
        }
        if !is_account_id(account) {
            return Err(invalid("account is not 12 digits"));
        }
        if resource != "alarm" {
            return Err(invalid("resource type is not alarm"));
        }
        if !is_alarm_name(name) {
            return Err(invalid(
                "alarm name is empty, longer than 255 characters, or not printable ASCII",
            ));
        }
        Ok(Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// Region code, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// 12-digit account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Alarm name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for AlarmArn {
    type Err = AlarmError;

    /// # Errors
    /// [`AlarmError::InvalidArn`] naming which part is wrong.
    fn from_str(arn: &str) -> Result<Self, Self::Err> {
        Self::parse_field(arn, "arn")
    }
}

impl fmt::Display for AlarmArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:cloudwatch:{}:{}:alarm:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

/// Whether `text` is an AWS account id: exactly 12 ASCII digits. The one check of the
/// workspace (the controller's configuration uses it too).
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `xx(-word)+-N`: a two-letter area, one or more lowercase words, then a number
/// (`us-east-1`, `us-gov-west-1`, `ap-southeast-7`).
pub fn is_region_code(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [area, words @ .., number] = parts.as_slice() else {
        return false;
    };
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn region_fits_partition(region: &str, partition: &str) -> bool {
    let china = region.starts_with("cn-");
    let gov = region.starts_with("us-gov-");
    match partition {
        "aws-cn" => china,
        "aws-us-gov" => gov,
        _ => !china && !gov,
    }
}

/// CloudWatch alarm names are 1–255 ASCII characters; control characters are refused too
/// because they have no business in a name and would corrupt logs.
fn is_alarm_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ALARM_NAME_CHARS
        && name.bytes().all(|b| b.is_ascii() && !b.is_ascii_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part_of_a_commercial_arn() {
        let arn: AlarmArn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-errors"
            .parse()
            .unwrap();
        assert_eq!(arn.partition(), "aws");
        assert_eq!(arn.region(), "us-east-1");
        assert_eq!(arn.account(), "123456789012");
        assert_eq!(arn.name(), "orders-errors");
        assert_eq!(
            arn.to_string(),
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-errors"
        );
    }

    #[test]
    fn keeps_colons_inside_the_alarm_name() {
        let arn: AlarmArn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a:b:c"
            .parse()
            .unwrap();
        assert_eq!(arn.name(), "a:b:c");
    }

    #[test]
    fn accepts_china_and_govcloud_partitions_with_their_regions() {
        assert!(
            "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:x"
                .parse::<AlarmArn>()
                .is_ok()
        );
        assert!(
            "arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:x"
                .parse::<AlarmArn>()
                .is_ok()
        );
    }

    #[test]
    fn rejects_each_wrong_part_with_its_own_reason() {
        let cases = [
            ("arn:aws:cloudwatch:us-east-1:123456789012:alarm", "too few"),
            ("urn:aws:cloudwatch:us-east-1:123456789012:alarm:x", "arn:"),
            (
                "arn:aws-iso:cloudwatch:us-iso-east-1:123456789012:alarm:x",
                "partition is not",
            ),
            ("arn:aws:sns:us-east-1:123456789012:alarm:x", "service"),
            (
                "arn:aws:cloudwatch:US-EAST-1:123456789012:alarm:x",
                "region is not",
            ),
            (
                "arn:aws:cloudwatch:cn-north-1:123456789012:alarm:x",
                "partition",
            ),
            (
                "arn:aws:cloudwatch:us-east-1:12345678901:alarm:x",
                "12 digits",
            ),
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:dashboard:x",
                "resource type",
            ),
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:",
                "alarm name",
            ),
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:caf\u{e9}",
                "alarm name",
            ),
        ];
        for (arn, expected) in cases {
            let err = arn.parse::<AlarmArn>().unwrap_err();
            let AlarmError::InvalidArn { reason, .. } = &err else {
                panic!("{arn}: expected InvalidArn, got {err:?}");
            };
            assert!(reason.contains(expected), "{arn}: reason {reason:?}");
        }
    }

    #[test]
    fn region_codes_follow_the_aws_pattern() {
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-7",
            "il-central-1",
        ] {
            assert!(is_region_code(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-1",
            "us-east",
            "us--1",
            "use-east-1",
            "us-east-123",
            "us east 1",
        ] {
            assert!(!is_region_code(bad), "{bad}");
        }
    }
}
