//! A minimal SQS-compatible sink: an HTTP server that answers `SendMessageBatch` and
//! `SendMessage` in the SQS JSON protocol (`X-Amz-Target: AmazonSQS.SendMessageBatch`,
//! `Content-Type: application/x-amz-json-1.0`) at once, accepting every entry. It exists so a
//! benchmark measures the generator, not an emulator. It keeps nothing but counters.
//!
//! `fail_every: Some(n)` makes every n-th entry fail with `InternalError` (not the sender's
//! fault), to exercise per-entry retries through the real SDK.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the sink has seen.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Entries accepted.
    pub accepted: AtomicU64,
    /// Entries failed on purpose.
    pub failed: AtomicU64,
}

/// How the sink answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkOptions {
    /// Fail every n-th entry (counted over all requests).
    pub fail_every: Option<u64>,
}

/// A running sink.
#[derive(Debug)]
pub struct Sink {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub stats: Arc<SinkStats>,
    task: JoinHandle<()>,
}

impl Sink {
    /// The endpoint URL to give the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a sink on `listener`.
///
/// # Errors
/// When the listener's address cannot be read.
pub fn start(listener: TcpListener, options: SinkOptions) -> std::io::Result<Sink> {
    let addr = listener.local_addr()?;
    let stats = Arc::new(SinkStats::default());
    let shared = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            // Latency matters more than throughput per packet for a request/response sink.
            let _ = stream.set_nodelay(true);
            let stats = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let stats = Arc::clone(&stats);
                    async move { Ok::<_, Infallible>(answer(request, &stats, options).await) }
                });
                // A client that hangs up mid-request is the client's business.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Sink { addr, stats, task })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchEntry {
    id: String,
    message_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchRequest {
    entries: Vec<BatchEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SingleRequest {
    message_body: String,
}

fn md5_hex(body: &str) -> String {
    Md5::digest(body.as_bytes())
        .iter()
        .fold(String::with_capacity(32), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn message_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn json_response(status: StatusCode, body: &Value, request_id: u64) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(id) = hyper::header::HeaderValue::from_str(&request_id.to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn client_error(code: &str, message: &str, request_id: u64) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": message }),
        request_id,
    )
}

async fn answer(
    request: Request<Incoming>,
    stats: &SinkStats,
    options: SinkOptions,
) -> Response<Full<Bytes>> {
    let request_id = stats.requests.fetch_add(1, Ordering::Relaxed);
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(body) = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
    else {
        return client_error("InvalidRequest", "the body could not be read", request_id);
    };
    match target.as_str() {
        "AmazonSQS.SendMessageBatch" => {
            let Ok(batch) = serde_json::from_slice::<BatchRequest>(&body) else {
                return client_error(
                    "InvalidParameterValue",
                    "not a SendMessageBatch request",
                    request_id,
                );
            };
            let mut successful = Vec::with_capacity(batch.entries.len());
            let mut failed = Vec::new();
            for entry in batch.entries {
                let n = stats.accepted.load(Ordering::Relaxed)
                    + stats.failed.load(Ordering::Relaxed)
                    + 1;
                if options
                    .fail_every
                    .is_some_and(|every| every > 0 && n.is_multiple_of(every))
                {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    failed.push(json!({
                        "Id": entry.id, "SenderFault": false, "Code": "InternalError",
                        "Message": "failed on purpose by the sink",
                    }));
                } else {
                    let n = stats.accepted.fetch_add(1, Ordering::Relaxed);
                    successful.push(json!({
                        "Id": entry.id,
                        "MessageId": message_id(n),
                        "MD5OfMessageBody": md5_hex(&entry.message_body),
                    }));
                }
            }
            json_response(
                StatusCode::OK,
                &json!({ "Successful": successful, "Failed": failed }),
                request_id,
            )
        }
        "AmazonSQS.SendMessage" => {
            let Ok(single) = serde_json::from_slice::<SingleRequest>(&body) else {
                return client_error(
                    "InvalidParameterValue",
                    "not a SendMessage request",
                    request_id,
                );
            };
            let n = stats.accepted.fetch_add(1, Ordering::Relaxed);
            json_response(
                StatusCode::OK,
                &json!({ "MessageId": message_id(n), "MD5OfMessageBody": md5_hex(&single.message_body) }),
                request_id,
            )
        }
        other => client_error(
            "UnsupportedOperation",
            &format!("this sink answers SendMessage and SendMessageBatch only, not {other:?}"),
            request_id,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_the_sqs_body_digest() {
        // MD5 of "hello", as SQS reports it in MD5OfMessageBody.
        assert_eq!(md5_hex("hello"), "5d41402abc4b2a76b9719d911017c592");
    }
}
