//! Arbitrary bytes as a request frame body (what follows the 4-byte length),
//! taken down the connection's decode path: the preamble, the version table,
//! then the `kafka-protocol` decoder. Nothing from the network may panic, and
//! a decoded header must agree with the preamble the request was routed by.
//!
//! The length prefix itself is read inside the async connection and has no
//! public helper, so framing is not part of this target.

#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use runnel::protocol::codec::{decode_request, peek_preamble};
use runnel::protocol::versions::is_handled;

fuzz_target!(|frame: &[u8]| {
    let Ok(preamble) = peek_preamble(frame) else {
        return;
    };
    let Ok(api_key) = ApiKey::try_from(preamble.api_key) else {
        return;
    };
    if !is_handled(api_key, preamble.api_version) {
        return;
    }
    let Ok((header, _body)) =
        decode_request(api_key, preamble.api_version, Bytes::copy_from_slice(frame))
    else {
        return;
    };
    assert_eq!(header.request_api_key, preamble.api_key);
    assert_eq!(header.request_api_version, preamble.api_version);
    assert_eq!(header.correlation_id, preamble.correlation_id);
});
