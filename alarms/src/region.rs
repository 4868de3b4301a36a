//! SNS alarm notifications name the region for people ("US East (N. Virginia)"), not for
//! code. The ARN is the authority; this table only lets the parser check that the two agree.

use crate::arn::is_region_code;

/// Display names CloudWatch writes into SNS notifications, per region code. AWS has renamed
/// "EU (…)" to "Europe (…)" in places, so both spellings are accepted (see [`region_code`]).
const DISPLAY_NAMES: &[(&str, &str)] = &[
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
    ("af-south-1", "Africa (Cape Town)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("ap-east-2", "Asia Pacific (Taipei)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ap-southeast-5", "Asia Pacific (Malaysia)"),
    ("ap-southeast-7", "Asia Pacific (Thailand)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("eu-central-1", "EU (Frankfurt)"),
    ("eu-central-2", "EU (Zurich)"),
    ("eu-west-1", "EU (Ireland)"),
    ("eu-west-2", "EU (London)"),
    ("eu-west-3", "EU (Paris)"),
    ("eu-south-1", "EU (Milan)"),
    ("eu-south-2", "EU (Spain)"),
    ("eu-north-1", "EU (Stockholm)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("me-central-1", "Middle East (UAE)"),
    ("mx-central-1", "Mexico (Central)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("us-gov-east-1", "AWS GovCloud (US-East)"),
    ("us-gov-west-1", "AWS GovCloud (US-West)"),
    ("cn-north-1", "China (Beijing)"),
    ("cn-northwest-1", "China (Ningxia)"),
];

/// The region code an SNS `Region` field refers to, when it can be told:
/// - a display name from the table (case-insensitive, "Europe (…)" = "EU (…)",
///   "São Paulo" = "Sao Paulo");
/// - a region code, or LocalStack's mangled code ("Us east 1" for `us-east-1`).
///
/// `None` means "not recognised" (a region newer than this table): the caller then cannot
/// check consistency and relies on the ARN alone.
pub(crate) fn region_code(display: &str) -> Option<String> {
    let trimmed = display.trim();
    let as_code = trimmed.to_ascii_lowercase().replace(' ', "-");
    if is_region_code(&as_code) {
        return Some(as_code);
    }
    let wanted = normalise(trimmed);
    DISPLAY_NAMES
        .iter()
        .find(|(_, name)| normalise(name) == wanted)
        .map(|(code, _)| (*code).to_owned())
}

fn normalise(name: &str) -> String {
    let lower = name.to_lowercase().replace('ã', "a");
    match lower.strip_prefix("europe (") {
        Some(rest) => format!("eu ({rest}"),
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_aws_display_names_to_codes() {
        assert_eq!(
            region_code("US East (N. Virginia)").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(region_code("EU (Ireland)").as_deref(), Some("eu-west-1"));
        assert_eq!(
            region_code("Europe (Ireland)").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_code("South America (São Paulo)").as_deref(),
            Some("sa-east-1")
        );
    }

    #[test]
    fn accepts_codes_and_the_localstack_spelling() {
        assert_eq!(region_code("us-west-2").as_deref(), Some("us-west-2"));
        assert_eq!(region_code("Us east 1").as_deref(), Some("us-east-1"));
    }

    #[test]
    fn unknown_names_are_not_guessed() {
        assert_eq!(region_code("Atlantis (Central)"), None);
        assert_eq!(region_code(""), None);
    }
}
