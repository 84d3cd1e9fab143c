//! A small blocking Kafka admin client for the `runnel` command line: one
//! connection per broker, one request at a time, every request framed and
//! decoded by the `kafka-protocol` codec. Each connection first asks
//! ApiVersions; a request then goes out in the highest version both the
//! broker and the command know, so the same commands work against Runnel
//! and Apache Kafka. Requests that must reach one broker (a group's
//! coordinator, a partition's leader) go to it by node id, its address
//! taken from the last Metadata answer.
//! Kafka counterpart: `NetworkClient` with `ApiVersions` under the Java
//! `KafkaAdminClient`, without its pipelining or retries.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Request, StrBytes};

use super::error::CliError;
use crate::protocol::client::{self, API_VERSIONS_VERSION, ClientError, UNSUPPORTED_VERSION};

const CLIENT_ID: &str = "runnel-cli";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any broker: the first of the bootstrap list that answered.
    Any,
    /// The broker with this node id.
    Node(i32),
}

/// One broker connection and the versions it offers.
struct Connection {
    address: String,
    stream: TcpStream,
    /// API key → (min, max) the broker serves.
    versions: HashMap<i16, (i16, i16)>,
    correlation_id: i32,
}

pub struct AdminClient {
    bootstrap: Vec<String>,
    timeout: Duration,
    /// Address of the broker that answered first.
    any: Option<String>,
    /// Address → connection.
    connections: HashMap<String, Connection>,
    /// Node id → advertised `host:port`, from the last Metadata answer.
    brokers: HashMap<i32, String>,
}

impl AdminClient {
    /// `bootstrap`: `host:port` addresses, tried in order. `timeout` bounds
    /// each connect and each request.
    pub fn new(bootstrap: Vec<String>, timeout: Duration) -> AdminClient {
        AdminClient {
            bootstrap,
            timeout,
            any: None,
            connections: HashMap::new(),
            brokers: HashMap::new(),
        }
    }

    pub fn timeout_ms(&self) -> i32 {
        i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Sends the request `build(version)` makes, in the highest version
    /// within `ours` that the target serves; returns that version and the
    /// answer. `build` sets fields by version: the codec refuses a field
    /// the chosen version lacks.
    pub fn call<R: Request>(
        &mut self,
        target: Target,
        ours: RangeInclusive<i16>,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(i16, R::Response), CliError> {
        let address = self.address_of(target)?;
        let timeout = self.timeout;
        let conn = self.connection(&address)?;
        let version = conn.pick_version::<R>(&ours)?;
        let request = build(version);
        let response = conn.exchange::<R>(&request, version, timeout);
        if response.is_err() {
            // A connection that failed mid-request is not reused.
            self.connections.remove(&address);
        }
        Ok((version, response?))
    }

    /// The broker's version range of `key`, if it serves it.
    pub fn versions(
        &mut self,
        target: Target,
        key: ApiKey,
    ) -> Result<Option<(i16, i16)>, CliError> {
        let address = self.address_of(target)?;
        Ok(self
            .connection(&address)?
            .versions
            .get(&(key as i16))
            .copied())
    }

    /// Metadata for `topics` (`None`: every topic), never creating one.
    /// Remembers the brokers' addresses for [`Target::Node`].
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse, CliError> {
        let (_, response) = self.call(Target::Any, 1..=12, |version| {
            let topics = topics.map(|names| {
                names
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    })
                    .collect()
            });
            let request = MetadataRequest::default().with_topics(topics);
            if version >= 4 {
                request.with_allow_auto_topic_creation(false)
            } else {
                request
            }
        })?;
        self.brokers = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, join_host_port(&b.host, b.port)))
            .collect();
        Ok(response)
    }

    /// The bootstrap address that answered, once one has.
    pub fn any_address(&self) -> Option<String> {
        self.any.clone()
    }

    fn address_of(&mut self, target: Target) -> Result<String, CliError> {
        match target {
            Target::Any => {
                if let Some(a) = &self.any {
                    return Ok(a.clone());
                }
                let mut last = None;
                for address in self.bootstrap.clone() {
                    match self.connection(&address) {
                        Ok(_) => {
                            self.any = Some(address.clone());
                            return Ok(address);
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| CliError::Usage("no broker address given".into())))
            }
            Target::Node(id) => {
                if !self.brokers.contains_key(&id) {
                    self.metadata(Some(&[]))?;
                }
                self.brokers.get(&id).cloned().ok_or_else(|| {
                    CliError::Refused(format!("broker {id} is not in the cluster's metadata"))
                })
            }
        }
    }

    fn connection(&mut self, address: &str) -> Result<&mut Connection, CliError> {
        if !self.connections.contains_key(address) {
            let conn = Connection::open(address, self.timeout)?;
            self.connections.insert(address.to_string(), conn);
        }
        Ok(self
            .connections
            .get_mut(address)
            .expect("inserted just above"))
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Connection {
    fn open(address: &str, timeout: Duration) -> Result<Connection, CliError> {
        let unreachable = |reason: String| CliError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let addrs: Vec<_> = address
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .collect();
        let mut last = "it resolves to no address".to_string();
        let mut stream = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let stream = stream.ok_or_else(|| unreachable(last))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            address: address.to_string(),
            stream,
            versions: HashMap::new(),
            correlation_id: 0,
        };
        conn.negotiate(timeout)?;
        Ok(conn)
    }

    /// ApiVersions: v3, or v0 when the broker answers that it lacks v3.
    fn negotiate(&mut self, timeout: Duration) -> Result<(), CliError> {
        let request = client::api_versions_request(CLIENT_ID);
        let mut response = self.exchange_api_versions(&request, API_VERSIONS_VERSION, timeout)?;
        if response.error_code == UNSUPPORTED_VERSION {
            response = self.exchange_api_versions(&ApiVersionsRequest::default(), 0, timeout)?;
        }
        if response.error_code != 0 {
            return Err(CliError::kafka(
                format!("ApiVersions to {}", self.address),
                response.error_code,
                None,
            ));
        }
        self.versions = client::version_ranges(&response);
        Ok(())
    }

    /// An ApiVersions exchange: a broker without the version asked answers
    /// in v0.
    fn exchange_api_versions(
        &mut self,
        request: &ApiVersionsRequest,
        version: i16,
        timeout: Duration,
    ) -> Result<ApiVersionsResponse, CliError> {
        let body = self.round_trip::<ApiVersionsRequest>(request, version, timeout)?;
        client::decode_api_versions(body, version).map_err(|e| self.protocol(e))
    }

    /// The highest version in `ours`, the codec's range and the broker's.
    fn pick_version<R: Request>(&self, ours: &RangeInclusive<i16>) -> Result<i16, CliError> {
        client::pick_version::<R>(&self.address, &self.versions, ours).map_err(|e| match e {
            ClientError::Unsupported {
                address,
                api,
                wanted,
                offered,
            } => CliError::Unsupported {
                address,
                api,
                wanted,
                offered,
            },
            other => CliError::Usage(other.to_string()),
        })
    }

    fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, CliError> {
        let mut body = self.round_trip::<R>(request, version, timeout)?;
        let response =
            R::Response::decode(&mut body, version).map_err(|e| self.protocol(e.to_string()))?;
        Ok(response)
    }

    /// Writes one request frame and reads its answer; returns the body after
    /// the response header.
    fn round_trip<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes, CliError> {
        self.correlation_id += 1;
        let correlation_id = self.correlation_id;
        let frame = client::encode_request_frame(request, version, correlation_id, CLIENT_ID)
            .map_err(|e| CliError::Usage(e.to_string()))?;

        let deadline = Instant::now() + timeout;
        self.set_timeouts(deadline)?;
        self.stream.write_all(&frame).map_err(|e| self.io(e))?;
        let mut len = [0u8; 4];
        self.set_timeouts(deadline)?;
        self.stream.read_exact(&mut len).map_err(|e| self.io(e))?;
        let len = client::response_length(len).map_err(|e| self.protocol(e))?;
        let mut body = vec![0u8; len];
        self.set_timeouts(deadline)?;
        self.stream.read_exact(&mut body).map_err(|e| self.io(e))?;
        client::strip_response_header::<R>(Bytes::from(body), version, correlation_id)
            .map_err(|e| self.protocol(e))
    }

    fn set_timeouts(&self, deadline: Instant) -> Result<(), CliError> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(left))
            .and_then(|()| self.stream.set_write_timeout(Some(left)))
            .map_err(|e| self.io(e))
    }

    fn io(&self, e: std::io::Error) -> CliError {
        let reason = match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "no answer within the request timeout".to_string()
            }
            std::io::ErrorKind::UnexpectedEof => "the broker closed the connection".to_string(),
            _ => e.to_string(),
        };
        CliError::Io {
            address: self.address.clone(),
            reason,
        }
    }

    fn protocol(&self, reason: String) -> CliError {
        CliError::Protocol {
            address: self.address.clone(),
            reason,
        }
    }
}
