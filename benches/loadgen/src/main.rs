//! `runnel-loadgen`: the load generators behind `make bench`
//! (benches/bench.py drives them). Every subcommand prints one JSON object
//! on stdout with its figures; errors go to stderr with a non-zero exit.
//!
//! - `rdkafka-produce`, `rdkafka-consume`, `latency`: librdkafka, the way
//!   users measure Kafka.
//! - `raw-produce`, `raw-fetch`: pipelined requests pre-encoded with
//!   kafka-protocol, so the broker's own ceiling shows.
//! - `create-topic`, `idle-connections`, `machine`: set-up and the
//!   machine's limits.

mod machine;
mod raw;
mod rdk;
mod wire;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generators for Runnel's `make bench`")]
struct Cli {
    /// host:port of the broker.
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CreateTopics with replication factor 1.
    CreateTopic {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
    },
    /// librdkafka producer perf test.
    RdkafkaProduce {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        #[arg(long, default_value = "1")]
        acks: String,
        #[arg(long, default_value_t = 10)]
        linger_ms: u32,
        #[arg(long, default_value_t = 1_048_576)]
        batch_size: u32,
    },
    /// librdkafka consumer reading `records` records from the start.
    RdkafkaConsume {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        records: u64,
    },
    /// End-to-end latency (librdkafka producer to consumer) at a fixed rate.
    Latency {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value_t = 100)]
        record_size: usize,
    },
    /// Pipelined raw Produce of one pre-encoded batch per partition.
    RawProduce {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = 65_536)]
        batch_bytes: usize,
        #[arg(long, default_value_t = 1024)]
        record_size: usize,
        #[arg(long, default_value_t = 1)]
        acks: i16,
        #[arg(long, default_value_t = 1)]
        connections: usize,
        #[arg(long, default_value_t = 8)]
        inflight: usize,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
    },
    /// Pipelined raw Fetch of data already in the log.
    RawFetch {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = 1_048_576)]
        partition_max_bytes: i32,
        #[arg(long, default_value_t = 1)]
        connections: usize,
        #[arg(long, default_value_t = 4)]
        inflight: usize,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
    },
    /// Open connections (one ApiVersions each) and hold them idle until
    /// stdin closes.
    IdleConnections {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 600.0)]
        hold_secs: f64,
    },
    /// The machine's limits: loopback TCP, sequential write, fdatasync.
    Machine {
        /// A directory on the data dir's disk.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        #[arg(long, default_value_t = 1 << 30)]
        write_bytes: u64,
        #[arg(long, default_value_t = 200)]
        syncs: usize,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("runnel-loadgen: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let addr = cli.bootstrap.as_str();
    let out = match cli.command {
        Command::CreateTopic { topic, partitions } => raw::create_topic(addr, &topic, partitions)?,
        Command::RdkafkaProduce {
            topic,
            records,
            record_size,
            acks,
            linger_ms,
            batch_size,
        } => rdk::produce(rdk::ProduceArgs {
            bootstrap: addr,
            topic: &topic,
            records,
            record_size,
            acks: &acks,
            linger_ms,
            batch_size,
        })?,
        Command::RdkafkaConsume { topic, records } => rdk::consume(addr, &topic, records)?,
        Command::Latency {
            topic,
            rate,
            secs,
            record_size,
        } => rdk::latency(addr, &topic, rate, secs, record_size)?,
        Command::RawProduce {
            topic,
            partitions,
            batch_bytes,
            record_size,
            acks,
            connections,
            inflight,
            secs,
        } => raw::produce(raw::ProduceArgs {
            addr,
            topic: &topic,
            partitions,
            batch_bytes,
            record_size,
            acks,
            connections,
            inflight,
            secs,
        })?,
        Command::RawFetch {
            topic,
            partitions,
            partition_max_bytes,
            connections,
            inflight,
            secs,
        } => raw::fetch(raw::FetchArgs {
            addr,
            topic: &topic,
            partitions,
            partition_max_bytes,
            connections,
            inflight,
            secs,
        })?,
        Command::IdleConnections { count, hold_secs } => {
            raw::idle_connections(addr, count, hold_secs)?;
            return Ok(());
        }
        Command::Machine {
            dir,
            secs,
            write_bytes,
            syncs,
        } => machine::limits(&dir, secs, write_bytes, syncs)?,
    };
    println!("{out}");
    Ok(())
}
