//! ApiVersions, answered from the versions table (KIP-511 for unknown
//! versions), with the feature flags (KIP-584) in v3+: the codec writes the
//! tagged feature fields only from v3 on.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::protocol::StrBytes;

use crate::protocol::versions::{FEATURES, FINALIZED_FEATURES_EPOCH, SUPPORTED_APIS};

pub fn api_versions_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_api_keys(
            SUPPORTED_APIS
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
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(
            FEATURES
                .iter()
                .filter(|f| f.finalized > 0)
                .map(|f| {
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_static_str(f.name))
                        .with_min_version_level(f.finalized)
                        .with_max_version_level(f.finalized)
                })
                .collect(),
        )
}

/// The answer to an ApiVersions request of a version we do not serve: a v0
/// response with UNSUPPORTED_VERSION and our ranges, so the client retries
/// with a version we know.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    api_versions_response().with_error_code(ResponseError::UnsupportedVersion.code())
}
