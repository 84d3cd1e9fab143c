//! The broker lifecycle RPCs of KIP-631, served on controller listeners:
//! BrokerRegistration and BrokerHeartbeat, from a broker of this cluster
//! (this node's own broker side takes the channel directly); and
//! UnregisterBroker, an admin request (`kafka-cluster unregister`) that a
//! client sends to any broker and a broker-only node forwards. The decisions
//! are the controller's (`controller::cluster`); this edge only translates
//! the wire messages and maps refusals to Kafka's codes. Kafka
//! counterparts: `ControllerApis.handleBrokerRegistration` and
//! `handleBrokerHeartbeatRequest`.

use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, UnregisterBrokerRequest, UnregisterBrokerResponse,
};

use super::{Broker, str_bytes};
use crate::controller::ControllerError;
use crate::controller::cluster::{BrokerHeartbeat, BrokerRegistration};
use crate::metadata::records::{BrokerEndpoint, BrokerFeature};
use crate::protocol::ApiError;

pub async fn broker_registration(
    broker: &Broker,
    req: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let broker_id = req.broker_id.0;
    let registration = BrokerRegistration {
        broker_id,
        cluster_id: req.cluster_id.to_string(),
        incarnation_id: req.incarnation_id,
        listeners: req
            .listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: l.security_protocol,
            })
            .collect(),
        features: req
            .features
            .iter()
            .map(|f| BrokerFeature {
                name: f.name.to_string(),
                min: f.min_supported_version,
                max: f.max_supported_version,
            })
            .collect(),
        rack: req.rack.as_ref().map(|r| r.to_string()),
        log_dirs: req.log_dirs.clone(),
        is_migrating_zk_broker: req.is_migrating_zk_broker,
    };
    match broker.controller.register_broker(registration).await {
        Ok(epoch) => {
            tracing::info!(broker_id, broker_epoch = epoch, "broker registered");
            BrokerRegistrationResponse::default().with_broker_epoch(epoch)
        }
        // A broker restarted at once retries every 200 ms while its old
        // session lives: the broker logs that once; here it is not a WARN
        // per retry.
        Err(e @ ControllerError::DuplicateBrokerRegistration(_)) => {
            tracing::debug!(broker_id, error = %e, "broker registration refused while its previous session is live");
            let e = ApiError::from(e);
            BrokerRegistrationResponse::default()
                .with_error_code(e.code())
                .with_broker_epoch(-1)
        }
        Err(e) => {
            let e = ApiError::from(e);
            tracing::warn!(broker_id, error = %e, "broker registration refused");
            BrokerRegistrationResponse::default()
                .with_error_code(e.code())
                .with_broker_epoch(-1)
        }
    }
}

pub async fn broker_heartbeat(
    broker: &Broker,
    req: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    let heartbeat = BrokerHeartbeat {
        broker_id: req.broker_id.0,
        broker_epoch: req.broker_epoch,
        current_metadata_offset: req.current_metadata_offset,
        want_fence: req.want_fence,
        want_shut_down: req.want_shut_down,
    };
    match broker.controller.broker_heartbeat(heartbeat).await {
        Ok(reply) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(reply.is_caught_up)
            .with_is_fenced(reply.is_fenced)
            .with_should_shut_down(reply.should_shut_down),
        Err(e) => {
            let e = ApiError::from(e);
            tracing::debug!(broker_id = req.broker_id.0, error = %e, "broker heartbeat refused");
            // Kafka's defaults for the flags: a refused broker is fenced.
            BrokerHeartbeatResponse::default()
                .with_error_code(e.code())
                .with_is_caught_up(false)
                .with_is_fenced(true)
                .with_should_shut_down(false)
        }
    }
}

pub async fn unregister_broker(
    broker: &Broker,
    req: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let broker_id = req.broker_id.0;
    match broker.controller.unregister_broker(broker_id).await {
        Ok(()) => {
            tracing::info!(broker_id, "broker unregistered");
            UnregisterBrokerResponse::default()
        }
        Err(e) => {
            let e = ApiError::from(e);
            tracing::info!(broker_id, error = %e, "UnregisterBroker refused");
            UnregisterBrokerResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(e.message())))
        }
    }
}
