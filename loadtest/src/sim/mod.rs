//! The simulator (`loadtest simulate`): a virtual-time model of the AWS behaviour that decides
//! whether a breaker protects anything, with the shipped controller in the loop, seeded and
//! deterministic. Each part is a plain state machine advanced with a virtual time
//! ([`SimTime`]), with no I/O:
//!
//! - [`params`]: every model parameter, named, with its source (an AWS documentation page,
//!   or LocalStack's code and a measurement), in two profiles, `aws` and `localstack`.
//! - [`queue`]: an SQS standard queue: visible, in-flight and delayed messages, visibility
//!   timeouts, `ApproximateReceiveCount`, redrive to a dead-letter queue at
//!   `maxReceiveCount`, retention expiry.
//! - [`poller`] and [`mapping`]: how many batches an SQS event source mapping processes at
//!   once (5 to start, up to 300 more per minute while messages wait, capped by
//!   `MaximumConcurrency`; in provisioned mode 10 per poller between `MinimumPollers` and
//!   `MaximumPollers`), and updates that take effect late and are refused meanwhile.
//! - [`consumer`] and [`downstream`]: the consumer function (reserved concurrency, throttles
//!   that return a batch after its visibility timeout, timeouts, partial batch responses,
//!   poison messages) and what it calls (a capacity, latency that grows with load, faults).
//! - [`cloudwatch`]: metrics in slices (the profile's resolution) rolled up to alarm
//!   periods, published late, and alarms evaluated with the shipped `alarms::eval`.
//! - [`world`] and [`ports`]: all of it together, and the core's ports over it (the Lambda
//!   control plane's 15 requests/s, API latency, sleeping that runs the world forward).
//! - [`scenario`], [`config_file`], [`events`]: the TOML scenario, an operator's rendered
//!   configuration replayed on it, faults that end relative to an event.
//! - [`run`], [`report`], [`timeline`], [`reaction`]: the strategies side by side (`none`,
//!   `reserved-only`, `toggle`, `floodgate`), the table, the HTML report's series, and the
//!   reaction times a drill would measure.

pub mod cloudwatch;
pub mod config_file;
pub mod consumer;
pub mod downstream;
pub mod events;
pub mod mapping;
pub mod message;
pub mod names;
pub mod params;
pub mod poller;
pub mod ports;
pub mod queue;
pub mod reaction;
pub mod report;
pub mod run;
pub mod scenario;
pub mod time;
pub mod timeline;
pub mod world;

pub use params::Profile;
pub use time::SimTime;
