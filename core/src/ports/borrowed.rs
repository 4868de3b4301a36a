//! The ports through a shared reference, so decorators and tests can wrap a borrowed world.

use super::delegate::delegate;
use super::{Alarms, Clock, Concurrency, EventSourceMappings, Queues};

delegate!(Clock for &P where [P: Clock + ?Sized] => |this| (**this));
delegate!(EventSourceMappings for &P where [P: EventSourceMappings + ?Sized]
    => |this, call| (**this), call().await);
delegate!(Concurrency for &P where [P: Concurrency + ?Sized]
    => |this, call| (**this), call().await);
delegate!(Alarms for &P where [P: Alarms + ?Sized] => |this, call| (**this), call().await);
delegate!(Queues for &P where [P: Queues + ?Sized] => |this, call| (**this), call().await);
