//! ApiVersions, answered from the versions table (KIP-511 for unknown versions).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::protocol::versions::SUPPORTED_APIS;

pub fn api_versions_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
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
}

/// The answer to an ApiVersions request of a version we do not serve: a v0
/// response with UNSUPPORTED_VERSION and our ranges, so the client retries
/// with a version we know.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    api_versions_response().with_error_code(ResponseError::UnsupportedVersion.code())
}
