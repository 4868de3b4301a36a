//! A simulated message: the producer's sequence number, and the message attributes a breaker
//! added when it moved the message (overflow provenance), if any.

use std::collections::BTreeMap;

use floodgate_core::ports::MessageAttribute;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The producer's sequence number (unique per scenario).
    pub seq: u64,
    /// Attributes set by whoever last sent it (none from the producer).
    pub attributes: Option<Box<BTreeMap<String, MessageAttribute>>>,
}

impl Msg {
    /// A message fresh from the producer.
    pub fn new(seq: u64) -> Self {
        Self {
            seq,
            attributes: None,
        }
    }
}
