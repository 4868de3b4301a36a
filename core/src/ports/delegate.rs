//! [`delegate!`]: one implementation of a port trait that hands every call to a target, through
//! a wrapper: the decorators ([`super::Retrying`], [`super::Limited`]) and the ports through a
//! reference are written with it, so each trait's method list is spelt out once here.
//!
//! Exported (hidden) as `floodgate_core::delegate_port!` for the test kit's wrappers.
//!
//! `delegate!(Trait for Type where [generics] => |this, call| target, wrap)`: in every method,
//! `this` is `self`, `call` is a closure making the target's call (a future), and `wrap` is the
//! expression that runs it (`call().await`, or under a retry, or after a limiter).

#[doc(hidden)]
#[macro_export]
macro_rules! delegate_port {
    (EventSourceMappings for $ty:ty where [$($g:tt)*] => |$s:ident, $call:ident| $target:expr, $wrap:expr) => {
        impl<$($g)*> $crate::ports::EventSourceMappings for $ty {
            async fn get_mapping(
                &self,
                uuid: &str,
            ) -> Result<$crate::ports::Mapping, $crate::error::Error> {
                let $s = self;
                let $call = || $target.get_mapping(uuid);
                $wrap
            }

            async fn update_mapping(
                &self,
                uuid: &str,
                update: $crate::ports::MappingUpdate,
            ) -> Result<(), $crate::error::Error> {
                let $s = self;
                let $call = || $target.update_mapping(uuid, update);
                $wrap
            }

            async fn tags(
                &self,
                arn: &str,
            ) -> Result<std::collections::BTreeMap<String, String>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.tags(arn);
                $wrap
            }

            async fn tag(
                &self,
                arn: &str,
                tags: &std::collections::BTreeMap<String, String>,
            ) -> Result<(), $crate::error::Error> {
                let $s = self;
                let $call = || $target.tag(arn, tags);
                $wrap
            }
        }
    };
    (Concurrency for $ty:ty where [$($g:tt)*] => |$s:ident, $call:ident| $target:expr, $wrap:expr) => {
        impl<$($g)*> $crate::ports::Concurrency for $ty {
            async fn reserved_concurrency(
                &self,
                function: &str,
            ) -> Result<Option<u32>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.reserved_concurrency(function);
                $wrap
            }

            async fn set_reserved_concurrency(
                &self,
                function: &str,
                reserved: u32,
            ) -> Result<(), $crate::error::Error> {
                let $s = self;
                let $call = || $target.set_reserved_concurrency(function, reserved);
                $wrap
            }
        }
    };
    (Alarms for $ty:ty where [$($g:tt)*] => |$s:ident, $call:ident| $target:expr, $wrap:expr) => {
        impl<$($g)*> $crate::ports::Alarms for $ty {
            async fn describe_alarms(
                &self,
                names: &[String],
            ) -> Result<Vec<$crate::ports::AlarmDescription>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.describe_alarms(names);
                $wrap
            }

            async fn function_outcome(
                &self,
                function: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::policy::ProbeTraffic, $crate::error::Error> {
                let $s = self;
                let $call = || $target.function_outcome(function, from, to);
                $wrap
            }
        }
    };
    (Queues for $ty:ty where [$($g:tt)*] => |$s:ident, $call:ident| $target:expr, $wrap:expr) => {
        impl<$($g)*> $crate::ports::Queues for $ty {
            async fn queue_depth(
                &self,
                queue_url: &str,
            ) -> Result<$crate::ports::QueueStatus, $crate::error::Error> {
                let $s = self;
                let $call = || $target.queue_depth(queue_url);
                $wrap
            }

            async fn queue_attributes(
                &self,
                queue_url: &str,
            ) -> Result<$crate::ports::QueueAttributes, $crate::error::Error> {
                let $s = self;
                let $call = || $target.queue_attributes(queue_url);
                $wrap
            }

            async fn queue_url(&self, name: &str, owner: &str) -> Result<String, $crate::error::Error> {
                let $s = self;
                let $call = || $target.queue_url(name, owner);
                $wrap
            }

            async fn receive_messages(
                &self,
                queue_url: &str,
                max: usize,
                visibility_timeout: std::time::Duration,
                wait: std::time::Duration,
            ) -> Result<Vec<$crate::ports::ReceivedMessage>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.receive_messages(queue_url, max, visibility_timeout, wait);
                $wrap
            }

            async fn send_messages(
                &self,
                queue_url: &str,
                messages: &[$crate::ports::OutgoingMessage],
            ) -> Result<Vec<$crate::ports::EntryResult>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.send_messages(queue_url, messages);
                $wrap
            }

            async fn delete_messages(
                &self,
                queue_url: &str,
                receipt_handles: &[String],
            ) -> Result<Vec<$crate::ports::EntryResult>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.delete_messages(queue_url, receipt_handles);
                $wrap
            }

            async fn change_visibility(
                &self,
                queue_url: &str,
                receipt_handles: &[String],
                timeout: std::time::Duration,
            ) -> Result<Vec<$crate::ports::EntryResult>, $crate::error::Error> {
                let $s = self;
                let $call = || $target.change_visibility(queue_url, receipt_handles, timeout);
                $wrap
            }
        }
    };
    (Clock for $ty:ty where [$($g:tt)*] => |$s:ident| $target:expr) => {
        impl<$($g)*> $crate::clock::Clock for $ty {
            fn monotonic(&self) -> std::time::Duration {
                let $s = self;
                $target.monotonic()
            }

            async fn sleep(&self, span: std::time::Duration) {
                let $s = self;
                $target.sleep(span).await;
            }
        }
    };
}

pub(crate) use crate::delegate_port as delegate;
