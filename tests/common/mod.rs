//! Harness shared by the `protocol_*` integration tests: the `runnel` binary
//! started as a child process on an ephemeral port, and a small blocking
//! client that speaks the Kafka wire protocol through the `kafka-protocol`
//! codec (4-byte big-endian frames, request header + body, response header +
//! body), so tests see exact versions, error codes and connection closes.
//!
//! Each test binary shares one broker ([`shared_broker`]) where it can; tests
//! keep out of each other's way with [`unique_topic`] names. Brokers a test
//! owns are stopped when dropped; the shared one is stopped at process exit
//! (and dies with the test process through `PR_SET_PDEATHSIG` if that
//! process is killed).

#![allow(dead_code)]

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiVersionsRequest, CreateTopicsRequest, FetchRequest, InitProducerIdRequest, MetadataRequest,
    ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use uuid::Uuid;

/// How long a broker may take to answer its first ApiVersions.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits for any one response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// A topic name no other test (in this or another test binary) uses.
pub fn unique_topic(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// A `runnel` child process serving PLAINTEXT on 127.0.0.1.
pub struct BrokerProcess {
    child: Option<Child>,
    pub port: u16,
    /// The controller listener's port, for a broker started with one.
    pub controller_port: Option<u16>,
    /// For a broker-only node: its node id, and the controller port and
    /// cluster id of the node whose controller it joins.
    joins: Option<(i32, u16, String)>,
    /// The `log.dirs` directory (survives restarts).
    pub data_dir: PathBuf,
    log_path: PathBuf,
    overrides: Vec<(String, String)>,
    /// Set when this process owns the temporary directory.
    _root: Option<tempfile::TempDir>,
}

impl BrokerProcess {
    /// Starts a broker on a fresh temporary directory. `overrides` are Kafka
    /// property names and values added after the harness defaults.
    pub fn start(overrides: &[(&str, &str)]) -> BrokerProcess {
        Self::start_inner(overrides, false)
    }

    /// As [`Self::start`], with a controller listener `CONTROLLER` on its
    /// own port, named in `controller.quorum.voters` as Kafka's single-node
    /// examples do.
    pub fn start_with_controller_listener(overrides: &[(&str, &str)]) -> BrokerProcess {
        Self::start_inner(overrides, true)
    }

    /// A broker-only node (`process.roles=broker`, node id `node_id`) that
    /// joins the cluster of `controller`, a node started with
    /// [`Self::start_with_controller_listener`].
    pub fn start_broker_of(
        controller: &BrokerProcess,
        node_id: i32,
        overrides: &[(&str, &str)],
    ) -> BrokerProcess {
        let port = controller
            .controller_port
            .expect("the controller node has a controller listener");
        let joins = (node_id, port, controller.cluster_id());
        Self::start_inner_as(overrides, false, Some(joins))
    }

    /// As [`Self::start`], with `log.dirs` the directory `data_dir`, which
    /// the caller prepared (a small filesystem mounted there) and removes.
    pub fn start_on(data_dir: &Path, overrides: &[(&str, &str)]) -> BrokerProcess {
        Self::launched(Some(data_dir.to_path_buf()), overrides, false, None)
    }

    /// Waits up to `within` for the broker to exit on its own; its status,
    /// or None if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut().expect("broker was started");
            if let Some(status) = child.try_wait().expect("waiting for the broker") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The cluster id in the node's `meta.properties`.
    pub fn cluster_id(&self) -> String {
        let props = std::fs::read_to_string(self.data_dir.join("meta.properties"))
            .expect("reading meta.properties");
        props
            .lines()
            .find_map(|l| l.strip_prefix("cluster.id="))
            .expect("meta.properties names the cluster")
            .trim()
            .to_string()
    }

    fn start_inner(overrides: &[(&str, &str)], controller: bool) -> BrokerProcess {
        Self::start_inner_as(overrides, controller, None)
    }

    fn start_inner_as(
        overrides: &[(&str, &str)],
        controller: bool,
        joins: Option<(i32, u16, String)>,
    ) -> BrokerProcess {
        Self::launched(None, overrides, controller, joins)
    }

    /// A started broker whose log and (unless `data_dir` is given) data
    /// live in a fresh temporary directory.
    fn launched(
        data_dir: Option<PathBuf>,
        overrides: &[(&str, &str)],
        controller: bool,
        joins: Option<(i32, u16, String)>,
    ) -> BrokerProcess {
        let root = tempfile::Builder::new()
            .prefix("runnel-it-")
            .tempdir()
            .expect("creating a temporary directory");
        let data_dir = data_dir.unwrap_or_else(|| root.path().join("data"));
        let log_path = root.path().join("broker.log");
        let mut b = BrokerProcess {
            child: None,
            port: 0,
            controller_port: controller.then_some(0),
            joins,
            data_dir,
            log_path,
            overrides: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _root: Some(root),
        };
        b.launch();
        b
    }

    /// Starts the broker again on the same data directory (and a new port)
    /// after [`Self::terminate`] or [`Self::kill`].
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running broker");
        self.launch();
    }

    fn launch(&mut self) {
        // The port is free when probed but may be taken before the broker
        // binds it; a broker that exits at start is retried on another port.
        for attempt in 0..3 {
            self.port = free_port();
            if self.controller_port.is_some() {
                self.controller_port = Some(free_port());
            }
            let child = self.spawn_child();
            self.child = Some(child);
            match self.wait_ready() {
                Ok(()) => return,
                Err(e) if attempt < 2 && e.contains("exited") => {
                    self.child = None;
                    continue;
                }
                Err(e) => panic!("broker did not become ready: {e}\n{}", self.log_tail(40)),
            }
        }
    }

    fn spawn_child(&self) -> Child {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the broker log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
        let mut listeners = format!("PLAINTEXT://127.0.0.1:{}", self.port);
        let mut controller = Vec::new();
        if let Some(port) = self.controller_port {
            listeners.push_str(&format!(",CONTROLLER://127.0.0.1:{port}"));
            controller.push((
                "controller.listener.names".to_string(),
                "CONTROLLER".to_string(),
            ));
            controller.push((
                "controller.quorum.voters".to_string(),
                format!("1@127.0.0.1:{port}"),
            ));
        }
        if let Some((node_id, port, cluster_id)) = &self.joins {
            for (k, v) in [
                ("process.roles", "broker".to_string()),
                ("node.id", node_id.to_string()),
                ("controller.listener.names", "CONTROLLER".to_string()),
                ("controller.quorum.voters", format!("1@127.0.0.1:{port}")),
                ("cluster.id", cluster_id.clone()),
            ] {
                controller.push((k.to_string(), v));
            }
        }
        let defaults = [
            ("listeners".to_string(), listeners),
            (
                "log.dirs".to_string(),
                self.data_dir.to_string_lossy().into_owned(),
            ),
            ("runnel.metrics.listener".to_string(), String::new()),
            ("auto.create.topics.enable".to_string(), "false".to_string()),
            ("runnel.log.filter".to_string(), "debug".to_string()),
        ];
        for (k, v) in defaults
            .iter()
            .chain(controller.iter())
            .chain(self.overrides.iter())
        {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log file handle"))
            .stderr(log);
        // SAFETY: prctl is async-signal-safe and touches only this process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        cmd.spawn().expect("spawning the runnel binary")
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("broker exited at start with {status}"));
            }
            if let Ok(mut c) = Client::try_connect(self.port)
                && c.try_call(&ApiVersionsRequest::default(), 3).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no ApiVersions answer on port {} within {READY_TIMEOUT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn connect(&self) -> Client {
        Client::try_connect(self.port)
            .unwrap_or_else(|e| panic!("connecting to the broker on {}: {e}", self.port))
    }

    /// A connection to the controller listener.
    pub fn connect_controller(&self) -> Client {
        let port = self
            .controller_port
            .expect("started with a controller listener");
        Client::try_connect(port)
            .unwrap_or_else(|e| panic!("connecting to the controller listener on {port}: {e}"))
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("broker is running").id() as i32
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker is running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the broker") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "broker did not exit within 10 s of SIGTERM\n{}",
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a crash, no shutdown work at all.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("broker is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        strip_ansi(&s)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "--- broker log ({}) last {} lines ---\n{}",
            self.log_path.display(),
            all.len() - from,
            all[from..].join("\n")
        )
    }

    /// Log lines that explain a closed connection or a failed encode.
    pub fn log_lines_matching(&self, needles: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Removes the terminal colour sequences (`ESC [ ... m`) of text logs.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

static SHARED: OnceLock<BrokerProcess> = OnceLock::new();
static SHARED_CLEANUP: OnceLock<(i32, PathBuf)> = OnceLock::new();

extern "C" fn stop_shared_broker() {
    if let Some((pid, dir)) = SHARED_CLEANUP.get() {
        // SAFETY: signalling and reaping our own child at process exit.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
            libc::waitpid(*pid, std::ptr::null_mut(), 0);
        }
        // RUNNEL_IT_KEEP_LOGS=1 keeps the directory (and broker.log) for a look.
        if std::env::var_os("RUNNEL_IT_KEEP_LOGS").is_some() {
            eprintln!("shared broker directory kept: {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The broker shared by every test in this test binary (default config
/// plus `overrides`, which must be the same at every call site).
///
/// It is spawned from a thread that never ends, because the parent-death
/// signal fires when the spawning *thread* exits, and test threads do.
pub fn shared_broker_with(
    overrides: &'static [(&'static str, &'static str)],
) -> &'static BrokerProcess {
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shared-broker".into())
            .spawn(move || {
                let b = BrokerProcess::start(overrides);
                tx.send(b).expect("handing over the shared broker");
                loop {
                    std::thread::park();
                }
            })
            .expect("spawning the shared broker thread");
        let mut b = rx.recv().expect("the shared broker failed to start");
        let root = b._root.take().expect("a fresh broker owns its directory");
        let root = root.keep();
        SHARED_CLEANUP
            .set((b.pid(), root))
            .expect("shared broker initialised once");
        // SAFETY: registering a plain extern "C" function.
        unsafe {
            libc::atexit(stop_shared_broker);
        }
        b
    })
}

pub fn shared_broker() -> &'static BrokerProcess {
    shared_broker_with(&[])
}

/// Why a call got no decodable response.
#[derive(Debug)]
pub enum CallError {
    /// The test could not encode its own request: a test bug.
    Encode(String),
    /// The broker closed the connection (or reset it) instead of answering.
    Closed(String),
    /// A response came back but did not decode as the expected version.
    Decode(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Encode(e) => write!(f, "test could not encode its request: {e}"),
            CallError::Closed(e) => write!(f, "broker closed the connection: {e}"),
            CallError::Decode(e) => write!(f, "response did not decode: {e}"),
        }
    }
}

/// A blocking Kafka client on one connection.
pub struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    pub fn try_connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            correlation_id: 0,
        })
    }

    /// Writes raw bytes (frame length included, if any).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Encodes header + body of `req` at `version` and frames it.
    pub fn encode_request<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<(i32, Bytes), CallError> {
        self.correlation_id += 1;
        let correlation_id = self.correlation_id;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(str_bytes("runnel-protocol-tests")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(|e| CallError::Encode(format!("request header: {e}")))?;
        req.encode(&mut body, version)
            .map_err(|e| CallError::Encode(format!("{e}")))?;
        let mut framed = BytesMut::with_capacity(4 + body.len());
        framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
        framed.extend_from_slice(&body);
        Ok((correlation_id, framed.freeze()))
    }

    /// Reads one response frame (without its length prefix).
    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if len < 0 {
            return Err(std::io::Error::other(format!(
                "negative frame length {len}"
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Decodes a response frame as `R::Response` at `version`, checking the
    /// correlation id and that no bytes are left over.
    pub fn decode_response<R: Request>(
        frame: Bytes,
        version: i16,
        correlation_id: i32,
    ) -> Result<R::Response, CallError> {
        let mut frame = frame;
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .map_err(|e| CallError::Decode(format!("response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(CallError::Decode(format!(
                "correlation id {} answered request {correlation_id}",
                header.correlation_id
            )));
        }
        let body = R::Response::decode(&mut frame, version)
            .map_err(|e| CallError::Decode(format!("body v{version}: {e}")))?;
        if frame.has_remaining() {
            return Err(CallError::Decode(format!(
                "{} bytes left over after the v{version} body",
                frame.remaining()
            )));
        }
        Ok(body)
    }

    /// Sends `req` at `version` and decodes the response as that version.
    pub fn try_call<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, CallError> {
        let (correlation_id, framed) = self.encode_request(req, version)?;
        self.send_raw(&framed)
            .map_err(|e| CallError::Closed(format!("write: {e}")))?;
        let frame = self
            .read_frame()
            .map_err(|e| CallError::Closed(format!("read: {e}")))?;
        Self::decode_response::<R>(frame, version, correlation_id)
    }

    /// [`Self::try_call`] that panics with the reason.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.try_call(req, version)
            .unwrap_or_else(|e| panic!("API key {} v{version}: {e}", R::KEY))
    }

    /// Whether the broker closed this connection: a read sees end of file or
    /// a reset within `wait` (a timeout means it is still open).
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(wait))
            .expect("setting a read timeout");
        let mut b = [0u8; 1];
        let closed = match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("setting a read timeout");
        closed
    }

    /// Sends `req` and expects the broker to close the connection unanswered.
    pub fn expect_closed<R: Request>(&mut self, req: &R, version: i16) -> Result<(), String> {
        match self.try_call(req, version) {
            Err(CallError::Closed(_)) => Ok(()),
            Err(e) => Err(format!("expected the connection closed, got {e}")),
            Ok(_) => Err(format!(
                "expected the connection closed, got a v{version} response"
            )),
        }
    }
}

// ---- requests the tests build again and again

/// CreateTopics v7 of one topic; returns the error code.
pub fn create_topic_code(
    c: &mut Client,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(str_bytes(k))
                        .with_value(Some(str_bytes(v)))
                })
                .collect(),
        );
    let resp = c.call(
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000),
        7,
    );
    assert_eq!(resp.topics.len(), 1, "one result per topic");
    resp.topics[0].error_code
}

/// Creates a topic and asserts success.
pub fn create_topic(c: &mut Client, name: &str, partitions: i32) {
    let code = create_topic_code(c, name, partitions, &[]);
    assert_eq!(code, 0, "creating topic {name}");
}

/// The topic id reported by Metadata v12.
pub fn topic_id(c: &mut Client, name: &str) -> Uuid {
    let resp = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(name))),
        ])),
        12,
    );
    let t = &resp.topics[0];
    assert_eq!(t.error_code, 0, "metadata of {name}");
    assert!(!t.topic_id.is_nil(), "topic {name} has an id");
    t.topic_id
}

pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

/// Produces one batch and returns the partition's response.
pub fn try_produce(
    c: &mut Client,
    version: i16,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> Result<PartitionProduceResponse, CallError> {
    let resp = c.try_call(&produce_request(topic, partition, records, acks), version)?;
    let t = resp
        .responses
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Decode("produce response without topics".into()))?;
    t.partition_responses
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Decode("produce response without partitions".into()))
}

pub fn produce(
    c: &mut Client,
    version: i16,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> PartitionProduceResponse {
    try_produce(c, version, topic, partition, records, acks)
        .unwrap_or_else(|e| panic!("produce v{version} to {topic}: {e}"))
}

/// A Fetch request of one partition, naming the topic the way `version` does.
pub fn fetch_request(
    version: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
) -> FetchRequest {
    let mut t = FetchTopic::default().with_partitions(vec![
        FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(1 << 20),
    ]);
    t = if version >= 13 {
        t.with_topic_id(id)
    } else {
        t.with_topic(topic_name(topic))
    };
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(4 << 20)
        .with_topics(vec![t])
}

pub fn try_fetch(
    c: &mut Client,
    version: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
) -> Result<PartitionData, CallError> {
    let resp = c.try_call(
        &fetch_request(version, topic, id, partition, offset),
        version,
    )?;
    if resp.error_code != 0 {
        return Err(CallError::Decode(format!(
            "fetch top-level error {}",
            resp.error_code
        )));
    }
    let t = resp
        .responses
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Decode("fetch response without topics".into()))?;
    t.partitions
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Decode("fetch response without partitions".into()))
}

pub fn fetch(
    c: &mut Client,
    version: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
) -> PartitionData {
    try_fetch(c, version, topic, id, partition, offset)
        .unwrap_or_else(|e| panic!("fetch v{version} of {topic}: {e}"))
}

/// A BrokerRegistration of broker `id` as another process sends it on the
/// controller listener: one PLAINTEXT endpoint at 127.0.0.1:`port`, every
/// feature this build supports, a rack, a fresh log directory id.
pub fn broker_registration(
    cluster_id: &str,
    id: i32,
    incarnation: Uuid,
    port: u16,
    rack: &str,
) -> kafka_protocol::messages::BrokerRegistrationRequest {
    use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
    kafka_protocol::messages::BrokerRegistrationRequest::default()
        .with_broker_id(kafka_protocol::messages::BrokerId(id))
        .with_cluster_id(str_bytes(cluster_id))
        .with_incarnation_id(incarnation)
        .with_listeners(vec![
            Listener::default()
                .with_name(str_bytes("PLAINTEXT"))
                .with_host(str_bytes("127.0.0.1"))
                .with_port(port)
                .with_security_protocol(0),
        ])
        .with_features(
            runnel::protocol::versions::FEATURES
                .iter()
                .map(|f| {
                    Feature::default()
                        .with_name(str_bytes(f.name))
                        .with_min_supported_version(f.min)
                        .with_max_supported_version(f.max)
                })
                .collect(),
        )
        .with_rack(Some(str_bytes(rack)))
        .with_log_dirs(vec![Uuid::new_v4()])
}

/// A BrokerHeartbeat of broker `id` at `epoch`, its metadata at `offset`.
pub fn broker_heartbeat(
    id: i32,
    epoch: i64,
    offset: i64,
) -> kafka_protocol::messages::BrokerHeartbeatRequest {
    kafka_protocol::messages::BrokerHeartbeatRequest::default()
        .with_broker_id(kafka_protocol::messages::BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset)
}

/// InitProducerId (v4, no transactional id): (producer id, epoch).
pub fn init_producer_id(c: &mut Client) -> (i64, i16) {
    let resp = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(kafka_protocol::messages::ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(resp.error_code, 0, "InitProducerId");
    (resp.producer_id.0, resp.producer_epoch)
}

/// One batch as seen in fetched bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    pub base_offset: i64,
    pub last_offset: i64,
    pub record_count: i32,
    pub magic: i8,
    pub partition_leader_epoch: i32,
}

/// Walks the RecordBatch v2 headers of fetched bytes; a partial trailing
/// batch (allowed in a Fetch response) is ignored.
pub fn batches(records: &[u8]) -> Vec<BatchSummary> {
    let mut out = Vec::new();
    let mut rest = records;
    while rest.len() >= 61 {
        let base_offset = i64::from_be_bytes(rest[0..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        let total = 12 + length.max(0) as usize;
        if rest.len() < total {
            break;
        }
        let partition_leader_epoch = i32::from_be_bytes(rest[12..16].try_into().expect("4 bytes"));
        let magic = rest[16] as i8;
        let last_delta = i32::from_be_bytes(rest[23..27].try_into().expect("4 bytes"));
        let record_count = i32::from_be_bytes(rest[57..61].try_into().expect("4 bytes"));
        out.push(BatchSummary {
            base_offset,
            last_offset: base_offset + i64::from(last_delta),
            record_count,
            magic,
            partition_leader_epoch,
        });
        rest = &rest[total..];
    }
    out
}

/// Total records in fetched bytes.
pub fn record_count(records: &[u8]) -> i64 {
    batches(records)
        .iter()
        .map(|b| i64::from(b.record_count))
        .sum()
}

/// Collects failures of a sweep over versions and panics once with all of
/// them, so one run names every broken version.
pub struct Failures {
    what: String,
    items: Vec<String>,
}

impl Failures {
    pub fn new(what: &str) -> Failures {
        Failures {
            what: what.to_string(),
            items: Vec::new(),
        }
    }

    pub fn check(&mut self, version: i16, result: Result<(), String>) {
        if let Err(e) = result {
            self.items.push(format!("v{version}: {e}"));
        }
    }

    pub fn finish(self, broker: &BrokerProcess) {
        if self.items.is_empty() {
            return;
        }
        let related = broker.log_lines_matching(&["closing connection", "could not be encoded"]);
        panic!(
            "{}: {} failure(s)\n  {}\n--- broker log lines about closed connections ---\n{}",
            self.what,
            self.items.len(),
            self.items.join("\n  "),
            related.join("\n")
        );
    }
}

/// `ensure!(cond, "fmt", args)` returns `Err(String)` from the enclosing
/// function when `cond` is false.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

/// `ensure_eq!(left, right, "what")`.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!("{}: expected {:?}, got {:?}", format!($($arg)+), r, l));
        }
    }};
}

/// Maps a call error into the sweep's `Err(String)`.
pub fn call_err(what: &str) -> impl Fn(CallError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

pub fn dir_exists(p: &Path) -> bool {
    p.is_dir()
}
