//! Features Runnel does not have yet, refused early and loudly: the client
//! gets an error it surfaces at once (never a timeout), and the broker logs
//! one WARN line naming the client, once per client id and feature.
//!
//! The codes are chosen by what the clients do with them (read in the
//! Java client's `TransactionManager` and librdkafka's `rdkafka_txnmgr.c`):
//! - **Transactions** (FindCoordinator key type 1, InitProducerId with a
//!   transactional id): CLUSTER_AUTHORIZATION_FAILED with a message saying
//!   why. It is the one code both clients treat as fatal on FindCoordinator
//!   (librdkafka retries every other code until `transaction.timeout.ms`;
//!   the Java client retries retriable ones until `max.block.ms`), and the
//!   Java client puts the message in its exception. The other transaction
//!   APIs (AddPartitionsToTxn, EndTxn, ...) stay unadvertised, so clients
//!   never get that far.
//! - **ACLs** (DescribeAcls, CreateAcls, DeleteAcls): SECURITY_DISABLED,
//!   Kafka's own answer when no authorizer is configured.
//! - **SCRAM credentials** (Describe/AlterUserScramCredentials):
//!   SECURITY_DISABLED too, per user; there is no SASL on any listener.
//!   Describing all users answers "none" without an error (see below).
//!
//! Kafka counterpart: `AclApis.scala` (no authorizer) and the
//! `transaction.state.log.*` coordinator, which Runnel does not have.

use std::collections::HashSet;
use std::sync::Mutex;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, CreateAclsRequest,
    CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};
use crate::protocol::ApiError;

/// A feature that is refused until it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Missing {
    Transactions,
    Acls,
    Scram,
}

impl Missing {
    fn name(self) -> &'static str {
        match self {
            Missing::Transactions => "transactions",
            Missing::Acls => "ACLs",
            Missing::Scram => "SCRAM credentials",
        }
    }

    /// The error the client gets, with the message it shows.
    pub fn error(self) -> ApiError {
        match self {
            Missing::Transactions => ApiError::ClusterAuthorizationFailed(
                "transactions are not supported by Runnel yet (no transaction coordinator); \
                 use an idempotent producer without transactional.id"
                    .into(),
            ),
            Missing::Acls => ApiError::SecurityDisabled(
                "ACLs are not supported by Runnel yet: no authorizer is configured on the broker"
                    .into(),
            ),
            Missing::Scram => ApiError::SecurityDisabled(
                "SCRAM credentials are not supported by Runnel yet: no listener uses SASL".into(),
            ),
        }
    }
}

/// Client ids already warned about, per feature. Bounded: past the cap the
/// set starts over, so a flood of ids costs memory once and WARN lines at
/// most once per id and cap.
static WARNED: Mutex<Option<HashSet<(Missing, String)>>> = Mutex::new(None);
const WARNED_CAP: usize = 1024;

/// Whether this (feature, client id) is seen for the first time.
fn first_time(feature: Missing, client_id: &str) -> bool {
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    let set = warned.get_or_insert_with(HashSet::new);
    if set.len() >= WARNED_CAP {
        set.clear();
    }
    set.insert((feature, client_id.to_owned()))
}

/// Logs the refusal: WARN the first time a client asks, DEBUG after.
pub fn refuse(feature: Missing, ctx: &RequestContext, api: &str) -> ApiError {
    let client_id = ctx.client_id.as_deref().unwrap_or("");
    let error = feature.error();
    if first_time(feature, client_id) {
        tracing::warn!(
            client_id,
            peer = %ctx.peer,
            api,
            "client asked for {} which Runnel does not support yet; refused with error code {}",
            feature.name(),
            error.code(),
        );
    } else {
        tracing::debug!(client_id, api, feature = feature.name(), "refused again");
    }
    error
}

/// The same refusal for each of `items`, built by `make(code, message)`.
fn each<T, R>(
    items: impl IntoIterator<Item = T>,
    e: &ApiError,
    make: impl Fn(T, i16, Option<StrBytes>) -> R,
) -> Vec<R> {
    items
        .into_iter()
        .map(|item| make(item, e.code(), Some(str_bytes(e.message()))))
        .collect()
}

pub fn describe_acls(ctx: &RequestContext) -> DescribeAclsResponse {
    let e = refuse(Missing::Acls, ctx, "DescribeAcls");
    DescribeAclsResponse::default()
        .with_error_code(e.code())
        .with_error_message(Some(str_bytes(e.message())))
}

pub fn create_acls(ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let e = refuse(Missing::Acls, ctx, "CreateAcls");
    CreateAclsResponse::default().with_results(each(&req.creations, &e, |_, code, message| {
        AclCreationResult::default()
            .with_error_code(code)
            .with_error_message(message)
    }))
}

pub fn delete_acls(ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let e = refuse(Missing::Acls, ctx, "DeleteAcls");
    DeleteAclsResponse::default().with_filter_results(each(&req.filters, &e, |_, code, message| {
        DeleteAclsFilterResult::default()
            .with_error_code(code)
            .with_error_message(message)
    }))
}

pub fn describe_user_scram_credentials(
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let e = refuse(Missing::Scram, ctx, "DescribeUserScramCredentials");
    // Never a top-level error: librdkafka (2.x) frees the top-level error
    // string it keeps here and crashes the client process. Named users get
    // the error each; "all users" is truthfully none.
    let users = req.users.unwrap_or_default();
    DescribeUserScramCredentialsResponse::default().with_results(each(
        users,
        &e,
        |u, code, message| {
            DescribeUserScramCredentialsResult::default()
                .with_user(u.name)
                .with_error_code(code)
                .with_error_message(message)
        },
    ))
}

pub fn alter_user_scram_credentials(
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let e = refuse(Missing::Scram, ctx, "AlterUserScramCredentials");
    let users = req
        .deletions
        .iter()
        .map(|d| d.name.clone())
        .chain(req.upsertions.iter().map(|u| u.name.clone()));
    let mut seen = HashSet::new();
    let users: Vec<_> = users.filter(|u| seen.insert(u.clone())).collect();
    AlterUserScramCredentialsResponse::default().with_results(each(
        users,
        &e,
        |user, code, message| {
            AlterUserScramCredentialsResult::default()
                .with_user(user)
                .with_error_code(code)
                .with_error_message(message)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_feature_has_its_documented_code() {
        // CLUSTER_AUTHORIZATION_FAILED = 31, SECURITY_DISABLED = 54.
        assert_eq!(Missing::Transactions.error().code(), 31);
        assert_eq!(Missing::Acls.error().code(), 54);
        assert_eq!(Missing::Scram.error().code(), 54);
    }

    #[test]
    fn a_client_is_warned_about_once_per_feature() {
        assert!(first_time(Missing::Acls, "warn-once-test"));
        assert!(!first_time(Missing::Acls, "warn-once-test"));
        assert!(first_time(Missing::Scram, "warn-once-test"));
    }
}
