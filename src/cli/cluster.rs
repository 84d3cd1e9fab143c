//! `runnel cluster info` and `runnel cluster config get|set|delete`: the
//! cluster id, controller and brokers (DescribeCluster, or Metadata from a
//! broker without it), and broker configs. `config set` and `delete`
//! change the cluster-wide default (the broker resource named "") unless a
//! broker is named; `config get` reads one broker's effective values with
//! their sources.
//! Kafka counterpart: `Admin.describeCluster` and `kafka-configs
//! --entity-type brokers [--entity-default]`; rpk's `cluster info` and
//! `cluster config`.

use kafka_protocol::messages::{ApiKey, DescribeClusterRequest};
use serde_json::json;

use super::client::{AdminClient, Target, join_host_port};
use super::configs::{self, Change, RESOURCE_BROKER};
use super::error::{CliError, check};
use super::output::{Report, Table, fields};

#[derive(clap::Subcommand, Debug)]
pub enum ClusterCommand {
    /// Cluster id, controller, and every broker with its advertised
    /// endpoint and rack.
    Info,
    /// Broker configs.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// A broker's configs with their sources; with KEY, that value alone.
    Get {
        key: Option<String>,
        /// The broker to read. Default: the one answering (the first
        /// reachable of --brokers).
        #[arg(long, value_name = "ID")]
        broker: Option<i32>,
    },
    /// Set dynamic broker configs, cluster-wide unless --broker is given.
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Set them on this broker only.
        #[arg(long, value_name = "ID")]
        broker: Option<i32>,
    },
    /// Remove dynamic broker configs (back to the static or default value).
    Delete {
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Remove them from this broker only.
        #[arg(long, value_name = "ID")]
        broker: Option<i32>,
    },
}

pub fn run(client: &mut AdminClient, command: ClusterCommand) -> Result<Report, CliError> {
    match command {
        ClusterCommand::Info => info(client),
        ClusterCommand::Config(ConfigCommand::Get { key, broker }) => {
            config_get(client, key.as_deref(), broker)
        }
        ClusterCommand::Config(ConfigCommand::Set { pairs, broker }) => {
            let changes = pairs
                .iter()
                .map(|p| configs::parse_pair(p).map(|(k, v)| Change::Set(k, v)))
                .collect::<Result<Vec<_>, _>>()?;
            config_alter(client, &changes, broker)
        }
        ClusterCommand::Config(ConfigCommand::Delete { keys, broker }) => {
            let changes: Vec<_> = keys.into_iter().map(Change::Delete).collect();
            config_alter(client, &changes, broker)
        }
    }
}

struct Broker {
    id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
}

impl Broker {
    fn new(id: i32, host: &str, port: i32, rack: Option<&str>) -> Broker {
        Broker {
            id,
            host: host.to_string(),
            port,
            rack: rack.map(str::to_string),
        }
    }
}

struct ClusterInfo {
    cluster_id: Option<String>,
    controller: i32,
    brokers: Vec<Broker>,
}

fn cluster(client: &mut AdminClient) -> Result<ClusterInfo, CliError> {
    let mut info = if client
        .versions(Target::Any, ApiKey::DescribeCluster)?
        .is_some()
    {
        let (_, r) = client.call(Target::Any, 0..=1, |_| DescribeClusterRequest::default())?;
        check("DescribeCluster", r.error_code, r.error_message.as_deref())?;
        ClusterInfo {
            cluster_id: Some(r.cluster_id.to_string()),
            controller: r.controller_id.0,
            brokers: r
                .brokers
                .into_iter()
                .map(|b| Broker::new(b.broker_id.0, &b.host, b.port, b.rack.as_deref()))
                .collect(),
        }
    } else {
        let m = client.metadata(Some(&[]))?;
        ClusterInfo {
            cluster_id: m.cluster_id.map(|c| c.to_string()),
            controller: m.controller_id.0,
            brokers: m
                .brokers
                .into_iter()
                .map(|b| Broker::new(b.node_id.0, &b.host, b.port, b.rack.as_deref()))
                .collect(),
        }
    };
    info.brokers.sort_by_key(|b| b.id);
    Ok(info)
}

fn info(client: &mut AdminClient) -> Result<Report, CliError> {
    let c = cluster(client)?;
    let mut text = fields(&[
        (
            "CLUSTER-ID",
            c.cluster_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("CONTROLLER", c.controller.to_string()),
        ("BROKERS", c.brokers.len().to_string()),
    ]);
    text.push('\n');
    let mut table = Table::new(&["ID", "HOST", "PORT", "RACK"]);
    for b in &c.brokers {
        let id = if b.id == c.controller {
            format!("{}*", b.id)
        } else {
            b.id.to_string()
        };
        table.row(vec![
            id,
            b.host.clone(),
            b.port.to_string(),
            b.rack.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    text.push_str(&table.render());
    let brokers: Vec<_> = c
        .brokers
        .iter()
        .map(|b| {
            json!({
                "id": b.id,
                "host": b.host,
                "port": b.port,
                "endpoint": join_host_port(&b.host, b.port),
                "rack": b.rack,
            })
        })
        .collect();
    Ok(Report::new(
        text,
        json!({"cluster_id": c.cluster_id, "controller": c.controller, "brokers": brokers}),
    ))
}

/// The node id of the broker answering `Target::Any`: the one whose
/// advertised endpoint is the address connected to, else the lowest id.
fn answering_broker(client: &mut AdminClient) -> Result<i32, CliError> {
    let c = cluster(client)?;
    let any = client.any_address();
    c.brokers
        .iter()
        .find(|b| Some(join_host_port(&b.host, b.port)) == any)
        .or(c.brokers.first())
        .map(|b| b.id)
        .ok_or_else(|| CliError::Refused("the cluster lists no broker".into()))
}

fn config_get(
    client: &mut AdminClient,
    key: Option<&str>,
    broker: Option<i32>,
) -> Result<Report, CliError> {
    let id = match broker {
        Some(id) => id,
        None => answering_broker(client)?,
    };
    let subject = format!("broker {id}");
    let keys = key.map(|k| vec![k.to_string()]);
    // A broker answers for its own configs only: ask that broker.
    let entries = configs::describe(
        client,
        Target::Node(id),
        RESOURCE_BROKER,
        &id.to_string(),
        keys.as_deref(),
        &subject,
    )?;
    if let Some(k) = key {
        let Some(e) = entries.iter().find(|e| e.name == k) else {
            return Err(CliError::Refused(format!("{subject} has no config '{k}'")));
        };
        return Ok(Report::new(format!("{}\n", e.shown_value()), e.json()));
    }
    let mut table = Table::new(&["KEY", "VALUE", "SOURCE"]);
    for e in &entries {
        table.row(vec![
            e.name.clone(),
            e.shown_value(),
            configs::source_name(e.source).to_string(),
        ]);
    }
    Ok(Report::new(
        table.render(),
        json!({
            "broker": id,
            "configs": entries.iter().map(configs::ConfigEntry::json).collect::<Vec<_>>(),
        }),
    ))
}

fn config_alter(
    client: &mut AdminClient,
    changes: &[Change],
    broker: Option<i32>,
) -> Result<Report, CliError> {
    let (target, name, scope) = match broker {
        Some(id) => (Target::Node(id), id.to_string(), format!("broker {id}")),
        None => (
            Target::Any,
            String::new(),
            "the cluster default".to_string(),
        ),
    };
    configs::alter(client, target, RESOURCE_BROKER, &name, changes, &scope)?;
    let done: Vec<String> = changes.iter().map(Change::describe).collect();
    Ok(Report::new(
        format!("altered {scope}: {}\n", done.join(", ")),
        json!({
            "broker": broker,
            "changes": changes.iter().map(|c| match c {
                Change::Set(k, v) => json!({"op": "set", "name": k, "value": v}),
                Change::Delete(k) => json!({"op": "delete", "name": k}),
            }).collect::<Vec<_>>(),
        }),
    ))
}
