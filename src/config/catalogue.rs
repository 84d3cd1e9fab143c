//! The broker configs Runnel knows: Kafka's name, type, default, valid
//! range and a one-line description of each.
//!
//! This table is the single source of truth for broker defaults: the typed
//! [`BrokerConfig`](super::BrokerConfig) fields, the unknown-key warnings and
//! DescribeConfigs all read it. Defaults are Apache Kafka's except where a
//! line says `Runnel:` — those suit a single combined node started by
//! `make run`. Keys Runnel accepts but does not act on yet are listed so that
//! a stock `server.properties` loads without warnings; their documentation
//! says so.

use super::ConfigError;

/// A config's type, with the ids DescribeConfigs v3+ uses (KIP-569).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The `config_type` id in DescribeConfigs responses (0 is UNKNOWN).
    pub fn id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

/// What a value must look like beyond its type.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Anything of the right type.
    Any,
    /// An integer (INT, SHORT or LONG) within `[min, max]`.
    Range { min: i64, max: i64 },
    /// A DOUBLE within `[min, max]`.
    DoubleRange { min: f64, max: f64 },
    /// One of these strings, exactly.
    OneOf(&'static [&'static str]),
    /// A non-empty comma-separated list whose items are all in this set.
    ListOf(&'static [&'static str]),
    /// A custom rule; the error text says what was expected.
    Custom(fn(&str) -> Result<(), String>),
}

/// One known config key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    pub name: &'static str,
    pub ty: ConfigType,
    /// The default as Kafka writes it; `None` is Kafka's `null`.
    pub default: Option<&'static str>,
    pub check: Check,
    pub doc: &'static str,
}

const I32_MAX: i64 = i32::MAX as i64;
const I16_MAX: i64 = i16::MAX as i64;
const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";

pub(crate) const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(crate) const CLEANUP_POLICIES: &[&str] = &["delete", "compact"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub(crate) const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// The default `listener.security.protocol.map`, Kafka's.
pub const DEFAULT_SECURITY_PROTOCOL_MAP: &str = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT";

const fn def(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    check: Check,
    doc: &'static str,
) -> KeyDef {
    KeyDef {
        name,
        ty,
        default,
        check,
        doc,
    }
}

const fn int(
    name: &'static str,
    default: Option<&'static str>,
    min: i64,
    doc: &'static str,
) -> KeyDef {
    def(
        name,
        ConfigType::Int,
        default,
        Check::Range { min, max: I32_MAX },
        doc,
    )
}

const fn short(name: &'static str, default: &'static str, min: i64, doc: &'static str) -> KeyDef {
    def(
        name,
        ConfigType::Short,
        Some(default),
        Check::Range { min, max: I16_MAX },
        doc,
    )
}

const fn long(
    name: &'static str,
    default: Option<&'static str>,
    min: i64,
    doc: &'static str,
) -> KeyDef {
    def(
        name,
        ConfigType::Long,
        default,
        Check::Range { min, max: i64::MAX },
        doc,
    )
}

const fn boolean(name: &'static str, default: &'static str, doc: &'static str) -> KeyDef {
    def(name, ConfigType::Boolean, Some(default), Check::Any, doc)
}

const fn string(name: &'static str, default: Option<&'static str>, doc: &'static str) -> KeyDef {
    def(name, ConfigType::String, default, Check::Any, doc)
}

const fn password(name: &'static str, doc: &'static str) -> KeyDef {
    def(name, ConfigType::Password, None, Check::Any, doc)
}

pub(crate) fn check_gzip_level(v: &str) -> Result<(), String> {
    match v.parse::<i32>() {
        Ok(-1 | 1..=9) => Ok(()),
        _ => Err("-1 or an integer in [1, 9]".to_string()),
    }
}

fn check_host_port_or_empty(v: &str) -> Result<(), String> {
    if v.is_empty() || v.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    Err(
        "an IP address and port such as 127.0.0.1:9308 (host names are not resolved), \
         or empty to disable"
            .to_string(),
    )
}

/// A `tracing` filter in `RUST_LOG` syntax (`info`, `runnel=debug,warn`).
fn check_log_filter(v: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(v)
        .map(|_| ())
        .map_err(|e| {
            format!("a tracing filter in RUST_LOG syntax such as info or runnel=debug ({e})")
        })
}

/// The known broker key closest to an unknown one, for a "did you mean":
/// at most two edits away (three for long keys), and closer than any other.
pub fn closest_key(unknown: &str) -> Option<&'static str> {
    let limit = if unknown.len() > 20 { 3 } else { 2 };
    BROKER_CONFIGS
        .iter()
        .map(|d| (edit_distance(unknown, d.name), d.name))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, name)| name)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Every broker config Runnel knows, in no particular order.
pub static BROKER_CONFIGS: &[KeyDef] = &[
    // --- identity and roles
    int(
        "node.id",
        Some("1"),
        0,
        "This node's id, unique in the cluster. Runnel: defaults to 1 so a single node needs no setup.",
    ),
    int(
        "broker.id",
        Some("-1"),
        -1,
        "Kafka's older name for the node id; when set it must equal node.id.",
    ),
    def(
        "process.roles",
        ConfigType::List,
        Some("broker,controller"),
        Check::ListOf(&["broker", "controller"]),
        "What this node runs: broker, controller or both. Runnel: defaults to both (a combined single node).",
    ),
    string(
        "cluster.id",
        None,
        "Runnel: the cluster id this node expects; when unset the id is taken from or written to the metadata log.",
    ),
    def(
        "controller.quorum.voters",
        ConfigType::List,
        Some(""),
        Check::Any,
        "Static controller quorum as id@host:port entries. Runnel: one voter until multi-voter quorums land: on a combined node empty or this node alone, on a broker-only node the one controller it joins; anything else stops start-up.",
    ),
    def(
        "controller.quorum.bootstrap.servers",
        ConfigType::List,
        Some(""),
        Check::Any,
        "Controllers to contact to discover the quorum. Runnel: on a combined node at most one entry (this node); a broker-only node without controller.quorum.voters asks these, in order.",
    ),
    string(
        "controller.listener.names",
        None,
        "Comma-separated names of the listeners the controller serves.",
    ),
    string(
        "broker.rack",
        None,
        "The rack of this broker, used for rack-aware replica placement.",
    ),
    int(
        "broker.heartbeat.interval.ms",
        Some("2000"),
        1,
        "How often the broker heartbeats to the controller (KIP-631).",
    ),
    int(
        "controller.quorum.request.timeout.ms",
        Some("2000"),
        1,
        "How long a request to the controller (a metadata fetch beyond its long-poll wait, a registration, a heartbeat) may take before the connection is given up and made again.",
    ),
    int(
        "initial.broker.registration.timeout.ms",
        Some("60000"),
        1,
        "How long a broker waits at start-up to be registered and unfenced by the controller before it gives up.",
    ),
    int(
        "broker.session.timeout.ms",
        Some("9000"),
        1,
        "How long the controller keeps a broker's session without a heartbeat; another process may register the same broker id after it.",
    ),
    // --- listeners
    string(
        "listeners",
        Some("PLAINTEXT://127.0.0.1:9092"),
        "Comma-separated NAME://host:port addresses to listen on; an empty host means every interface. Runnel: binds loopback by default.",
    ),
    string(
        "advertised.listeners",
        None,
        "Addresses handed to clients in metadata; defaults to the broker listeners with the machine's hostname for wildcard hosts.",
    ),
    string(
        "listener.security.protocol.map",
        Some(DEFAULT_SECURITY_PROTOCOL_MAP),
        "Maps each listener name to its security protocol as NAME:PROTOCOL pairs.",
    ),
    string(
        "inter.broker.listener.name",
        Some("PLAINTEXT"),
        "The listener brokers use to talk to each other.",
    ),
    def(
        "security.inter.broker.protocol",
        ConfigType::String,
        Some("PLAINTEXT"),
        Check::OneOf(SECURITY_PROTOCOLS),
        "The security protocol between brokers when inter.broker.listener.name is not set.",
    ),
    // --- storage
    string(
        "log.dirs",
        None,
        "Comma-separated directories holding partition data; falls back to log.dir.",
    ),
    string(
        "log.dir",
        Some("./data"),
        "The data directory when log.dirs is not set. Runnel: ./data instead of /tmp/kafka-logs.",
    ),
    string(
        "metadata.log.dir",
        None,
        "Where the metadata log lives; the first data directory when unset.",
    ),
    long(
        "metadata.log.max.record.bytes.between.snapshots",
        Some("20971520"),
        1,
        "Record bytes written to the metadata log after which the controller takes a metadata snapshot.",
    ),
    long(
        "metadata.log.max.snapshot.interval.ms",
        Some("3600000"),
        0,
        "Longest time between metadata snapshots while records are written; 0 turns the time rule off.",
    ),
    int(
        "num.partitions",
        Some("1"),
        1,
        "Partitions of a topic created without an explicit count.",
    ),
    int(
        "default.replication.factor",
        Some("1"),
        1,
        "Replication factor of a topic created without an explicit one.",
    ),
    int(
        "min.insync.replicas",
        Some("1"),
        1,
        "Fewest in-sync replicas that must hold a write acknowledged with acks=all.",
    ),
    boolean(
        "auto.create.topics.enable",
        "true",
        "Create a topic when a client asks for metadata of one that does not exist.",
    ),
    boolean("delete.topic.enable", "true", "Allow topics to be deleted."),
    int(
        "message.max.bytes",
        Some("1048588"),
        0,
        "The largest record batch a topic accepts, after compression.",
    ),
    int(
        "log.segment.bytes",
        Some("1073741824"),
        14,
        "Size at which a log segment is closed and a new one started.",
    ),
    long(
        "log.roll.ms",
        None,
        1,
        "Age at which a segment is rolled even if not full; overrides log.roll.hours.",
    ),
    int(
        "log.roll.hours",
        Some("168"),
        1,
        "Age in hours at which a segment is rolled even if not full.",
    ),
    long(
        "log.roll.jitter.ms",
        None,
        0,
        "Random jitter subtracted from the roll time to spread rolls; overrides log.roll.jitter.hours.",
    ),
    int(
        "log.roll.jitter.hours",
        Some("0"),
        0,
        "Random jitter in hours subtracted from the roll time.",
    ),
    long(
        "log.retention.ms",
        None,
        i64::MIN,
        "How long to keep a segment; -1 keeps forever. Overrides the minutes and hours keys.",
    ),
    int(
        "log.retention.minutes",
        None,
        i32::MIN as i64,
        "How long to keep a segment, in minutes; overrides log.retention.hours.",
    ),
    int(
        "log.retention.hours",
        Some("168"),
        i32::MIN as i64,
        "How long to keep a segment, in hours.",
    ),
    long(
        "log.retention.bytes",
        Some("-1"),
        i64::MIN,
        "Largest size a partition may grow to before old segments go; -1 means no limit.",
    ),
    long(
        "log.retention.check.interval.ms",
        Some("300000"),
        1,
        "How often the cleaner looks for segments past retention.",
    ),
    long(
        "log.segment.delete.delay.ms",
        Some("60000"),
        0,
        "How long a deleted segment stays on disk before it is removed.",
    ),
    int(
        "log.index.interval.bytes",
        Some("4096"),
        0,
        "Bytes of log between two offset index entries.",
    ),
    int(
        "log.index.size.max.bytes",
        Some("10485760"),
        4,
        "Largest size of an offset or time index file.",
    ),
    long(
        "log.flush.interval.messages",
        Some(LONG_MAX),
        1,
        "Records written before a forced fsync; the default leaves flushing to the OS.",
    ),
    long(
        "log.flush.interval.ms",
        None,
        0,
        "Longest time data may stay unflushed; unset means log.flush.scheduler.interval.ms.",
    ),
    long(
        "log.flush.scheduler.interval.ms",
        Some(LONG_MAX),
        0,
        "How often the flusher checks whether a log needs an fsync.",
    ),
    int(
        "log.flush.offset.checkpoint.interval.ms",
        Some("60000"),
        0,
        "How often the recovery point checkpoint is written.",
    ),
    int(
        "log.flush.start.offset.checkpoint.interval.ms",
        Some("60000"),
        0,
        "How often the log start offset checkpoint is written.",
    ),
    boolean(
        "log.preallocate",
        "false",
        "Preallocate segment files when they are created.",
    ),
    def(
        "log.message.timestamp.type",
        ConfigType::String,
        Some("CreateTime"),
        Check::OneOf(TIMESTAMP_TYPES),
        "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
    ),
    long(
        "log.message.timestamp.before.max.ms",
        Some(LONG_MAX),
        0,
        "How far in the past a CreateTime timestamp may be before a batch is refused.",
    ),
    long(
        "log.message.timestamp.after.max.ms",
        Some("3600000"),
        0,
        "How far in the future a CreateTime timestamp may be before a batch is refused (Kafka 4 default).",
    ),
    long(
        "log.message.timestamp.difference.max.ms",
        Some(LONG_MAX),
        0,
        "Kafka 3.x: largest allowed gap between a CreateTime timestamp and the broker clock.",
    ),
    boolean(
        "log.message.downconversion.enable",
        "true",
        "Kafka 3.x: convert batches down for old fetchers (Runnel never converts).",
    ),
    def(
        "log.cleanup.policy",
        ConfigType::List,
        Some("delete"),
        Check::ListOf(CLEANUP_POLICIES),
        "What happens to old segments: delete, compact, or both.",
    ),
    boolean(
        "log.cleaner.enable",
        "true",
        "Run the log cleaner that compacts topics with cleanup.policy=compact.",
    ),
    int(
        "log.cleaner.threads",
        Some("1"),
        0,
        "Threads the log cleaner uses.",
    ),
    long(
        "log.cleaner.delete.retention.ms",
        Some("86400000"),
        0,
        "How long tombstones survive compaction.",
    ),
    long(
        "log.cleaner.min.compaction.lag.ms",
        Some("0"),
        0,
        "Youngest a record may be and still be compacted.",
    ),
    long(
        "log.cleaner.max.compaction.lag.ms",
        Some(LONG_MAX),
        1,
        "Oldest a record may get before it must be eligible for compaction.",
    ),
    def(
        "log.cleaner.min.cleanable.ratio",
        ConfigType::Double,
        Some("0.5"),
        Check::DoubleRange { min: 0.0, max: 1.0 },
        "Share of dirty log above which a log is compacted.",
    ),
    long(
        "log.cleaner.backoff.ms",
        Some("15000"),
        0,
        "Pause of the cleaner when there is nothing to clean.",
    ),
    long(
        "log.cleaner.dedupe.buffer.size",
        Some("134217728"),
        0,
        "Memory the cleaner uses to deduplicate keys.",
    ),
    def(
        "log.cleaner.io.max.bytes.per.second",
        ConfigType::Double,
        Some("1.7976931348623157E308"),
        Check::DoubleRange {
            min: 0.0,
            max: f64::MAX,
        },
        "Bytes per second the cleaner may read and write, together.",
    ),
    long(
        "log.local.retention.ms",
        Some("-2"),
        -2,
        "Tiered storage: local retention time; -2 means use log.retention.ms.",
    ),
    long(
        "log.local.retention.bytes",
        Some("-2"),
        -2,
        "Tiered storage: local retention size; -2 means use log.retention.bytes.",
    ),
    def(
        "compression.type",
        ConfigType::String,
        Some("producer"),
        Check::OneOf(COMPRESSION_TYPES),
        "Compression of stored batches; producer keeps what the producer sent.",
    ),
    def(
        "compression.gzip.level",
        ConfigType::Int,
        Some("-1"),
        Check::Custom(check_gzip_level),
        "Level used when the broker compresses with gzip.",
    ),
    def(
        "compression.lz4.level",
        ConfigType::Int,
        Some("9"),
        Check::Range { min: 1, max: 17 },
        "Level used when the broker compresses with lz4.",
    ),
    def(
        "compression.zstd.level",
        ConfigType::Int,
        Some("3"),
        Check::Range {
            min: -131072,
            max: 22,
        },
        "Level used when the broker compresses with zstd.",
    ),
    // --- network and limits
    int(
        "socket.request.max.bytes",
        Some("104857600"),
        1,
        "Largest request frame a client may send.",
    ),
    int(
        "socket.send.buffer.bytes",
        Some("102400"),
        -1,
        "SO_SNDBUF of client sockets; -1 keeps the OS default.",
    ),
    int(
        "socket.receive.buffer.bytes",
        Some("102400"),
        -1,
        "SO_RCVBUF of client sockets; -1 keeps the OS default.",
    ),
    int(
        "socket.listen.backlog.size",
        Some("50"),
        1,
        "Pending connection backlog of each listener.",
    ),
    int(
        "num.network.threads",
        Some("3"),
        1,
        "Kafka's network thread count (Runnel uses async tasks and ignores it).",
    ),
    int(
        "num.io.threads",
        Some("8"),
        1,
        "Kafka's request handler thread count (Runnel uses async tasks and ignores it).",
    ),
    int(
        "background.threads",
        Some("10"),
        1,
        "Kafka's background thread count (ignored by Runnel).",
    ),
    int(
        "num.recovery.threads.per.data.dir",
        Some("2"),
        1,
        "Logs opened (recovered after a crash) at a time in each log dir at start-up.",
    ),
    int(
        "queued.max.requests",
        Some("500"),
        1,
        "Requests read from connections but not yet handled before reading pauses.",
    ),
    int(
        "max.connections",
        Some(INT_MAX),
        0,
        "Most client connections the broker accepts at once.",
    ),
    int(
        "max.connections.per.ip",
        Some(INT_MAX),
        0,
        "Most connections accepted from one IP address.",
    ),
    long(
        "connections.max.idle.ms",
        Some("600000"),
        0,
        "Idle time after which a connection is closed.",
    ),
    int(
        "fetch.max.bytes",
        Some("57671680"),
        1024,
        "Most bytes returned for one fetch request.",
    ),
    // --- replication
    int(
        "num.replica.fetchers",
        Some("1"),
        1,
        "Fetcher tasks per source broker for replication.",
    ),
    int(
        "replica.fetch.max.bytes",
        Some("1048576"),
        0,
        "Bytes a follower asks for per partition in one fetch.",
    ),
    int(
        "replica.fetch.wait.max.ms",
        Some("500"),
        0,
        "Longest time a follower fetch waits on the leader for data.",
    ),
    int(
        "replica.fetch.min.bytes",
        Some("1"),
        0,
        "Fewest bytes a follower fetch waits for.",
    ),
    int(
        "replica.fetch.response.max.bytes",
        Some("10485760"),
        0,
        "Bytes a follower asks for in one whole fetch response.",
    ),
    int(
        "replica.fetch.backoff.ms",
        Some("1000"),
        0,
        "Pause of a replica fetcher after a failed fetch, and of a partition the leader refused.",
    ),
    int(
        "replica.socket.timeout.ms",
        Some("30000"),
        0,
        "Socket timeout of follower fetches.",
    ),
    long(
        "replica.lag.time.max.ms",
        Some("30000"),
        0,
        "A follower that has not caught up for this long leaves the ISR.",
    ),
    long(
        "replica.high.watermark.checkpoint.interval.ms",
        Some("5000"),
        1,
        "How often each partition's high watermark is written to replication-offset-checkpoint.",
    ),
    boolean(
        "unclean.leader.election.enable",
        "false",
        "Allow a replica outside the ISR to become leader, at the cost of losing data.",
    ),
    boolean(
        "auto.leader.rebalance.enable",
        "true",
        "Move leadership back to preferred replicas periodically.",
    ),
    long(
        "leader.imbalance.check.interval.seconds",
        Some("300"),
        1,
        "How often the controller moves leadership back to preferred replicas (with auto.leader.rebalance.enable).",
    ),
    boolean(
        "controlled.shutdown.enable",
        "true",
        "Move leadership away before a broker shuts down.",
    ),
    // --- group coordinator
    int(
        "offsets.topic.num.partitions",
        Some("50"),
        1,
        "Partitions of __consumer_offsets.",
    ),
    short(
        "offsets.topic.replication.factor",
        "1",
        1,
        "Replication factor of __consumer_offsets. Runnel: 1 for the single-node default (Kafka: 3).",
    ),
    int(
        "offsets.topic.segment.bytes",
        Some("104857600"),
        1,
        "Segment size of __consumer_offsets.",
    ),
    int(
        "offsets.retention.minutes",
        Some("10080"),
        1,
        "How long committed offsets of an empty group are kept.",
    ),
    long(
        "offsets.retention.check.interval.ms",
        Some("600000"),
        1,
        "How often expired offsets are looked for.",
    ),
    int(
        "offsets.commit.timeout.ms",
        Some("5000"),
        1,
        "How long an offset commit waits for replication.",
    ),
    int(
        "offsets.load.buffer.size",
        Some("5242880"),
        1,
        "Read size when loading group state from __consumer_offsets.",
    ),
    int(
        "group.initial.rebalance.delay.ms",
        Some("3000"),
        0,
        "How long a new group waits for more members before its first rebalance.",
    ),
    int(
        "group.min.session.timeout.ms",
        Some("6000"),
        0,
        "Smallest session timeout a consumer may ask for.",
    ),
    int(
        "group.max.session.timeout.ms",
        Some("1800000"),
        0,
        "Largest session timeout a consumer may ask for.",
    ),
    int(
        "group.max.size",
        Some(INT_MAX),
        1,
        "Most members a consumer group may have.",
    ),
    int(
        "offset.metadata.max.bytes",
        Some("4096"),
        0,
        "Longest metadata string an offset commit may carry.",
    ),
    int(
        "group.consumer.session.timeout.ms",
        Some("45000"),
        1,
        "Session timeout of members of KIP-848 consumer groups.",
    ),
    int(
        "group.consumer.heartbeat.interval.ms",
        Some("5000"),
        1,
        "Heartbeat interval asked of members of KIP-848 consumer groups.",
    ),
    int(
        "group.consumer.max.size",
        Some(INT_MAX),
        1,
        "Most members a KIP-848 consumer group may have.",
    ),
    // --- transactions
    int(
        "transaction.state.log.num.partitions",
        Some("50"),
        1,
        "Partitions of __transaction_state.",
    ),
    short(
        "transaction.state.log.replication.factor",
        "1",
        1,
        "Replication factor of __transaction_state. Runnel: 1 for the single-node default (Kafka: 3).",
    ),
    int(
        "transaction.state.log.min.isr",
        Some("1"),
        1,
        "min.insync.replicas of __transaction_state. Runnel: 1 for the single-node default (Kafka: 2).",
    ),
    int(
        "transaction.state.log.segment.bytes",
        Some("104857600"),
        1,
        "Segment size of __transaction_state.",
    ),
    int(
        "transactional.id.expiration.ms",
        Some("604800000"),
        1,
        "How long an idle transactional id is remembered.",
    ),
    int(
        "transaction.max.timeout.ms",
        Some("900000"),
        1,
        "Largest transaction timeout a producer may ask for.",
    ),
    int(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Some("10000"),
        1,
        "How often timed-out transactions are aborted.",
    ),
    int(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Some("3600000"),
        1,
        "How often expired transactional ids are removed.",
    ),
    int(
        "producer.id.expiration.ms",
        Some("86400000"),
        1,
        "How long an idle producer id's state is kept in a partition.",
    ),
    int(
        "producer.id.expiration.check.interval.ms",
        Some("600000"),
        1,
        "How often expired producer ids are looked for.",
    ),
    // --- security (accepted, not implemented: only PLAINTEXT listeners work)
    string(
        "ssl.keystore.location",
        None,
        "Path of the TLS key store (TLS is not supported by Runnel yet).",
    ),
    password("ssl.keystore.password", "Password of the TLS key store."),
    password(
        "ssl.key.password",
        "Password of the private key in the key store.",
    ),
    string(
        "ssl.truststore.location",
        None,
        "Path of the TLS trust store (TLS is not supported by Runnel yet).",
    ),
    password(
        "ssl.truststore.password",
        "Password of the TLS trust store.",
    ),
    def(
        "sasl.enabled.mechanisms",
        ConfigType::List,
        Some("GSSAPI"),
        Check::Any,
        "SASL mechanisms the broker accepts (SASL is not supported by Runnel yet).",
    ),
    string(
        "sasl.mechanism.inter.broker.protocol",
        Some("GSSAPI"),
        "SASL mechanism between brokers.",
    ),
    password("sasl.jaas.config", "JAAS login configuration for SASL."),
    // --- Runnel-specific
    def(
        "runnel.metrics.listener",
        ConfigType::String,
        Some("127.0.0.1:9308"),
        Check::Custom(check_host_port_or_empty),
        "Runnel: host:port of the Prometheus metrics endpoint; empty disables it.",
    ),
    def(
        "runnel.log.filter",
        ConfigType::String,
        Some("info"),
        Check::Custom(check_log_filter),
        "Runnel: tracing filter in RUST_LOG syntax; RUST_LOG wins when set.",
    ),
    def(
        "runnel.log.format",
        ConfigType::String,
        Some("text"),
        Check::OneOf(&["text", "json"]),
        "Runnel: log output as text or json lines.",
    ),
];

/// Keys Runnel accepts, so that Kafka's `server.properties` files and
/// compose environments load unchanged, but does not act on yet: there is
/// no TLS or SASL, no thread pools to size, one replica fetcher per
/// source broker, and no unclean leader election (a partition whose ISR
/// is gone waits for it). A node that sets any of them says so in one INFO
/// line at start-up.
/// (`controller.quorum.voters` and `controller.quorum.bootstrap.servers`
/// are acted on: see `check_quorum`.)
pub const INERT_KEYS: &[&str] = &[
    "num.replica.fetchers",
    "unclean.leader.election.enable",
    "log.message.downconversion.enable",
    "num.network.threads",
    "num.io.threads",
    "background.threads",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "sasl.enabled.mechanisms",
    "sasl.mechanism.inter.broker.protocol",
    "sasl.jaas.config",
];

/// The definition of a broker config key.
pub fn broker_key(name: &str) -> Option<&'static KeyDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks `value` against the key's type and rule.
pub fn check_value(def: &KeyDef, value: &str) -> Result<(), ConfigError> {
    let fail = |expected: String| Err(ConfigError::invalid(def.name, value, expected));
    match def.ty {
        ConfigType::Boolean => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return fail("true or false".to_string());
            }
        }
        ConfigType::Int | ConfigType::Short | ConfigType::Long => {
            let (lo, hi, what) = match def.ty {
                ConfigType::Int => (i32::MIN as i64, I32_MAX, "an integer"),
                ConfigType::Short => (i16::MIN as i64, I16_MAX, "a short integer"),
                _ => (i64::MIN, i64::MAX, "a long integer"),
            };
            let n = match value.parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => n,
                _ => return fail(range_text(what, def.check, lo, hi)),
            };
            if let Check::Range { min, max } = def.check {
                if n < min || n > max {
                    return fail(range_text(what, def.check, lo, hi));
                }
            }
        }
        ConfigType::Double => {
            let Ok(x) = value.parse::<f64>() else {
                return fail("a number".to_string());
            };
            if let Check::DoubleRange { min, max } = def.check {
                if !(min..=max).contains(&x) {
                    return fail(format!("a number in [{min}, {max}]"));
                }
            }
        }
        ConfigType::String | ConfigType::List | ConfigType::Class | ConfigType::Password => {}
    }
    match def.check {
        Check::OneOf(allowed) if !allowed.contains(&value) => {
            fail(format!("one of {}", allowed.join(", ")))
        }
        Check::ListOf(allowed) => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if value.trim().is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                return fail(format!("a comma-separated list of {}", allowed.join(", ")));
            }
            Ok(())
        }
        Check::Custom(rule) => rule(value).or_else(fail),
        _ => Ok(()),
    }
}

fn range_text(what: &str, check: Check, lo: i64, hi: i64) -> String {
    let (min, max) = match check {
        Check::Range { min, max } => (min.max(lo), max.min(hi)),
        _ => (lo, hi),
    };
    match (min == lo, max == hi) {
        (true, true) => what.to_string(),
        (false, true) => format!("{what} >= {min}"),
        _ => format!("{what} in [{min}, {max}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_check() {
        for d in BROKER_CONFIGS {
            if let Some(v) = d.default {
                check_value(d, v).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            }
        }
    }

    #[test]
    fn inert_keys_are_known_keys() {
        for key in INERT_KEYS {
            assert!(broker_key(key).is_some(), "{key} is not in the catalogue");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = BROKER_CONFIGS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn type_ids_follow_kip_569() {
        let ids: Vec<i8> = [
            ConfigType::Boolean,
            ConfigType::String,
            ConfigType::Int,
            ConfigType::Short,
            ConfigType::Long,
            ConfigType::Double,
            ConfigType::List,
            ConfigType::Class,
            ConfigType::Password,
        ]
        .iter()
        .map(|t| t.id())
        .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn errors_name_key_value_and_expectation() {
        let def = broker_key("num.partitions").expect("known");
        let msg = check_value(def, "0").expect_err("below min").to_string();
        assert!(
            msg.contains("num.partitions") && msg.contains("\"0\"") && msg.contains(">= 1"),
            "{msg}"
        );
        let msg = check_value(def, "many")
            .expect_err("not a number")
            .to_string();
        assert!(msg.contains("many") && msg.contains("integer"), "{msg}");
        let def = broker_key("offsets.topic.replication.factor").expect("known");
        assert!(check_value(def, "40000").is_err());
        let def = broker_key("auto.create.topics.enable").expect("known");
        assert!(check_value(def, "TRUE").is_ok());
        assert!(check_value(def, "yes").is_err());
        let def = broker_key("log.cleanup.policy").expect("known");
        assert!(check_value(def, "compact,delete").is_ok());
        assert!(check_value(def, "compact, delete").is_ok());
        assert!(check_value(def, "").is_err());
        assert!(check_value(def, "shred").is_err());
        let def = broker_key("compression.gzip.level").expect("known");
        assert!(check_value(def, "-1").is_ok() && check_value(def, "9").is_ok());
        assert!(check_value(def, "0").is_err());
        let def = broker_key("runnel.metrics.listener").expect("known");
        assert!(check_value(def, "").is_ok() && check_value(def, "0.0.0.0:9308").is_ok());
        assert!(check_value(def, "nope").is_err());
        // A host name is refused at load time: the endpoint binds an address.
        assert!(check_value(def, "localhost:9308").is_err());
        let def = broker_key("runnel.log.filter").expect("known");
        assert!(check_value(def, "runnel=debug,warn").is_ok());
        assert!(check_value(def, "runnel=loud").is_err());
    }

    #[test]
    fn unknown_keys_get_the_closest_known_one() {
        assert_eq!(
            closest_key("log.retenton.hours"),
            Some("log.retention.hours")
        );
        assert_eq!(closest_key("num.partitons"), Some("num.partitions"));
        assert_eq!(closest_key("completely.different.thing"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
