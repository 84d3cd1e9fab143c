//! Config decisions for IncrementalAlterConfigs and AlterConfigs: validate
//! and turn each change into `Config` records. Pure functions; no I/O.
//! Kafka counterpart: `ConfigurationControlManager`.

use std::collections::BTreeMap;

use super::error::ControllerError;
use crate::config::BrokerConfig;
use crate::config::catalogue::broker_key;
use crate::config::topic::{is_dynamic_broker_key, topic_config, validate_topic_config};
use crate::metadata::MetadataImage;
use crate::metadata::records::{ConfigResource, MetadataRecord};

/// Resource types as numbered in the protocol.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// IncrementalAlterConfigs operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    Set,
    Delete,
    Append,
    Subtract,
    /// A code the protocol does not define: the whole resource is refused.
    Unknown(i8),
}

impl AlterOp {
    pub fn from_code(code: i8) -> AlterOp {
        match code {
            0 => AlterOp::Set,
            1 => AlterOp::Delete,
            2 => AlterOp::Append,
            3 => AlterOp::Subtract,
            other => AlterOp::Unknown(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    pub name: String,
    pub op: AlterOp,
    pub value: Option<String>,
}

/// A resource's requested changes. `incremental` false means the legacy
/// AlterConfigs: the given set replaces every override of the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterRequest {
    pub resource_type: i8,
    pub resource_name: String,
    pub changes: Vec<ConfigChange>,
    pub incremental: bool,
}

const LIST_KEYS: &[&str] = &[
    "cleanup.policy",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
];

pub fn alter_configs(
    image: &MetadataImage,
    broker: &BrokerConfig,
    requests: &[AlterRequest],
) -> (Vec<MetadataRecord>, Vec<Result<(), ControllerError>>) {
    let mut records = Vec::new();
    let results = requests
        .iter()
        .map(|req| {
            records.extend(plan(image, broker, req)?);
            Ok(())
        })
        .collect();
    (records, results)
}

fn plan(
    image: &MetadataImage,
    broker: &BrokerConfig,
    req: &AlterRequest,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let is_broker = req.resource_type == RESOURCE_BROKER;
    // Kafka refuses a resource that names one key twice, whatever the ops
    // (ControllerConfigurationValidator / ConfigAdminManager).
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = req.changes.iter().find(|c| !seen.insert(c.name.as_str())) {
        return Err(ControllerError::InvalidRequest(format!(
            "Error due to duplicate config keys: {}",
            dup.name
        )));
    }
    let (resource, current) = match req.resource_type {
        RESOURCE_TOPIC => {
            let topic = image
                .topic(&req.resource_name)
                .ok_or(ControllerError::UnknownTopicOrPartition)?;
            (
                ConfigResource::Topic(req.resource_name.clone()),
                topic.configs.clone(),
            )
        }
        // "" is the cluster-wide default; otherwise this broker's id.
        RESOURCE_BROKER
            if req.resource_name.is_empty() || req.resource_name == broker.node_id.to_string() =>
        {
            let current = image
                .broker_configs
                .get(&req.resource_name)
                .cloned()
                .unwrap_or_default();
            (ConfigResource::Broker(req.resource_name.clone()), current)
        }
        RESOURCE_BROKER => {
            return Err(ControllerError::InvalidRequest(format!(
                "unknown broker {}",
                req.resource_name
            )));
        }
        other => {
            return Err(ControllerError::InvalidRequest(format!(
                "unsupported resource type {other}"
            )));
        }
    };
    let mut next = if req.incremental {
        current.clone()
    } else {
        BTreeMap::new()
    };
    for change in &req.changes {
        check_key(is_broker, &change.name)?;
        match change.op {
            AlterOp::Unknown(code) => {
                return Err(ControllerError::InvalidRequest(format!(
                    "unknown config operation {code} for '{}'",
                    change.name
                )));
            }
            AlterOp::Set => {
                let value = change.value.clone().ok_or_else(|| {
                    ControllerError::InvalidConfig(format!(
                        "null value for config '{}'",
                        change.name
                    ))
                })?;
                next.insert(change.name.clone(), value);
            }
            AlterOp::Delete => {
                next.remove(&change.name);
            }
            AlterOp::Append | AlterOp::Subtract => {
                let base = match next.get(&change.name) {
                    Some(v) => v.clone(),
                    None if is_broker => broker.value_of(&change.name).unwrap_or("").to_string(),
                    None => topic_config(&change.name)
                        .and_then(|d| d.key.default)
                        .unwrap_or("")
                        .to_string(),
                };
                next.insert(change.name.clone(), edit_list(change, &base)?);
            }
        }
    }
    if is_broker {
        // Check the broker config exactly as it would be applied.
        let mut layers = image.broker_configs.clone();
        layers.insert(req.resource_name.clone(), next.clone());
        let empty = BTreeMap::new();
        let own = broker.node_id.to_string();
        broker
            .with_dynamic(
                layers.get("").unwrap_or(&empty),
                layers.get(&own).unwrap_or(&empty),
            )
            .map_err(|e| ControllerError::InvalidConfig(e.to_string()))?;
    } else {
        for (k, v) in next.iter().filter(|(k, v)| current.get(*k) != Some(*v)) {
            validate_topic_config(k, v)
                .map_err(|e| ControllerError::InvalidConfig(e.to_string()))?;
        }
    }
    let set = next
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    let removed = current
        .keys()
        .filter(|k| !next.contains_key(*k))
        .map(|k| (k.clone(), None));
    Ok(set
        .chain(removed)
        .map(|(name, value)| MetadataRecord::Config {
            resource: resource.clone(),
            name,
            value,
        })
        .collect())
}

/// A topic config must exist; a broker config must exist and be one of the
/// dynamic ones (Kafka refuses the rest with INVALID_REQUEST).
fn check_key(is_broker: bool, name: &str) -> Result<(), ControllerError> {
    if !is_broker {
        return match topic_config(name) {
            Some(_) => Ok(()),
            None => Err(ControllerError::InvalidConfig(format!(
                "unknown topic config '{name}'"
            ))),
        };
    }
    if broker_key(name).is_none() {
        return Err(ControllerError::InvalidConfig(format!(
            "unknown broker config '{name}'"
        )));
    }
    if !is_dynamic_broker_key(name) {
        return Err(ControllerError::InvalidRequest(format!(
            "cannot update broker config '{name}' dynamically: set it in the config file, server.properties or KAFKA_* environment"
        )));
    }
    Ok(())
}

/// APPEND or SUBTRACT on a list config.
fn edit_list(change: &ConfigChange, base: &str) -> Result<String, ControllerError> {
    let list_name = change.name.strip_prefix("log.").unwrap_or(&change.name);
    if !LIST_KEYS.contains(&list_name) {
        return Err(ControllerError::InvalidConfig(format!(
            "config '{}' is not a list: APPEND and SUBTRACT apply to list configs only",
            change.name
        )));
    }
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let mut items = split(base);
    for v in split(change.value.as_deref().unwrap_or("")) {
        if change.op == AlterOp::Append {
            if !items.contains(&v) {
                items.push(v);
            }
        } else {
            items.retain(|i| *i != v);
        }
    }
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn image_with_topic() -> MetadataImage {
        let mut image = MetadataImage::empty();
        image.replay(
            0,
            &MetadataRecord::Topic {
                name: "t".into(),
                topic_id: Uuid::from_u128(1),
            },
        );
        image.replay(
            1,
            &MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
        );
        image
    }

    fn change(name: &str, op: AlterOp, value: Option<&str>) -> ConfigChange {
        ConfigChange {
            name: name.into(),
            op,
            value: value.map(String::from),
        }
    }

    fn topic_req(changes: Vec<ConfigChange>, incremental: bool) -> AlterRequest {
        AlterRequest {
            resource_type: RESOURCE_TOPIC,
            resource_name: "t".into(),
            changes,
            incremental,
        }
    }

    fn run(
        image: &MetadataImage,
        req: AlterRequest,
    ) -> (MetadataImage, Result<(), ControllerError>) {
        let (records, mut results) = alter_configs(image, &BrokerConfig::default(), &[req]);
        let mut next = image.clone();
        for r in &records {
            let o = next.offset + 1;
            next.replay(o, r);
        }
        (next, results.remove(0))
    }

    #[test]
    fn incremental_set_delete_append_subtract() {
        let image = image_with_topic();
        let (image, r) = run(
            &image,
            topic_req(
                vec![
                    change("segment.bytes", AlterOp::Set, Some("1048576")),
                    change("retention.ms", AlterOp::Delete, None),
                ],
                true,
            ),
        );
        assert!(r.is_ok());
        let t = image.topic("t").unwrap();
        assert_eq!(
            t.configs.get("segment.bytes").map(String::as_str),
            Some("1048576")
        );
        assert!(!t.configs.contains_key("retention.ms"));
        let (image, r) = run(
            &image,
            topic_req(
                vec![change("cleanup.policy", AlterOp::Append, Some("compact"))],
                true,
            ),
        );
        assert!(r.is_ok());
        assert_eq!(
            image.topic("t").unwrap().configs["cleanup.policy"],
            "delete,compact"
        );
        let (image, _) = run(
            &image,
            topic_req(
                vec![change("cleanup.policy", AlterOp::Subtract, Some("delete"))],
                true,
            ),
        );
        assert_eq!(
            image.topic("t").unwrap().configs["cleanup.policy"],
            "compact"
        );
    }

    fn broker_req(name: &str, changes: Vec<ConfigChange>) -> AlterRequest {
        AlterRequest {
            resource_type: RESOURCE_BROKER,
            resource_name: name.into(),
            changes,
            incremental: true,
        }
    }

    #[test]
    fn broker_topic_defaults_are_dynamic_and_others_are_not() {
        let image = image_with_topic();
        let (image, r) = run(
            &image,
            broker_req(
                "",
                vec![change("log.retention.ms", AlterOp::Set, Some("60000"))],
            ),
        );
        assert!(r.is_ok());
        assert_eq!(image.broker_configs[""]["log.retention.ms"], "60000");
        let (image, r) = run(
            &image,
            broker_req(
                "1",
                vec![change("message.max.bytes", AlterOp::Set, Some("2000000"))],
            ),
        );
        assert!(r.is_ok());
        assert_eq!(image.broker_configs["1"]["message.max.bytes"], "2000000");
        let requests = [
            broker_req(
                "1",
                vec![change("listeners", AlterOp::Set, Some("PLAINTEXT://:1"))],
            ),
            broker_req(
                "1",
                vec![change("log.retention.ms", AlterOp::Set, Some("forever"))],
            ),
            broker_req(
                "7",
                vec![change("log.retention.ms", AlterOp::Set, Some("1"))],
            ),
            broker_req("1", vec![change("no.such.key", AlterOp::Set, Some("1"))]),
        ];
        let (records, results) = alter_configs(&image, &BrokerConfig::default(), &requests);
        assert!(records.is_empty());
        let codes: Vec<i16> = results
            .iter()
            .map(|r| r.as_ref().unwrap_err().code())
            .collect();
        assert_eq!(codes, vec![42, 40, 42, 40]);
    }

    #[test]
    fn legacy_alter_replaces_the_whole_set() {
        let image = image_with_topic();
        let (image, r) = run(
            &image,
            topic_req(
                vec![change("max.message.bytes", AlterOp::Set, Some("2000"))],
                false,
            ),
        );
        assert!(r.is_ok());
        let t = image.topic("t").unwrap();
        assert_eq!(t.configs.len(), 1);
        assert_eq!(t.configs["max.message.bytes"], "2000");
    }

    #[test]
    fn bad_changes_fail_with_kafkas_codes_and_write_nothing() {
        let image = image_with_topic();
        for (req, code) in [
            (
                topic_req(
                    vec![change("retention.ms", AlterOp::Set, Some("soon"))],
                    true,
                ),
                40,
            ),
            (
                topic_req(vec![change("no.such", AlterOp::Set, Some("1"))], true),
                40,
            ),
            (
                topic_req(
                    vec![
                        change("segment.bytes", AlterOp::Set, Some("1048576")),
                        change("retention.ms", AlterOp::from_code(9), Some("1")),
                    ],
                    true,
                ),
                42,
            ),
            (
                topic_req(
                    vec![change("retention.ms", AlterOp::Append, Some("1"))],
                    true,
                ),
                40,
            ),
            (
                AlterRequest {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "missing".into(),
                    changes: vec![],
                    incremental: true,
                },
                3,
            ),
        ] {
            let (records, results) = alter_configs(&image, &BrokerConfig::default(), &[req]);
            assert!(records.is_empty());
            assert_eq!(results[0].as_ref().unwrap_err().code(), code);
        }
    }
}
