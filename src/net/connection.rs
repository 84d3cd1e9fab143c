//! One client connection: the only owner of its socket. Reads whole
//! frames (length checked against `socket.request.max.bytes` before
//! allocating), checks key and version against the versions table, decodes,
//! hands the request to the handlers, and writes the response.
//!
//! Kafka's connection behaviour for bad input: an unknown API key, a
//! version we do not serve (except ApiVersions, KIP-511), an undecodable
//! request or an oversize frame closes the connection; other clients are
//! unaffected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::Broker;
use crate::handlers::{self, Reply, RequestContext, unsupported_version_response};
use crate::ops::metrics;
use crate::protocol::codec::{decode_request, encode_response, peek_preamble};
use crate::protocol::versions::{self, supported_range};

pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    peer: SocketAddr,
    listener_name: String,
    broker: Arc<Broker>,
    cancel: CancellationToken,
}

/// Why a connection ends.
enum Close {
    /// The peer closed, idled out, or we are shutting down: not an error.
    Normal,
    /// The peer sent something Kafka answers by closing the connection.
    Protocol(String),
    Io(std::io::Error),
}

impl Connection {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        listener_name: String,
        broker: Arc<Broker>,
        cancel: CancellationToken,
    ) -> Self {
        let (r, w) = stream.into_split();
        Connection {
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: BufWriter::with_capacity(64 * 1024, w),
            peer,
            listener_name,
            broker,
            cancel,
        }
    }

    pub async fn run(mut self) {
        let span =
            tracing::debug_span!("connection", peer = %self.peer, listener = %self.listener_name);
        let outcome = async {
            loop {
                match self.serve_one().await {
                    Ok(()) => continue,
                    Err(close) => return close,
                }
            }
        }
        .instrument(span.clone())
        .await;
        let _enter = span.enter();
        match outcome {
            Close::Normal => tracing::debug!("connection closed"),
            Close::Protocol(reason) => {
                tracing::info!(peer = %self.peer, %reason, "closing connection")
            }
            Close::Io(e) => tracing::debug!(error = %e, "connection I/O error"),
        }
        let _ = self.writer.shutdown().await;
    }

    async fn read_frame(&mut self) -> Result<Bytes, Close> {
        let idle = Duration::from_millis(self.broker.config.connections_max_idle_ms.max(1) as u64);
        let len = tokio::select! {
            _ = self.cancel.cancelled() => return Err(Close::Normal),
            r = tokio::time::timeout(idle, self.reader.read_i32()) => match r {
                Err(_) => return Err(Close::Normal),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(Close::Normal),
                Ok(Err(e)) => return Err(Close::Io(e)),
                Ok(Ok(len)) => len,
            },
        };
        let max = self.broker.config.socket_request_max_bytes;
        if len < 0 || len > max {
            return Err(Close::Protocol(format!(
                "request frame of {len} bytes is outside 0..={max} (socket.request.max.bytes)"
            )));
        }
        let mut buf = BytesMut::zeroed(len as usize);
        self.reader
            .read_exact(&mut buf)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    Close::Protocol("connection closed in the middle of a frame".into())
                }
                _ => Close::Io(e),
            })?;
        Ok(buf.freeze())
    }

    async fn serve_one(&mut self) -> Result<(), Close> {
        let frame = self.read_frame().await?;
        let pre = peek_preamble(&frame).map_err(|e| Close::Protocol(e.to_string()))?;
        let api_key = ApiKey::try_from(pre.api_key)
            .map_err(|_| Close::Protocol(format!("unknown API key {}", pre.api_key)))?;
        let Some(range) = supported_range(api_key) else {
            return Err(Close::Protocol(format!("API {api_key:?} is not supported")));
        };
        if !versions::is_handled(api_key, pre.api_version) {
            if api_key == ApiKey::ApiVersions {
                // KIP-511: answer in v0 with our ranges so the client can retry.
                let resp = ResponseKind::ApiVersions(unsupported_version_response());
                let bytes = encode_response(api_key, 0, pre.correlation_id, &resp)
                    .map_err(|e| Close::Protocol(e.to_string()))?;
                return self.write(&bytes).await;
            }
            return Err(Close::Protocol(format!(
                "{} v{} is not supported (served: v{}..v{}{})",
                range.name,
                pre.api_version,
                if api_key == ApiKey::Produce {
                    versions::PRODUCE_REFUSED_BELOW
                } else {
                    range.min
                },
                range.max,
                if api_key == ApiKey::Produce {
                    "; message formats v0 and v1 are refused"
                } else {
                    ""
                },
            )));
        }
        let (header, request) = decode_request(api_key, pre.api_version, frame)
            .map_err(|e| Close::Protocol(e.to_string()))?;
        let ctx = RequestContext {
            api_version: pre.api_version,
            correlation_id: pre.correlation_id,
            client_id: header.client_id.as_ref().map(|c| c.to_string()),
            listener_name: self.listener_name.clone(),
            peer: self.peer,
        };
        let span = tracing::debug_span!(
            "request",
            api = range.name,
            api_version = pre.api_version,
            correlation_id = pre.correlation_id,
            client_id = ctx.client_id.as_deref().unwrap_or("")
        );
        let started = Instant::now();
        let handled = handlers::handle(&self.broker, &ctx, request).instrument(span);
        // JoinGroup and SyncGroup may wait for a whole rebalance; at
        // shutdown they are dropped unanswered (the client rejoins elsewhere
        // or after the restart) instead of holding the drain for minutes.
        let response = if matches!(api_key, ApiKey::JoinGroup | ApiKey::SyncGroup) {
            tokio::select! {
                r = handled => r,
                _ = self.cancel.cancelled() => return Err(Close::Normal),
            }
        } else {
            handled.await
        };
        metrics::record_request(range.name, started.elapsed());
        let response = match response {
            Reply::Send(response) => response,
            Reply::Nothing => return Ok(()),
            Reply::Unhandled => {
                return Err(Close::Protocol(format!("{} has no handler", range.name)));
            }
        };
        match encode_response(api_key, pre.api_version, pre.correlation_id, &response) {
            Ok(bytes) => self.write(&bytes).await,
            Err(e) => {
                metrics::record_request_error(range.name);
                tracing::error!(error = %e, "response could not be encoded; closing the connection");
                Err(Close::Protocol(e.to_string()))
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Close> {
        self.writer.write_all(bytes).await.map_err(Close::Io)?;
        // Always flush: the next request may be a long poll, and this
        // response must not wait behind it.
        self.writer.flush().await.map_err(Close::Io)
    }
}
