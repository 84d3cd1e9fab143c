//! DescribeConfigs, AlterConfigs, IncrementalAlterConfigs. Describing reads
//! the image and the static broker config; altering goes through the
//! controller ([`crate::controller::configs`]).

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};

use kafka_protocol::protocol::StrBytes;

use super::Broker;
use super::str_bytes;
use crate::config::topic::{
    ConfigSource, DescribedConfig, describe_broker_configs, describe_topic_configs,
};
use crate::controller::channel::AlterConfigs;
use crate::controller::configs::{
    AlterOp, AlterRequest, ConfigChange, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::protocol::ApiError;

pub fn describe_configs(
    broker: &Broker,
    version: i16,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = broker.metadata.current();
    let effective = broker.effective_config();
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let described: Result<Vec<DescribedConfig>, ApiError> = match r.resource_type {
                RESOURCE_TOPIC => image
                    .topic(&name)
                    .map(|t| describe_topic_configs(&t.configs, &effective))
                    .ok_or(ApiError::UnknownTopicOrPartition),
                RESOURCE_BROKER if name == broker.config.node_id.to_string() => {
                    Ok(describe_broker_configs(&effective))
                }
                // The cluster-wide default resource: only the keys set as
                // dynamic defaults, with only those synonyms (Kafka's
                // `perBrokerConfig = false`).
                RESOURCE_BROKER if name.is_empty() => Ok(describe_broker_configs(&effective)
                    .into_iter()
                    .filter(|c| c.source == ConfigSource::DynamicDefaultBroker)
                    .map(|mut c| {
                        c.synonyms
                            .retain(|s| s.2 == ConfigSource::DynamicDefaultBroker);
                        c
                    })
                    .collect()),
                RESOURCE_BROKER => Err(ApiError::InvalidRequest(format!(
                    "broker {name} is not this broker"
                ))),
                other => Err(ApiError::InvalidRequest(format!(
                    "unsupported resource type {other}"
                ))),
            };
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match described {
                Ok(configs) => base.with_configs(
                    configs
                        .into_iter()
                        .filter(|c| {
                            r.configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == c.name))
                        })
                        .map(|c| {
                            to_result(c, version, req.include_synonyms, req.include_documentation)
                        })
                        .collect(),
                ),
                Err(e) => base
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn to_result(
    c: DescribedConfig,
    version: i16,
    synonyms: bool,
    docs: bool,
) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(c.name))
        .with_value(c.value.map(str_bytes))
        .with_read_only(c.read_only)
        .with_config_source(c.source.code())
        .with_is_sensitive(c.is_sensitive);
    if synonyms {
        r = r.with_synonyms(
            c.synonyms
                .into_iter()
                .map(|(n, v, s)| {
                    DescribeConfigsSynonym::default()
                        .with_name(str_bytes(n))
                        .with_value(v.map(str_bytes))
                        .with_source(s.code())
                })
                .collect(),
        );
    }
    if version >= 3 {
        r = r.with_config_type(c.config_type);
        if docs {
            r = r.with_documentation(c.documentation.map(str_bytes));
        }
    }
    r
}

/// Runs the decisions and pairs each resource with its outcome.
async fn run_alter(
    broker: &Broker,
    requests: Vec<AlterRequest>,
    validate_only: bool,
) -> Vec<(AlterRequest, Result<(), ApiError>)> {
    let results = match broker
        .controller
        .alter_configs(AlterConfigs {
            requests: requests.clone(),
            validate_only,
        })
        .await
    {
        Ok(r) => super::errors::entries(r),
        Err(e) => requests
            .iter()
            .map(|_| Err(ApiError::from(e.clone())))
            .collect(),
    };
    requests.into_iter().zip(results).collect()
}

/// The error code and message of one resource's outcome.
fn outcome(result: &Result<(), ApiError>) -> (i16, Option<StrBytes>) {
    match result {
        Ok(()) => (0, None),
        Err(e) => (e.code(), Some(str_bytes(e.message()))),
    }
}

fn alter_request(
    resource_type: i8,
    name: &StrBytes,
    incremental: bool,
    changes: Vec<ConfigChange>,
) -> AlterRequest {
    AlterRequest {
        resource_type,
        resource_name: name.to_string(),
        changes,
        incremental,
    }
}

fn change(name: &StrBytes, op: AlterOp, value: &Option<StrBytes>) -> ConfigChange {
    ConfigChange {
        name: name.to_string(),
        op,
        value: value.as_ref().map(|v| v.to_string()),
    }
}

pub async fn incremental_alter_configs(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let requests = req
        .resources
        .iter()
        .map(|r| {
            let changes = r
                .configs
                .iter()
                .map(|c| change(&c.name, AlterOp::from_code(c.config_operation), &c.value))
                .collect();
            alter_request(r.resource_type, &r.resource_name, true, changes)
        })
        .collect();
    let responses = run_alter(broker, requests, req.validate_only)
        .await
        .into_iter()
        .map(|(r, result)| {
            let (code, message) = outcome(&result);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(str_bytes(r.resource_name))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub async fn alter_configs(broker: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let requests = req
        .resources
        .iter()
        .map(|r| {
            let changes = r
                .configs
                .iter()
                .map(|c| change(&c.name, AlterOp::Set, &c.value))
                .collect();
            alter_request(r.resource_type, &r.resource_name, false, changes)
        })
        .collect();
    let responses = run_alter(broker, requests, req.validate_only)
        .await
        .into_iter()
        .map(|(r, result)| {
            let (code, message) = outcome(&result);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(str_bytes(r.resource_name))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
