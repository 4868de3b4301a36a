//! The real sender against a canned HTTP client: the Invoke request it builds (an `Event`
//! invocation of the configured function, the signal as payload, one attempt) and how it
//! reads Lambda's answers.

#![cfg(feature = "lambda")]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use floodgate_fuse::{Action, Fuse, FuseConfig, LambdaSender, ManualClock, SendError};

const CONTROLLER: &str = "arn:aws:lambda:eu-west-1:123456789012:function:floodgate:fuse";

/// What the SDK sent.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    invocation_type: Option<String>,
    body: serde_json::Value,
}

/// Answers every request with one canned response (or a connection error), and keeps the
/// requests.
#[derive(Debug, Clone)]
struct Canned {
    answer: Option<(u16, Option<&'static str>, &'static str)>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Canned {
    fn new(answer: Option<(u16, Option<&'static str>, &'static str)>) -> Self {
        Self {
            answer,
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl HttpConnector for Canned {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| serde_json::from_slice(b).unwrap_or(serde_json::Value::Null))
            .unwrap_or_default();
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                method: request.method().to_owned(),
                uri: request.uri().to_owned(),
                invocation_type: request
                    .headers()
                    .get("x-amz-invocation-type")
                    .map(str::to_owned),
                body,
            });
        let Some((status, error_type, body)) = self.answer else {
            return HttpConnectorFuture::ready(Err(ConnectorError::io(
                "connection refused".into(),
            )));
        };
        let status = StatusCode::try_from(status).unwrap_or_else(|_| unreachable!());
        let mut response = HttpResponse::new(status, SdkBody::from(body));
        if let Some(error_type) = error_type {
            response
                .headers_mut()
                .insert("x-amzn-errortype", error_type);
        }
        response
            .headers_mut()
            .insert("content-type", "application/json");
        HttpConnectorFuture::ready(Ok(response))
    }
}

fn client(canned: &Canned) -> aws_sdk_lambda::Client {
    let canned = canned.clone();
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .http_client(http_client_fn(move |_, _| {
            SharedHttpConnector::new(canned.clone())
        }))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn fuse(canned: &Canned) -> Fuse<LambdaSender, ManualClock> {
    let mut config = FuseConfig::new("orders", CONTROLLER);
    config.min_records = 1;
    config.sender_function = Some("orders-consumer".into());
    let sender = LambdaSender::new(client(canned), CONTROLLER);
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000));
    Fuse::with_clock(config, sender, clock).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn the_signal_is_an_event_invocation_of_the_controller() {
    let canned = Canned::new(Some((202, None, "")));
    let fuse = fuse(&canned);
    let observation = fuse.observe(10, 9, Some("req-7")).await;
    assert_eq!(observation.action, Action::Sent);

    let seen = canned.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    assert!(
        request
            .uri
            .starts_with("https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/")
            && request.uri.contains("floodgate%3Afuse/invocations"),
        "{}",
        request.uri
    );
    assert_eq!(request.invocation_type.as_deref(), Some("Event"));
    assert_eq!(request.body["floodgate"], "signal");
    assert_eq!(request.body["circuit"], "orders");
    assert_eq!(request.body["kind"], "record-failures");
    assert_eq!(
        request.body["window"],
        serde_json::json!({"seconds": 10, "records": 10, "failed": 9})
    );
    assert_eq!(request.body["sender"]["request_id"], "req-7");
    assert_eq!(fuse.stats().signals_sent, 1);
}

#[tokio::test]
async fn access_denied_is_a_refusal_with_its_code() {
    let canned = Canned::new(Some((
        403,
        Some("AccessDeniedException"),
        r#"{"Type":"User","message":"not authorized to perform lambda:InvokeFunction"}"#,
    )));
    let action = fuse(&canned).observe(10, 10, None).await.action;
    match action {
        Action::SendFailed(SendError::Refused { code, .. }) => {
            assert_eq!(code, "AccessDeniedException");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_one_attempt_not_retried_by_the_sdk() {
    let canned = Canned::new(Some((
        429,
        Some("TooManyRequestsException"),
        r#"{"Type":"User","message":"Rate exceeded","Reason":"CallerRateLimitExceeded"}"#,
    )));
    let fuse = fuse(&canned);
    let action = fuse.observe(10, 10, None).await.action;
    assert_eq!(
        action,
        Action::SendFailed(SendError::Throttled {
            code: "TooManyRequestsException".into()
        })
    );
    assert_eq!(canned.seen().len(), 1, "the SDK's retries are off");
    assert_eq!(fuse.stats().send_failures, 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unreachable() {
    let canned = Canned::new(None);
    let action = fuse(&canned).observe(10, 10, None).await.action;
    assert!(
        matches!(action, Action::SendFailed(SendError::Unreachable(_))),
        "{action:?}"
    );
}

#[tokio::test]
async fn an_answer_other_than_accepted_is_a_failure() {
    // A synchronous answer (200) means the invocation was not queued as an event.
    let canned = Canned::new(Some((200, None, "{}")));
    let action = fuse(&canned).observe(10, 10, None).await.action;
    assert!(
        matches!(action, Action::SendFailed(SendError::Other(_))),
        "{action:?}"
    );
}
