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
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::handlers::Broker;
use crate::handlers::{self, Reply, RequestContext, unsupported_version_response};
use crate::log::segment::FileSlice;
use crate::ops::metrics;
use crate::protocol::codec::{decode_request, encode_response, peek_preamble};
use crate::protocol::error_counts::{error_counts, error_name};
use crate::protocol::versions::{self, ListenerKind};
use crate::protocol::zero_copy::{self, Chunk};

pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    peer: SocketAddr,
    listener_name: String,
    /// Which versions table this listener serves.
    kind: ListenerKind,
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
        kind: ListenerKind,
        broker: Arc<Broker>,
        cancel: CancellationToken,
    ) -> Self {
        let (r, w) = stream.into_split();
        Connection {
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: BufWriter::with_capacity(64 * 1024, w),
            peer,
            listener_name,
            kind,
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
        // Read into spare capacity: no zeroing of what is overwritten anyway.
        let len = len as usize;
        let mut buf = BytesMut::with_capacity(len);
        while buf.len() < len {
            let want = (len - buf.len()) as u64;
            let n = (&mut self.reader)
                .take(want)
                .read_buf(&mut buf)
                .await
                .map_err(Close::Io)?;
            if n == 0 {
                return Err(Close::Protocol(
                    "connection closed in the middle of a frame".into(),
                ));
            }
        }
        Ok(buf.freeze())
    }

    async fn serve_one(&mut self) -> Result<(), Close> {
        let frame = self.read_frame().await?;
        let pre = peek_preamble(&frame).map_err(|e| Close::Protocol(e.to_string()))?;
        let api_key = ApiKey::try_from(pre.api_key)
            .map_err(|_| Close::Protocol(format!("unknown API key {}", pre.api_key)))?;
        let Some(range) = self.kind.range(api_key) else {
            return Err(Close::Protocol(match self.kind {
                ListenerKind::Client => format!("API {api_key:?} is not supported"),
                ListenerKind::Controller => {
                    format!("API {api_key:?} is not served on a controller listener")
                }
            }));
        };
        if !self.kind.is_handled(api_key, pre.api_version) {
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
            listener_kind: self.kind,
            peer: self.peer,
            forwarded: false,
        };
        let span = tracing::debug_span!(
            "request",
            api = range.name,
            api_version = pre.api_version,
            correlation_id = pre.correlation_id,
            client_id = ctx.client_id.as_deref().unwrap_or("")
        );
        // Responses already written but not flushed (see `write`) must not
        // wait behind a request that may wait itself (a long-polling fetch).
        if !never_waits(&request) {
            self.writer.flush().await.map_err(Close::Io)?;
        }
        let started = Instant::now();
        let handled =
            zero_copy::collect(handlers::handle(&self.broker, &ctx, request).instrument(span));
        // JoinGroup and SyncGroup may wait for a whole rebalance; at
        // shutdown they are dropped unanswered (the client rejoins elsewhere
        // or after the restart) instead of holding the drain for minutes.
        let (response, file_slices) = if matches!(api_key, ApiKey::JoinGroup | ApiKey::SyncGroup) {
            tokio::select! {
                r = handled => r,
                _ = self.cancel.cancelled() => return Err(Close::Normal),
            }
        } else {
            handled.await
        };
        metrics::record_request(range.name, started.elapsed());
        let response = match response {
            Reply::Send(response) => {
                for (code, n) in error_counts(&response) {
                    metrics::record_response_error(range.name, error_name(code), n);
                }
                response
            }
            Reply::Nothing => return Ok(()),
            Reply::Close => {
                tracing::debug!("acks=0 produce failed; closing the connection as Kafka does");
                return Err(Close::Normal);
            }
            Reply::Unhandled => {
                return Err(Close::Protocol(format!("{} has no handler", range.name)));
            }
        };
        let encoded = if file_slices.is_empty() {
            encode_response(api_key, pre.api_version, pre.correlation_id, &response)
                .map(|bytes| vec![Chunk::Bytes(bytes)])
        } else {
            zero_copy::encode_response_chunks(
                api_key,
                pre.api_version,
                pre.correlation_id,
                &response,
                file_slices,
            )
        };
        match encoded {
            Ok(chunks) => self.write_chunks(chunks).await,
            Err(e) => {
                metrics::record_request_error(range.name);
                tracing::error!(error = %e, "response could not be encoded; closing the connection");
                Err(Close::Protocol(e.to_string()))
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Close> {
        self.writer.write_all(bytes).await.map_err(Close::Io)?;
        self.writer.flush().await.map_err(Close::Io)
    }

    /// Writes a response's pieces in order: bytes through the buffer,
    /// file slices straight from the page cache (`sendfile`). The flush is
    /// left out while the next request is already buffered, so pipelined
    /// requests get their responses in one write; `serve_one` flushes
    /// before any request that may wait.
    async fn write_chunks(&mut self, chunks: Vec<Chunk>) -> Result<(), Close> {
        for chunk in chunks {
            match chunk {
                Chunk::Bytes(bytes) => self.writer.write_all(&bytes).await.map_err(Close::Io)?,
                Chunk::File(slice) => {
                    self.writer.flush().await.map_err(Close::Io)?;
                    send_file(self.writer.get_ref().as_ref(), &slice)
                        .await
                        .map_err(Close::Io)?;
                }
            }
        }
        if !self.next_frame_buffered() {
            self.writer.flush().await.map_err(Close::Io)?;
        }
        Ok(())
    }

    /// Whether a whole request frame is already in the read buffer.
    fn next_frame_buffered(&self) -> bool {
        let buffered = self.reader.buffer();
        buffered.len() >= 4
            && i32::from_be_bytes([buffered[0], buffered[1], buffered[2], buffered[3]])
                .try_into()
                .is_ok_and(|len: usize| buffered.len() - 4 >= len)
    }
}

/// Requests whose handling never waits on anything but the local disk:
/// their responses may stay in the write buffer while they run. Produce
/// with acks=all waits for the high watermark, which replication will make
/// a real wait.
fn never_waits(request: &RequestKind) -> bool {
    matches!(request, RequestKind::Produce(p) if p.acks != -1)
}

/// Sends `slice` from its file to the socket with `sendfile`: the bytes go
/// from the page cache to the socket without entering our memory.
async fn send_file(stream: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let socket = stream.as_raw_fd();
    let file = slice.file().as_raw_fd();
    let mut offset = libc::off_t::try_from(slice.position())
        .map_err(|_| std::io::Error::other("file position out of range"))?;
    let mut left = slice.len();
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (we borrow
            // the stream and the slice holds its segment open); `offset`
            // is a valid off_t the kernel advances.
            let n = unsafe { libc::sendfile(socket, file, &mut offset, left) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            // The file ends early: only a truncation racing this fetch does
            // that, and the frame length is already on the wire. Kafka
            // closes the connection too.
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{slice:?} was truncated while being sent"),
                ));
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
