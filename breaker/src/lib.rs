//! Floodgate's controller: an event-source circuit breaker for AWS Lambda.
//!
//! The heart of the crate is [`policy`], a pure state machine (no I/O, no clock reads) that
//! turns the observed alarms of a circuit into its next state and the desired settings of its
//! event source mapping. The reconcile loop, the AWS adapters and the entry points build on it.
#![forbid(unsafe_code)]

pub mod policy;
