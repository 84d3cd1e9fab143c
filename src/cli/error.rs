//! What can go wrong in an admin command, each a one-line message for a
//! person: a broker that cannot be reached (named by its address), a Kafka
//! error code (printed with Kafka's own name, `TOPIC_ALREADY_EXISTS`, and
//! what it means), an answer the client cannot read, or a bad argument.
//! Kafka counterpart: the exceptions `kafka-topics` and
//! `kafka-consumer-groups` print (`org.apache.kafka.common.errors`).

use crate::protocol::error_counts::error_name;

/// Exit code of a command that failed (a bad argument is clap's 2).
pub const EXIT_FAILED: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No broker of the bootstrap list (or the one a request had to go to)
    /// accepted a connection.
    #[error("cannot connect to {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The connection broke or timed out mid-request.
    #[error("{address}: {reason}")]
    Io { address: String, reason: String },
    /// A Kafka error code, about `subject` (`topic 'x'`, `group 'g'`).
    #[error("{}", kafka_line(subject, *code, message.as_deref()))]
    Kafka {
        subject: String,
        code: i16,
        message: Option<String>,
    },
    /// The broker lacks an API (or every version of it) the command needs.
    #[error("{address} does not support {api} {wanted}; it offers {offered}")]
    Unsupported {
        address: String,
        api: String,
        wanted: String,
        offered: String,
    },
    /// An answer that cannot be decoded or does not match the request.
    #[error("{address} sent an answer that cannot be read: {reason}")]
    Protocol { address: String, reason: String },
    /// A request the command refuses to send (an active group's offsets).
    #[error("{0}")]
    Refused(String),
    /// A bad argument clap could not catch (`-c retention.ms`).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn kafka(subject: impl Into<String>, code: i16, message: Option<&str>) -> CliError {
        CliError::Kafka {
            subject: subject.into(),
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        }
    }

    /// The Kafka error code, for errors that carry one.
    pub fn code(&self) -> Option<i16> {
        match self {
            CliError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `Ok(())` for code 0, else the error about `subject`.
pub fn check(subject: &str, code: i16, message: Option<&str>) -> Result<(), CliError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::kafka(subject, code, message))
    }
}

/// `topic 'x' already exists (TOPIC_ALREADY_EXISTS)`: the readable text
/// for the codes a person meets with these commands, else the broker's own
/// message, else Kafka's name alone. The broker's message is added when it
/// says more than the readable text.
fn kafka_line(subject: &str, code: i16, message: Option<&str>) -> String {
    let name = error_name(code);
    let name = if name == "UNKNOWN_CODE" {
        format!("error code {code}")
    } else {
        name.to_string()
    };
    // A broker message that only says what the readable text says
    // (Kafka's "Topic 'x' already exists.") is left out.
    let message = message
        .filter(|m| !m.is_empty() && readable(code).is_none_or(|t| !m.to_lowercase().contains(t)));
    match (readable(code), message) {
        (Some(text), Some(m)) => format!("{subject} {text}: {m} ({name})"),
        (Some(text), _) => format!("{subject} {text} ({name})"),
        (None, Some(m)) => format!("{subject}: {m} ({name})"),
        (None, _) => format!("{subject}: the broker answered {name}"),
    }
}

/// What a code means, phrased to follow its subject.
fn readable(code: i16) -> Option<&'static str> {
    Some(match code {
        3 => "does not exist",
        5 => "has no leader right now",
        7 => "timed out on the broker",
        14 => "is being loaded by its coordinator; try again",
        15 => "has no coordinator available right now",
        16 => "is not handled by the broker asked",
        17 => "has an invalid name",
        25 => "has no such member",
        29..=31 => "is not authorized",
        36 => "already exists",
        37 => "has an invalid partition count",
        38 => "has an invalid replication factor",
        40 => "has an invalid configuration",
        41 => "was sent to a broker that is not the controller",
        42 => "was refused as an invalid request",
        44 => "was refused by the broker's policy",
        68 => "is not empty: it still has members",
        69 => "does not exist",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_read_as_one_line_with_the_kafka_name() {
        let table = [
            (
                ("topic 'x'", 36, None),
                "topic 'x' already exists (TOPIC_ALREADY_EXISTS)",
            ),
            (
                ("topic 'x'", 36, Some("Topic 'x' already exists.")),
                "topic 'x' already exists (TOPIC_ALREADY_EXISTS)",
            ),
            (
                ("topic 'x'", 40, Some("retention.ms: not a number")),
                "topic 'x' has an invalid configuration: retention.ms: not a number \
                 (INVALID_CONFIG)",
            ),
            (
                ("group 'g'", 69, Some("")),
                "group 'g' does not exist (GROUP_ID_NOT_FOUND)",
            ),
            (
                ("config 'a'", 87, Some("bad value")),
                "config 'a': bad value (INVALID_RECORD)",
            ),
            (
                ("topic 't'", 87, None),
                "topic 't': the broker answered INVALID_RECORD",
            ),
            (
                ("topic 't'", 9999, None),
                "topic 't': the broker answered error code 9999",
            ),
        ];
        for ((subject, code, message), want) in table {
            let e = CliError::kafka(subject, code, message);
            assert_eq!(e.to_string(), want);
            assert_eq!(e.code(), Some(code));
            assert!(!e.to_string().contains('\n'));
        }
        assert!(check("topic 'x'", 0, Some("ignored")).is_ok());
    }
}
