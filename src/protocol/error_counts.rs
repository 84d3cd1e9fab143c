//! The error codes a response carries, counted per code: what Kafka's
//! `AbstractResponse.errorCounts()` feeds into its RequestMetrics
//! `ErrorsPerSec{request,error}`. Every level that has an error code counts
//! (top-level, per topic, per partition, per group, per resource); NONE is
//! counted too, as Kafka does, so the series exist from the first request.

use std::collections::HashMap;
use std::sync::OnceLock;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ResponseKind;

/// Error code → how many times the response carries it, in first-seen
/// order. Runs for every response: a response carries a handful of
/// distinct codes, so they are counted on the stack, without allocating.
pub fn error_counts(response: &ResponseKind) -> impl Iterator<Item = (i16, u64)> {
    let mut c = Counts::default();
    match response {
        ResponseKind::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .for_each(|p| c.add(p.error_code)),
        ResponseKind::Fetch(r) => {
            // The top-level code only when it is set: per partition otherwise.
            if r.error_code != 0 {
                c.add(r.error_code);
            }
            r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| c.add(p.error_code));
        }
        ResponseKind::ListOffsets(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| c.add(p.error_code)),
        ResponseKind::Metadata(r) => {
            for t in &r.topics {
                c.add(t.error_code);
                t.partitions.iter().for_each(|p| c.add(p.error_code));
            }
        }
        ResponseKind::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| c.add(p.error_code)),
        ResponseKind::OffsetFetch(r) => {
            if r.groups.is_empty() {
                c.add(r.error_code);
                r.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| c.add(p.error_code));
            }
            for g in &r.groups {
                c.add(g.error_code);
                g.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| c.add(p.error_code));
            }
        }
        ResponseKind::FindCoordinator(r) => {
            if r.coordinators.is_empty() {
                c.add(r.error_code);
            }
            r.coordinators.iter().for_each(|k| c.add(k.error_code));
        }
        ResponseKind::JoinGroup(r) => c.add(r.error_code),
        ResponseKind::Heartbeat(r) => c.add(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            c.add(r.error_code);
            r.members.iter().for_each(|m| c.add(m.error_code));
        }
        ResponseKind::SyncGroup(r) => c.add(r.error_code),
        ResponseKind::DescribeGroups(r) => r.groups.iter().for_each(|g| c.add(g.error_code)),
        ResponseKind::ListGroups(r) => c.add(r.error_code),
        ResponseKind::ApiVersions(r) => c.add(r.error_code),
        ResponseKind::CreateTopics(r) => r.topics.iter().for_each(|t| c.add(t.error_code)),
        ResponseKind::DeleteTopics(r) => r.responses.iter().for_each(|t| c.add(t.error_code)),
        ResponseKind::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| c.add(p.error_code)),
        ResponseKind::InitProducerId(r) => c.add(r.error_code),
        ResponseKind::OffsetForLeaderEpoch(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| c.add(p.error_code)),
        ResponseKind::DescribeAcls(r) => c.add(r.error_code),
        ResponseKind::CreateAcls(r) => r.results.iter().for_each(|x| c.add(x.error_code)),
        ResponseKind::DeleteAcls(r) => r.filter_results.iter().for_each(|x| c.add(x.error_code)),
        ResponseKind::DescribeConfigs(r) => r.results.iter().for_each(|x| c.add(x.error_code)),
        ResponseKind::AlterConfigs(r) => r.responses.iter().for_each(|x| c.add(x.error_code)),
        ResponseKind::DescribeLogDirs(r) => {
            c.add(r.error_code);
            r.results.iter().for_each(|d| c.add(d.error_code));
        }
        ResponseKind::CreatePartitions(r) => r.results.iter().for_each(|x| c.add(x.error_code)),
        ResponseKind::DeleteGroups(r) => r.results.iter().for_each(|x| c.add(x.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => {
            r.responses.iter().for_each(|x| c.add(x.error_code))
        }
        ResponseKind::OffsetDelete(r) => {
            c.add(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| c.add(p.error_code));
        }
        ResponseKind::DescribeUserScramCredentials(r) => {
            c.add(r.error_code);
            r.results.iter().for_each(|x| c.add(x.error_code));
        }
        ResponseKind::AlterUserScramCredentials(r) => {
            r.results.iter().for_each(|x| c.add(x.error_code))
        }
        ResponseKind::DescribeCluster(r) => c.add(r.error_code),
        ResponseKind::DescribeQuorum(r) => {
            c.add(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| c.add(p.error_code));
        }
        ResponseKind::ConsumerGroupHeartbeat(r) => c.add(r.error_code),
        ResponseKind::ConsumerGroupDescribe(r) => r.groups.iter().for_each(|g| c.add(g.error_code)),
        ResponseKind::DescribeTopicPartitions(r) => {
            for t in &r.topics {
                c.add(t.error_code);
                t.partitions.iter().for_each(|p| c.add(p.error_code));
            }
        }
        // APIs Runnel does not serve: the versions table never lets them
        // reach a handler, so no response of theirs is ever counted.
        _ => {}
    }
    c.into_iter()
}

/// Distinct codes seen on the stack; more than [`INLINE`] of them (never
/// seen in practice) go to a vector.
const INLINE: usize = 8;

#[derive(Default)]
struct Counts {
    inline: [(i16, u64); INLINE],
    len: usize,
    more: Vec<(i16, u64)>,
}

impl Counts {
    fn add(&mut self, code: i16) {
        let seen = &mut self.inline[..self.len];
        if let Some(entry) = seen.iter_mut().chain(&mut self.more).find(|e| e.0 == code) {
            entry.1 += 1;
        } else if self.len < INLINE {
            self.inline[self.len] = (code, 1);
            self.len += 1;
        } else {
            self.more.push((code, 1));
        }
    }

    fn into_iter(self) -> impl Iterator<Item = (i16, u64)> {
        let Counts { inline, len, more } = self;
        inline.into_iter().take(len).chain(more)
    }
}

/// Kafka's name of an error code (`UNKNOWN_TOPIC_OR_PARTITION`), the
/// `error` label of the errors metric; "UNKNOWN_CODE" for a code it lacks.
/// Built once: the hot path neither formats nor allocates.
pub fn error_name(code: i16) -> &'static str {
    static NAMES: OnceLock<HashMap<i16, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut m: HashMap<i16, &'static str> = (-1..=i16::from(u8::MAX))
            .filter_map(|c| {
                let e = ResponseError::try_from_code(c)?;
                let name: &'static str = Box::leak(upper_snake(&format!("{e:?}")).into_boxed_str());
                Some((c, name))
            })
            .collect();
        m.insert(0, "NONE");
        m
    });
    names.get(&code).copied().unwrap_or("UNKNOWN_CODE")
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, ch) in camel.char_indices() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{HeartbeatResponse, ProduceResponse};

    #[test]
    fn every_partition_code_counts_and_none_too() {
        let r = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(vec![
                PartitionProduceResponse::default().with_error_code(0),
                PartitionProduceResponse::default().with_error_code(10),
                PartitionProduceResponse::default().with_error_code(10),
            ]),
        ]);
        let counts: BTreeMap<i16, u64> = error_counts(&ResponseKind::Produce(r)).collect();
        assert_eq!(counts, BTreeMap::from([(0, 1), (10, 2)]));
        let hb = HeartbeatResponse::default().with_error_code(27);
        assert_eq!(
            error_counts(&ResponseKind::Heartbeat(hb)).collect::<BTreeMap<_, _>>(),
            BTreeMap::from([(27, 1)])
        );
    }

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(10), "MESSAGE_TOO_LARGE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
    }

    /// More distinct codes than fit on the stack are all still counted.
    #[test]
    fn many_distinct_codes_spill_and_still_count() {
        let mut c = Counts::default();
        for code in (0..20).chain(0..20).chain([5]) {
            c.add(code);
        }
        let counts: BTreeMap<i16, u64> = c.into_iter().collect();
        let expected: BTreeMap<i16, u64> =
            (0..20).map(|k| (k, if k == 5 { 3 } else { 2 })).collect();
        assert_eq!(counts, expected);
    }
}
