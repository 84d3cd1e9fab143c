//! The admin command line in the `runnel` binary, in the spirit of
//! Redpanda's `rpk`: `runnel topic ...`, `runnel group ...` and `runnel
//! cluster ...` for the daily jobs Kafka's Java tools do otherwise.
//!
//! It is a Kafka client like any other: it speaks the Kafka protocol over
//! a socket to any broker (Runnel or Apache Kafka), with versions chosen
//! by ApiVersions (`client`). Nothing here imports the broker's core
//! (handlers, coordinator, controller, partition, log), and nothing in the
//! broker imports this module; it uses only the `kafka-protocol` codec,
//! Kafka's error names from `protocol::error_counts`, and, for the default
//! address, the local configuration.
//!
//! Each command returns a [`Report`] (text and JSON forms plus the items
//! that failed); [`run`] prints it and turns it into an exit code. Errors
//! are one line each on stderr, `runnel: ...`, never a backtrace.
//! Kafka counterpart: `kafka-topics`, `kafka-consumer-groups`,
//! `kafka-configs`, `kafka-cluster` (`org.apache.kafka.tools`).

pub mod client;
pub mod cluster;
pub mod configs;
pub mod error;
pub mod group;
pub mod output;
pub mod topic;

use std::io::Write as _;
use std::time::Duration;

pub use error::{CliError, EXIT_FAILED};
pub use output::{Format, Report};

/// Flags every admin command takes, before or after its subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Connect {
    /// Brokers to bootstrap from. Default: this node's first
    /// non-controller listener from the local configuration (as
    /// `healthcheck`), a wildcard host replaced by loopback.
    #[arg(
        short = 'b',
        long,
        global = true,
        value_name = "HOST:PORT[,HOST:PORT]",
        value_delimiter = ','
    )]
    pub brokers: Vec<String>,
    /// Output: aligned tables, or one JSON document.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Bound on each connect and each request, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
}

/// The admin subcommands, flattened into the binary's own.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Create, list, describe, reconfigure and delete topics.
    Topic {
        #[command(flatten)]
        connect: Connect,
        #[command(subcommand)]
        command: topic::TopicCommand,
    },
    /// List, describe (members, lag), seek and delete consumer groups.
    Group {
        #[command(flatten)]
        connect: Connect,
        #[command(subcommand)]
        command: group::GroupCommand,
    },
    /// Cluster id, brokers, controller; broker configs.
    Cluster {
        #[command(flatten)]
        connect: Connect,
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
}

impl AdminCommand {
    pub fn connect(&self) -> &Connect {
        match self {
            AdminCommand::Topic { connect, .. }
            | AdminCommand::Group { connect, .. }
            | AdminCommand::Cluster { connect, .. } => connect,
        }
    }
}

/// Runs `command` against `brokers` (the `-b` list, or the default the
/// caller computed) and prints its result; returns the exit code.
pub fn run(command: AdminCommand, brokers: Vec<String>) -> i32 {
    let connect = command.connect().clone();
    let mut client = client::AdminClient::new(brokers, Duration::from_millis(connect.timeout_ms));
    let result = match command {
        AdminCommand::Topic { command, .. } => topic::run(&mut client, command),
        AdminCommand::Group { command, .. } => group::run(&mut client, command),
        AdminCommand::Cluster { command, .. } => cluster::run(&mut client, command),
    };
    match result {
        Ok(report) => print(&report, connect.format),
        Err(e) => {
            say(&e.to_string());
            EXIT_FAILED
        }
    }
}

fn print(report: &Report, format: Format) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Text => out.write_all(report.text.as_bytes()),
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report.json).unwrap_or_default()
        ),
    };
    let _ = out.flush();
    for e in &report.errors {
        say(&e.to_string());
    }
    if report.errors.is_empty() {
        0
    } else {
        EXIT_FAILED
    }
}

/// One line on stderr; a closed stderr is ignored.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "runnel: {line}");
}
