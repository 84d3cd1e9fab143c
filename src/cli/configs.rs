//! Configs of topics and brokers, shared by `runnel topic` and `runnel
//! cluster config`: DescribeConfigs to read them (with each value's
//! source) and IncrementalAlterConfigs to set or delete single keys,
//! leaving the others as they are.
//! Kafka counterpart: `Admin.describeConfigs` / `incrementalAlterConfigs`
//! as `kafka-configs` uses them.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::{Value, json};

use super::client::{AdminClient, Target};
use super::error::{CliError, check};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
/// Kafka's `ConfigSource` id of a value that is nobody's setting.
pub const SOURCE_DEFAULT: i8 = 5;

/// One config entry as DescribeConfigs gives it.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub sensitive: bool,
}

impl ConfigEntry {
    /// The value as printed: sensitive values are never shown.
    pub fn shown_value(&self) -> String {
        match (&self.value, self.sensitive) {
            (_, true) => "(sensitive)".to_string(),
            (Some(v), false) => v.clone(),
            (None, false) => "(null)".to_string(),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "value": if self.sensitive { Value::Null } else { json!(self.value) },
            "source": source_name(self.source),
            "read_only": self.read_only,
            "sensitive": self.sensitive,
        })
    }
}

/// Kafka's name of a `ConfigSource` id (`DescribeConfigsResponse.ConfigSource`).
pub fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// A resource's configs, `keys` only when given. `subject` names the
/// resource in errors (`topic 'x'`).
pub fn describe(
    client: &mut AdminClient,
    target: Target,
    resource_type: i8,
    resource_name: &str,
    keys: Option<&[String]>,
    subject: &str,
) -> Result<Vec<ConfigEntry>, CliError> {
    let (_, response) = client.call(target, 1..=4, |_| {
        DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(resource_name.to_string()))
                .with_configuration_keys(
                    keys.map(|k| k.iter().map(|s| StrBytes::from_string(s.clone())).collect()),
                ),
        ])
    })?;
    let [result] = <[_; 1]>::try_from(response.results).map_err(|r| CliError::Protocol {
        address: subject.to_string(),
        reason: format!("{} results for one resource", r.len()),
    })?;
    check(subject, result.error_code, result.error_message.as_deref())?;
    let mut entries: Vec<ConfigEntry> = result
        .configs
        .into_iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value.map(|v| v.to_string()),
            source: c.config_source,
            read_only: c.read_only,
            sensitive: c.is_sensitive,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// A change to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(String, String),
    Delete(String),
}

impl Change {
    pub fn describe(&self) -> String {
        match self {
            Change::Set(k, v) => format!("set {k}={v}"),
            Change::Delete(k) => format!("deleted {k}"),
        }
    }
}

/// `key=value` of `-c`/`--set`, refused without `=` or with an empty key.
pub fn parse_pair(pair: &str) -> Result<(String, String), CliError> {
    match pair.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(CliError::Usage(format!(
            "'{pair}' is not KEY=VALUE (for example retention.ms=86400000)"
        ))),
    }
}

/// Applies `changes` to one resource with IncrementalAlterConfigs.
pub fn alter(
    client: &mut AdminClient,
    target: Target,
    resource_type: i8,
    resource_name: &str,
    changes: &[Change],
    subject: &str,
) -> Result<(), CliError> {
    let configs = changes
        .iter()
        .map(|c| match c {
            Change::Set(k, v) => AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(v.clone()))),
            Change::Delete(k) => AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(1)
                .with_value(None),
        })
        .collect();
    let (_, response) = client.call(target, 0..=1, |_| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(resource_name.to_string()))
                .with_configs(configs),
        ])
    })?;
    for r in response.responses {
        check(subject, r.error_code, r.error_message.as_deref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_need_a_key_and_an_equals_sign() {
        assert_eq!(
            parse_pair("retention.ms=1000").unwrap(),
            ("retention.ms".into(), "1000".into())
        );
        assert_eq!(
            parse_pair("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
        assert_eq!(parse_pair("a=").unwrap(), ("a".into(), String::new()));
        assert!(matches!(
            parse_pair("retention.ms"),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(parse_pair("=1"), Err(CliError::Usage(_))));
    }

    #[test]
    fn sensitive_values_are_never_shown() {
        let e = ConfigEntry {
            name: "sasl.jaas.config".into(),
            value: Some("secret".into()),
            source: 4,
            read_only: true,
            sensitive: true,
        };
        assert_eq!(e.shown_value(), "(sensitive)");
        assert_eq!(e.json()["value"], Value::Null);
        assert_eq!(e.json()["source"], "STATIC_BROKER_CONFIG");
    }
}
