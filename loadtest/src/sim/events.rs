//! Events of a run that a scenario can time things from, as a drill does: a drill's phase
//! can last `until = "esm:Disabled"` and the next one heal the victim ten seconds later, so a
//! scenario can end a fault window or its load a while after the mapping was first disabled.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Something that happens once in a circuit's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimEvent {
    /// `GetEventSourceMapping` first shows the mapping `Disabled` (a drill's
    /// `until = "esm:Disabled"`).
    MappingDisabled,
}

/// A moment `after` an event: `{ event = "mapping_disabled", after = "10s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterEvent {
    /// The event.
    pub event: SimEvent,
    /// How long after it.
    #[serde(default, with = "crate::units::duration")]
    pub after: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_toml_with_after_defaulting_to_zero() {
        #[derive(Deserialize)]
        struct T {
            at: AfterEvent,
        }
        let t: T = toml::from_str(r#"at = { event = "mapping_disabled", after = "10s" }"#)
            .expect("parses");
        assert_eq!(
            t.at,
            AfterEvent {
                event: SimEvent::MappingDisabled,
                after: Duration::from_secs(10)
            }
        );
        let t: T = toml::from_str(r#"at = { event = "mapping_disabled" }"#).expect("parses");
        assert_eq!(t.at.after, Duration::ZERO);
        assert!(toml::from_str::<T>(r#"at = { event = "alarm" }"#).is_err());
    }
}
