//! ApiVersions, answered from the versions table (KIP-511 for unknown
//! versions and for the client software name and version, which v3+ carry),
//! with the feature flags (KIP-584) in v3+: the codec writes the tagged
//! feature fields only from v3 on. Supported levels come from the versions
//! table; finalized levels from the metadata image (the `FeatureLevelRecord`s
//! of the metadata log), with the image's offset as their epoch, as Kafka's
//! `KRaftMetadataCache.features` gives them.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::metadata::MetadataImage;
use crate::protocol::versions::{FEATURES, ListenerKind, supported_range};

/// The answer to an ApiVersions request: our ranges, or INVALID_REQUEST
/// with no ranges when a v3+ client names itself outside KIP-511's pattern
/// (as Kafka's `ApiVersionsRequest.isValid`).
pub fn api_versions(
    image: &MetadataImage,
    kind: ListenerKind,
    version: i16,
    req: &ApiVersionsRequest,
) -> ApiVersionsResponse {
    if version >= 3
        && !(is_valid_software_token(&req.client_software_name)
            && is_valid_software_token(&req.client_software_version))
    {
        return ApiVersionsResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    api_versions_response(image, kind)
}

/// KIP-511: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn is_valid_software_token(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.';
    match b {
        [] => false,
        [only] => edge(only),
        [first, middle @ .., last] => edge(first) && edge(last) && middle.iter().all(inner),
    }
}

/// The ranges of the listener's versions table, with the feature flags.
pub fn api_versions_response(image: &MetadataImage, kind: ListenerKind) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_api_keys(
            kind.apis()
                .iter()
                .map(|r| {
                    ApiVersion::default()
                        .with_api_key(r.key as i16)
                        .with_min_version(r.min)
                        .with_max_version(r.max)
                })
                .collect(),
        )
        .with_supported_features(
            FEATURES
                .iter()
                .map(|f| {
                    SupportedFeatureKey::default()
                        .with_name(StrBytes::from_static_str(f.name))
                        .with_min_version(f.min)
                        .with_max_version(f.max)
                })
                .collect(),
        )
        .with_finalized_features_epoch(image.offset)
        .with_finalized_features(
            finalized_in_table_order(image)
                .map(|(name, level)| {
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_string(name.clone()))
                        .with_min_version_level(*level)
                        .with_max_version_level(*level)
                })
                .collect(),
        )
}

/// The image's finalized levels above 0, in the versions table's order
/// (`metadata.version` first), then any the table does not know.
fn finalized_in_table_order(image: &MetadataImage) -> impl Iterator<Item = (&String, &i16)> {
    let known = FEATURES
        .iter()
        .filter_map(|f| image.features.get_key_value(f.name));
    let other = image
        .features
        .iter()
        .filter(|(name, _)| !FEATURES.iter().any(|f| f.name == name.as_str()));
    known.chain(other).filter(|(_, level)| **level > 0)
}

/// The answer to an ApiVersions request of a version we do not serve: a v0
/// response with UNSUPPORTED_VERSION and, as Kafka sends, only ApiVersions'
/// own range, so the client retries with a version we know.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    let own = supported_range(ApiKey::ApiVersions).expect("ApiVersions is served");
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(own.key as i16)
                .with_min_version(own.min)
                .with_max_version(own.max),
        ])
}

#[cfg(test)]
mod tests {
    use super::is_valid_software_token;

    #[test]
    fn software_tokens_follow_kip_511() {
        for ok in ["a", "librdkafka", "apache-kafka-java", "1.2.3-rc1", "x.y"] {
            assert!(is_valid_software_token(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".a", "a.", "bad name", "a_b", "ü"] {
            assert!(!is_valid_software_token(bad), "{bad}");
        }
    }
}
