//! `runnel topic create|list|describe|alter-config|delete`: CreateTopics,
//! Metadata, DescribeConfigs, IncrementalAlterConfigs and DeleteTopics,
//! sent to any broker (a Kafka broker forwards them to its controller).
//! Kafka counterpart: `kafka-topics` and `kafka-configs --entity-type
//! topics`; the layout follows rpk's `topic` commands.

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::{Value, json};

use super::client::{AdminClient, Target};
use super::configs::{self, Change, RESOURCE_TOPIC, SOURCE_DEFAULT};
use super::error::CliError;
use super::output::{Report, Table, fields, id_list};

#[derive(clap::Subcommand, Debug)]
pub enum TopicCommand {
    /// Create topics (CreateTopics).
    Create {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Partitions per topic. Default: the broker's `num.partitions`.
        #[arg(short, long)]
        partitions: Option<i32>,
        /// Replicas per partition. Default: the broker's
        /// `default.replication.factor`.
        #[arg(short = 'r', long)]
        replicas: Option<i16>,
        /// A topic config, `key=value`; repeat for several.
        #[arg(short = 'c', long = "topic-config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topics (Metadata).
    List {
        /// Include internal topics (`__consumer_offsets`).
        #[arg(short, long)]
        internal: bool,
    },
    /// Partitions (leader, replicas, ISR) and the configs set on topics.
    Describe {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Set or delete topic configs, leaving the others as they are
    /// (IncrementalAlterConfigs).
    AlterConfig {
        name: String,
        /// `key=value` to set; repeat for several.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A key to delete (back to the broker's default); repeat for several.
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Delete topics (DeleteTopics).
    Delete {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

pub fn run(client: &mut AdminClient, command: TopicCommand) -> Result<Report, CliError> {
    match command {
        TopicCommand::Create {
            names,
            partitions,
            replicas,
            configs,
        } => create(client, &names, partitions, replicas, &configs),
        TopicCommand::List { internal } => list(client, internal),
        TopicCommand::Describe { names } => describe(client, &names),
        TopicCommand::AlterConfig { name, set, delete } => {
            alter_config(client, &name, &set, &delete)
        }
        TopicCommand::Delete { names } => delete(client, &names),
    }
}

fn subject(name: &str) -> String {
    format!("topic '{name}'")
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn create(
    client: &mut AdminClient,
    names: &[String],
    partitions: Option<i32>,
    replicas: Option<i16>,
    configs: &[String],
) -> Result<Report, CliError> {
    let configs = configs
        .iter()
        .map(|c| configs::parse_pair(c))
        .collect::<Result<Vec<_>, _>>()?;
    let timeout_ms = client.timeout_ms();
    // v4+: -1 asks for the broker's defaults (KIP-464).
    let (_, response) = client.call(Target::Any, 4..=7, |_| {
        CreateTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_topics(
                names
                    .iter()
                    .map(|n| {
                        CreatableTopic::default()
                            .with_name(topic_name(n))
                            .with_num_partitions(partitions.unwrap_or(-1))
                            .with_replication_factor(replicas.unwrap_or(-1))
                            .with_configs(
                                configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(k.clone()))
                                            .with_value(Some(StrBytes::from_string(v.clone())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    })?;
    let mut text = String::new();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for t in response.topics {
        let name = t.name.0.to_string();
        if t.error_code != 0 {
            errors.push(CliError::kafka(
                subject(&name),
                t.error_code,
                t.error_message.as_deref(),
            ));
            items.push(json!({"name": name, "error": error_json(errors.last())}));
            continue;
        }
        // Answers before v5 carry no partition count or replication factor.
        let counts = (t.num_partitions > 0).then(|| {
            format!(
                " ({} partition(s), replication factor {})",
                t.num_partitions, t.replication_factor
            )
        });
        text.push_str(&format!(
            "created topic '{name}'{}\n",
            counts.unwrap_or_default()
        ));
        items.push(json!({
            "name": name,
            "topic_id": t.topic_id.to_string(),
            "partitions": (t.num_partitions > 0).then_some(t.num_partitions),
            "replication_factor": (t.replication_factor > 0).then_some(t.replication_factor),
            "error": Value::Null,
        }));
    }
    Ok(Report::new(text, json!({ "topics": items })).with_errors(errors))
}

/// An item's error in JSON: the code, Kafka's name and the line printed.
pub fn error_json(error: Option<&CliError>) -> Value {
    match error {
        None => Value::Null,
        Some(e) => json!({
            "code": e.code(),
            "name": e.code().map(crate::protocol::error_counts::error_name),
            "message": e.to_string(),
        }),
    }
}

fn list(client: &mut AdminClient, internal: bool) -> Result<Report, CliError> {
    let metadata = client.metadata(None)?;
    let mut topics: Vec<_> = metadata
        .topics
        .iter()
        .filter(|t| internal || !t.is_internal)
        .filter_map(|t| t.name.as_ref().map(|n| (n.0.to_string(), t)))
        .collect();
    topics.sort_by(|a, b| a.0.cmp(&b.0));
    let mut table = Table::new(&["NAME", "PARTITIONS", "REPLICAS"]);
    let mut items = Vec::new();
    for (name, t) in topics {
        let replicas = t
            .partitions
            .first()
            .map(|p| p.replica_nodes.len())
            .unwrap_or(0);
        table.row(vec![
            name.clone(),
            t.partitions.len().to_string(),
            replicas.to_string(),
        ]);
        items.push(json!({
            "name": name,
            "topic_id": t.topic_id.to_string(),
            "internal": t.is_internal,
            "partitions": t.partitions.len(),
            "replicas": replicas,
        }));
    }
    Ok(Report::new(table.render(), json!({ "topics": items })))
}

fn describe(client: &mut AdminClient, names: &[String]) -> Result<Report, CliError> {
    let metadata = client.metadata(Some(names))?;
    let mut text = String::new();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let found = metadata
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name.as_str()));
        let Some(t) = found else {
            errors.push(CliError::kafka(subject(name), 3, None));
            continue;
        };
        if t.error_code != 0 {
            errors.push(CliError::kafka(subject(name), t.error_code, None));
            continue;
        }
        let configs: Vec<_> = configs::describe(
            client,
            Target::Any,
            RESOURCE_TOPIC,
            name,
            None,
            &subject(name),
        )?
        .into_iter()
        .filter(|c| c.source != SOURCE_DEFAULT)
        .collect();
        let mut partitions: Vec<_> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        let replicas = partitions
            .first()
            .map(|p| p.replica_nodes.len())
            .unwrap_or(0);

        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&fields(&[
            ("NAME", name.clone()),
            ("ID", t.topic_id.to_string()),
            ("INTERNAL", t.is_internal.to_string()),
            ("PARTITIONS", partitions.len().to_string()),
            ("REPLICAS", replicas.to_string()),
        ]));
        text.push_str("\nCONFIGS\n");
        let mut table = Table::new(&["KEY", "VALUE", "SOURCE"]);
        for c in &configs {
            table.row(vec![
                c.name.clone(),
                c.shown_value(),
                configs::source_name(c.source).to_string(),
            ]);
        }
        if table.is_empty() {
            text.push_str("(none set)\n");
        } else {
            text.push_str(&table.render());
        }
        text.push('\n');
        let mut table = Table::new(&[
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "ISR",
            "OFFLINE-REPLICAS",
        ]);
        let mut partition_items = Vec::new();
        for p in &partitions {
            let ids = |v: &[kafka_protocol::messages::BrokerId]| -> Vec<i32> {
                v.iter().map(|b| b.0).collect()
            };
            let (replica_ids, isr, offline) = (
                ids(&p.replica_nodes),
                ids(&p.isr_nodes),
                ids(&p.offline_replicas),
            );
            table.row(vec![
                p.partition_index.to_string(),
                p.leader_id.0.to_string(),
                p.leader_epoch.to_string(),
                id_list(&replica_ids),
                id_list(&isr),
                id_list(&offline),
            ]);
            partition_items.push(json!({
                "partition": p.partition_index,
                "leader": p.leader_id.0,
                "leader_epoch": p.leader_epoch,
                "replicas": replica_ids,
                "isr": isr,
                "offline_replicas": offline,
                "error": (p.error_code != 0).then(|| crate::protocol::error_counts::error_name(p.error_code)),
            }));
        }
        text.push_str(&table.render());
        items.push(json!({
            "name": name,
            "topic_id": t.topic_id.to_string(),
            "internal": t.is_internal,
            "partitions": partition_items,
            "configs": configs.iter().map(configs::ConfigEntry::json).collect::<Vec<_>>(),
        }));
    }
    Ok(Report::new(text, json!({ "topics": items })).with_errors(errors))
}

fn alter_config(
    client: &mut AdminClient,
    name: &str,
    set: &[String],
    delete: &[String],
) -> Result<Report, CliError> {
    let mut changes = Vec::new();
    for pair in set {
        let (k, v) = configs::parse_pair(pair)?;
        changes.push(Change::Set(k, v));
    }
    changes.extend(delete.iter().map(|k| Change::Delete(k.clone())));
    if changes.is_empty() {
        return Err(CliError::Usage(
            "nothing to change: give --set KEY=VALUE or --delete KEY".into(),
        ));
    }
    configs::alter(
        client,
        Target::Any,
        RESOURCE_TOPIC,
        name,
        &changes,
        &subject(name),
    )?;
    let done: Vec<String> = changes.iter().map(Change::describe).collect();
    Ok(Report::new(
        format!("altered topic '{name}': {}\n", done.join(", ")),
        json!({
            "topic": name,
            "set": changes.iter().filter_map(|c| match c {
                Change::Set(k, v) => Some(json!({"name": k, "value": v})),
                Change::Delete(_) => None,
            }).collect::<Vec<_>>(),
            "deleted": delete,
        }),
    ))
}

fn delete(client: &mut AdminClient, names: &[String]) -> Result<Report, CliError> {
    let timeout_ms = client.timeout_ms();
    let (_, response) = client.call(Target::Any, 1..=6, |version| {
        let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
        if version >= 6 {
            request.with_topics(
                names
                    .iter()
                    .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                    .collect(),
            )
        } else {
            request.with_topic_names(names.iter().map(|n| topic_name(n)).collect())
        }
    })?;
    let mut text = String::new();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for r in response.responses {
        let name = r.name.map(|n| n.0.to_string()).unwrap_or_default();
        if r.error_code != 0 {
            errors.push(CliError::kafka(
                subject(&name),
                r.error_code,
                r.error_message.as_deref(),
            ));
            items.push(json!({"name": name, "error": error_json(errors.last())}));
        } else {
            text.push_str(&format!("deleted topic '{name}'\n"));
            items.push(json!({"name": name, "error": Value::Null}));
        }
    }
    Ok(Report::new(text, json!({ "topics": items })).with_errors(errors))
}
