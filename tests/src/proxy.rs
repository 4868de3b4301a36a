//! A fault-injecting HTTP proxy in front of LocalStack.
//!
//! The controller Lambda runs as a host process, so pointing its `AWS_ENDPOINT_URL` at this
//! proxy puts every AWS call it makes through here. By default each request is forwarded to
//! LocalStack unchanged; [`FaultProxy::inject`] arms a fault for the next N requests of one
//! operation instead: an AWS error response in the service's own protocol (so the SDK parses
//! the error code exactly as it would from AWS), a stalled request (the SDK's attempt timeout
//! fires), or a dropped connection. Every request is logged as an [`Exchange`], which is also
//! how the reaction-time benchmark learns when the controller's `UpdateEventSourceMapping`
//! returned.
//!
//! Injecting on the wire rather than around the adapters in-process is deliberate: it runs the
//! real controller binary, the SDK's error deserialisers for restJson1 (Lambda), rpcv2Cbor
//! (`CloudWatch`) and awsJson1.0 (SQS), its timeout handling, and the crate's classification
//! of what the SDK reports.

use floodgate_core::Operation;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

use crate::HarnessError;

/// What the proxy does to a request instead of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with an AWS error: this HTTP status and error code, in the service's protocol.
    Error {
        /// HTTP status, e.g. 429 or 503.
        status: u16,
        /// The AWS error code, e.g. `TooManyRequestsException`.
        code: &'static str,
    },
    /// Answer nothing for this long, then close the connection; longer than the client's
    /// attempt timeout, this is a timeout.
    Stall(Duration),
    /// Close the connection without answering.
    Drop,
}

impl Fault {
    /// `429 TooManyRequestsException`, Lambda's throttling error.
    pub const THROTTLED: Self = Self::Error {
        status: 429,
        code: "TooManyRequestsException",
    };
    /// `400 ResourceInUseException`, what Lambda answers while a mapping is busy.
    pub const RESOURCE_IN_USE: Self = Self::Error {
        status: 400,
        code: "ResourceInUseException",
    };
    /// `503 ServiceException`, a 5xx from the service.
    pub const UNAVAILABLE: Self = Self::Error {
        status: 503,
        code: "ServiceException",
    };
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded; LocalStack answered with this status.
    Forwarded {
        /// HTTP status.
        status: u16,
    },
    /// A fault was injected instead.
    Injected(Fault),
    /// LocalStack could not be reached; the client got a 502.
    Unreachable(String),
}

/// One request through the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The AWS operation, e.g. `UpdateEventSourceMapping` (see [`operation_of`]).
    pub operation: String,
    /// The request body (lossy UTF-8; binary for `CloudWatch`'s CBOR).
    pub body: String,
    /// When the request was fully received.
    pub received: Instant,
    /// When the answer was sent; `None` for stalls and drops.
    pub answered: Option<Instant>,
    /// What happened.
    pub outcome: Outcome,
}

impl Exchange {
    /// Forwarded and answered with a 2xx.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Forwarded { status } if (200..300).contains(&status))
    }
}

#[derive(Debug)]
struct Rule {
    operation: String,
    fault: Fault,
    remaining: u32,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<Exchange>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panicking test poisons the lock; the log is still worth reading.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The proxy: listens on `127.0.0.1` on a free port until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Shared,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (an `http://host:port` URL).
    ///
    /// # Errors
    /// [`HarnessError::Io`] when the URL is not plain `http://host:port` or no port can be
    /// bound.
    pub async fn start(upstream: &str) -> Result<Self, HarnessError> {
        let authority = upstream
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|rest| !rest.contains('/'))
            .ok_or_else(|| HarnessError::Io {
                what: format!("proxying {upstream}"),
                source: std::io::Error::other("only plain http://host:port endpoints"),
            })?
            .to_owned();
        let listener =
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| HarnessError::Io {
                    what: "binding the fault proxy".to_owned(),
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| HarnessError::Io {
            what: "reading the fault proxy's address".to_owned(),
            source,
        })?;
        let shared = Shared::default();
        let server = tokio::spawn(serve(listener, Arc::clone(&shared), authority));
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// The URL to use as `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next `times` requests of `operation` get `fault` instead of an answer from
    /// LocalStack. Rules for one operation apply in the order they were armed.
    pub fn inject(&self, operation: Operation, fault: Fault, times: u32) {
        lock(&self.shared).rules.push(Rule {
            operation: operation.as_str().to_owned(),
            fault,
            remaining: times,
        });
    }

    /// Faults armed but not yet used, as `(operation, remaining)`.
    pub fn pending(&self) -> Vec<(String, u32)> {
        lock(&self.shared)
            .rules
            .iter()
            .filter(|r| r.remaining > 0)
            .map(|r| (r.operation.clone(), r.remaining))
            .collect()
    }

    /// Every request so far, in the order they arrived.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let mut log = lock(&self.shared).log.clone();
        log.sort_by_key(|e| e.received);
        log
    }

    /// Forgets the requests logged so far.
    pub fn clear(&self) {
        lock(&self.shared).log.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Shared, upstream: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                let upstream = upstream.clone();
                async move { handle(request, &shared, &upstream).await }
            });
            // A failed connection (a client that timed out, an injected drop) concerns only
            // that client.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why the proxy hangs up instead of answering (hyper closes the connection on an error).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the fault proxy")]
struct HangUp;

async fn handle(
    request: Request<Incoming>,
    shared: &Shared,
    upstream: &str,
) -> Result<Response<Full<Bytes>>, HangUp> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
    else {
        return Err(HangUp);
    };
    let received = Instant::now();
    let operation = operation_of(&parts.method, parts.uri.path(), &parts.headers);
    let fault = take_fault(shared, &operation);
    let record = |answered, outcome| {
        lock(shared).log.push(Exchange {
            operation: operation.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            received,
            answered,
            outcome,
        });
    };
    match fault {
        Some(fault @ Fault::Error { status, code }) => {
            let response = error_response(parts.uri.path(), status, code);
            record(Some(Instant::now()), Outcome::Injected(fault));
            Ok(response)
        }
        Some(fault @ Fault::Stall(stall)) => {
            record(None, Outcome::Injected(fault));
            sleep(stall).await;
            Err(HangUp)
        }
        Some(Fault::Drop) => {
            record(None, Outcome::Injected(Fault::Drop));
            Err(HangUp)
        }
        None => match forward(upstream, parts, body.clone()).await {
            Ok(response) => {
                let status = response.status().as_u16();
                record(Some(Instant::now()), Outcome::Forwarded { status });
                Ok(response)
            }
            Err(reason) => {
                record(Some(Instant::now()), Outcome::Unreachable(reason.clone()));
                let mut response = Response::new(Full::new(Bytes::from(reason)));
                *response.status_mut() = StatusCode::BAD_GATEWAY;
                Ok(response)
            }
        },
    }
}

fn take_fault(shared: &Shared, operation: &str) -> Option<Fault> {
    let mut state = lock(shared);
    let rule = state
        .rules
        .iter_mut()
        .find(|r| r.operation == operation && r.remaining > 0)?;
    rule.remaining -= 1;
    Some(rule.fault.clone())
}

/// Headers that describe one hop or a body framing the proxy re-does.
fn strip_hop_headers(headers: &mut HeaderMap) {
    for name in [CONNECTION, CONTENT_LENGTH, hyper::header::TRANSFER_ENCODING] {
        headers.remove(name);
    }
}

async fn forward(
    upstream: &str,
    mut parts: Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connecting to {upstream}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {upstream}: {e}"))?;
    tokio::spawn(connection);
    strip_hop_headers(&mut parts.headers);
    // The host header stays as the client sent it: it is part of the SigV4 signature.
    let response = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| format!("forwarding to {upstream}: {e}"))?;
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading {upstream}'s answer: {e}"))?
        .to_bytes();
    strip_hop_headers(&mut parts.headers);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The AWS operation of a request, from the protocol's own routing: the path of Lambda's REST
/// API, the `/operation/` segment of `CloudWatch`'s rpcv2, `X-Amz-Target` of SQS's JSON
/// protocol. Anything else is `METHOD path`.
pub fn operation_of(method: &Method, path: &str, headers: &HeaderMap) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    if let Some((_, operation)) = path.split_once("/operation/") {
        return operation.to_owned();
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let lambda = match (method.as_str(), segments.as_slice()) {
        ("GET", ["2015-03-31", "event-source-mappings", _]) => "GetEventSourceMapping",
        ("PUT", ["2015-03-31", "event-source-mappings", _]) => "UpdateEventSourceMapping",
        ("GET", ["2017-03-31", "tags", ..]) => "ListTags",
        ("POST", ["2017-03-31", "tags", ..]) => "TagResource",
        ("GET", ["2019-09-30", "functions", _, "concurrency"]) => "GetFunctionConcurrency",
        ("PUT", ["2017-10-31", "functions", _, "concurrency"]) => "PutFunctionConcurrency",
        ("DELETE", ["2017-10-31", "functions", _, "concurrency"]) => "DeleteFunctionConcurrency",
        ("POST", ["2015-03-31", "functions", _, "invocations"]) => "Invoke",
        _ => return format!("{method} {path}"),
    };
    lambda.to_owned()
}

/// An AWS error response in the protocol the request was made in.
fn error_response(path: &str, status: u16, code: &str) -> Response<Full<Bytes>> {
    let message = format!("injected by the floodgate test proxy: {code}");
    let (content_type, body) = if path.starts_with("/service/") {
        // rpcv2Cbor (CloudWatch): the code is `__type` in a CBOR map.
        let mut cbor = vec![0xa2];
        for text in ["__type", code, "message", &message] {
            cbor_text(&mut cbor, text);
        }
        ("application/cbor", cbor)
    } else {
        let json = serde_json::json!({ "__type": code, "message": message, "Type": "User" });
        ("application/json", json.to_string().into_bytes())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", value.clone());
        headers.insert("x-amzn-query-error", value);
    }
    if path.starts_with("/service/") {
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    response
}

/// Appends a CBOR text string (major type 3).
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    let len = text.len();
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short < 24 => out.push(0x60 | short),
        (Ok(byte), _) => out.extend([0x78, byte]),
        (_, Ok(wide)) => {
            out.push(0x79);
            out.extend(wide.to_be_bytes());
        }
        // Error messages here are a few dozen bytes.
        _ => unreachable!("CBOR text over 64 KiB"),
    }
    out.extend(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &Method, path: &str) -> String {
        operation_of(method, path, &HeaderMap::new())
    }

    #[test]
    fn operations_are_named_as_aws_names_them() {
        assert_eq!(
            op(&Method::PUT, "/2015-03-31/event-source-mappings/abc"),
            "UpdateEventSourceMapping"
        );
        assert_eq!(
            op(
                &Method::GET,
                "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Aevent-source-mapping%3Aabc"
            ),
            "ListTags"
        );
        assert_eq!(
            op(&Method::GET, "/2019-09-30/functions/f/concurrency"),
            "GetFunctionConcurrency"
        );
        assert_eq!(
            op(
                &Method::POST,
                "/service/GraniteServiceVersion20100801/operation/DescribeAlarms"
            ),
            "DescribeAlarms"
        );
        let mut sqs = HeaderMap::new();
        sqs.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonSQS.GetQueueAttributes"),
        );
        assert_eq!(operation_of(&Method::POST, "/", &sqs), "GetQueueAttributes");
        assert_eq!(op(&Method::GET, "/health"), "GET /health");
    }

    #[test]
    fn cbor_text_headers_follow_the_length() {
        let mut out = Vec::new();
        cbor_text(&mut out, "__type");
        assert_eq!(out, b"\x66__type");
        let long = "x".repeat(30);
        let mut out = Vec::new();
        cbor_text(&mut out, &long);
        assert_eq!(&out[..2], &[0x78, 30]);
        assert_eq!(out.len(), 32);
    }
}
