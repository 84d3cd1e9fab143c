//! Config decisions for IncrementalAlterConfigs and AlterConfigs: validate
//! and turn each change into `Config` records. Pure functions; no I/O.
//! Kafka counterpart: `ConfigurationControlManager`.

use std::collections::BTreeMap;

use crate::config::topic::{topic_config, validate_topic_config};
use crate::metadata::MetadataImage;
use crate::metadata::records::{ConfigResource, MetadataRecord};
use crate::protocol::ApiError;

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
}

impl AlterOp {
    pub fn from_code(code: i8) -> Option<AlterOp> {
        match code {
            0 => Some(AlterOp::Set),
            1 => Some(AlterOp::Delete),
            2 => Some(AlterOp::Append),
            3 => Some(AlterOp::Subtract),
            _ => None,
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
    node_id: i32,
    requests: &[AlterRequest],
) -> (Vec<MetadataRecord>, Vec<Result<(), ApiError>>) {
    let mut records = Vec::new();
    let results = requests
        .iter()
        .map(|req| {
            let recs = plan(image, node_id, req)?;
            records.extend(recs);
            Ok(())
        })
        .collect();
    (records, results)
}

fn plan(
    image: &MetadataImage,
    node_id: i32,
    req: &AlterRequest,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let (resource, current): (ConfigResource, BTreeMap<String, String>) = match req.resource_type {
        RESOURCE_TOPIC => {
            let topic = image
                .topic(&req.resource_name)
                .ok_or(ApiError::UnknownTopicOrPartition)?;
            (
                ConfigResource::Topic(req.resource_name.clone()),
                topic.configs.clone(),
            )
        }
        RESOURCE_BROKER => {
            if !req.resource_name.is_empty() && req.resource_name != node_id.to_string() {
                return Err(ApiError::InvalidRequest(format!(
                    "unknown broker {}",
                    req.resource_name
                )));
            }
            return Err(ApiError::InvalidRequest(
                "dynamic broker configs are not supported yet: set broker configs in the config file, server.properties or KAFKA_* environment".into(),
            ));
        }
        other => {
            return Err(ApiError::InvalidRequest(format!(
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
        if topic_config(&change.name).is_none() {
            return Err(ApiError::InvalidConfig(format!(
                "unknown topic config '{}'",
                change.name
            )));
        }
        match change.op {
            AlterOp::Set => {
                let value = change.value.clone().ok_or_else(|| {
                    ApiError::InvalidConfig(format!("null value for config '{}'", change.name))
                })?;
                next.insert(change.name.clone(), value);
            }
            AlterOp::Delete => {
                next.remove(&change.name);
            }
            AlterOp::Append | AlterOp::Subtract => {
                if !LIST_KEYS.contains(&change.name.as_str()) {
                    return Err(ApiError::InvalidConfig(format!(
                        "config '{}' is not a list: APPEND and SUBTRACT apply to list configs only",
                        change.name
                    )));
                }
                let default = crate::config::topic::topic_config(&change.name)
                    .and_then(|d| d.key.default)
                    .unwrap_or("");
                let base = next
                    .get(&change.name)
                    .cloned()
                    .unwrap_or_else(|| default.to_string());
                let mut items: Vec<String> = base
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                for v in change
                    .value
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    if change.op == AlterOp::Append {
                        if !items.iter().any(|i| i == v) {
                            items.push(v.to_string());
                        }
                    } else {
                        items.retain(|i| i != v);
                    }
                }
                next.insert(change.name.clone(), items.join(","));
            }
        }
    }
    for (k, v) in &next {
        if current.get(k) != Some(v) {
            validate_topic_config(k, v).map_err(|e| ApiError::InvalidConfig(e.to_string()))?;
        }
    }
    let mut records = Vec::new();
    for (k, v) in &next {
        if current.get(k) != Some(v) {
            records.push(MetadataRecord::Config {
                resource: resource.clone(),
                name: k.clone(),
                value: Some(v.clone()),
            });
        }
    }
    for k in current.keys().filter(|k| !next.contains_key(*k)) {
        records.push(MetadataRecord::Config {
            resource: resource.clone(),
            name: k.clone(),
            value: None,
        });
    }
    Ok(records)
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

    fn run(image: &MetadataImage, req: AlterRequest) -> (MetadataImage, Result<(), ApiError>) {
        let (records, mut results) = alter_configs(image, 1, &[req]);
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
            let (records, results) = alter_configs(&image, 1, &[req]);
            assert!(records.is_empty());
            assert_eq!(results[0].as_ref().unwrap_err().code(), code);
        }
    }
}
