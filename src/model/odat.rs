//! The consumer state as `o.dat` holds it: conversion between the model's
//! [`ConsumerState`] and the plain [`OdatState`] the format layer encodes, and the
//! clamping the server applies when it snapshots a consumer, and the
//! reconciliation it applies when it loads a consumer past the stream's end.
//!
//! No I/O; the bytes are `format::index_db`'s.

use super::{ConsumerState, PendingEntry, SequencePair};
use crate::format::index_db::OdatState;

impl ConsumerState {
    /// The state decoded from an `o.dat` file.
    pub fn from_odat(decoded: &OdatState) -> Self {
        Self {
            ack_floor: SequencePair {
                consumer_seq: decoded.ack_floor.0,
                stream_seq: decoded.ack_floor.1,
            },
            delivered: SequencePair {
                consumer_seq: decoded.delivered.0,
                stream_seq: decoded.delivered.1,
            },
            pending: decoded
                .pending
                .iter()
                .map(|&(stream_seq, consumer_seq, timestamp_ns)| PendingEntry {
                    stream_seq,
                    consumer_seq,
                    timestamp_ns,
                })
                .collect(),
            redelivered: decoded.redelivered.clone(),
        }
    }

    /// The plain form `format::filestore_write::encode_odat` writes.
    pub fn to_odat(&self) -> OdatState {
        OdatState {
            ack_floor: (self.ack_floor.consumer_seq, self.ack_floor.stream_seq),
            delivered: (self.delivered.consumer_seq, self.delivered.stream_seq),
            pending: self
                .pending
                .iter()
                .map(|entry| (entry.stream_seq, entry.consumer_seq, entry.timestamp_ns))
                .collect(),
            redelivered: self.redelivered.clone(),
        }
    }
}

/// A consumer state as an archive or an upload carries it: as the backup holds it,
/// even past the stream's end (a server restoring such an archive keeps it as it
/// is: checked on 2.14.6 and 2.15.1), less the pending and redelivered entries the
/// file consumer store refuses (at or below the ack floor, pending past delivered).
pub fn archived_consumer_state(state: &ConsumerState) -> ConsumerState {
    let mut out = state.clone();
    if out.ack_floor.stream_seq > out.delivered.stream_seq {
        out.ack_floor.stream_seq = out.delivered.stream_seq;
    }
    let floor = out.ack_floor.stream_seq;
    let delivered = out.delivered.stream_seq;
    out.pending
        .retain(|entry| entry.stream_seq > floor && entry.stream_seq <= delivered);
    out.redelivered.retain(|(seq, _)| *seq > floor);
    out
}

/// What the server makes of a consumer whose delivered stream sequence is past
/// `last_seq` when it loads the store (consumer.go `reconcileStateWithStream`,
/// checked on 2.15.1 and 2.14.6): an ack floor past the end drops to `last_seq`
/// with every pending and redelivery gone; pending and redelivered entries past
/// the end are dropped; delivered rolls back to the highest pending entry left,
/// or to the ack floor when none is. A state within the stream is unchanged.
pub fn reconcile_with_stream(state: &ConsumerState, last_seq: u64) -> ConsumerState {
    let mut settled = state.clone();
    if settled.delivered.stream_seq <= last_seq {
        return settled;
    }
    if settled.ack_floor.stream_seq > last_seq {
        settled.ack_floor = SequencePair {
            consumer_seq: settled.delivered.consumer_seq,
            stream_seq: last_seq,
        };
        settled.pending.clear();
        settled.redelivered.clear();
    }
    settled.pending.retain(|entry| entry.stream_seq <= last_seq);
    settled.redelivered.retain(|(seq, _)| *seq <= last_seq);
    settled.delivered = if settled.pending.is_empty() {
        settled.ack_floor
    } else {
        SequencePair {
            consumer_seq: settled
                .pending
                .iter()
                .map(|entry| entry.consumer_seq)
                .max()
                .unwrap_or(0),
            stream_seq: settled
                .pending
                .iter()
                .map(|entry| entry.stream_seq)
                .max()
                .unwrap_or(0),
        }
    };
    settled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archived_state_stays_past_the_end_and_drops_what_the_store_refuses() {
        let state = ConsumerState {
            delivered: SequencePair {
                consumer_seq: 50,
                stream_seq: 90,
            },
            ack_floor: SequencePair {
                consumer_seq: 10,
                stream_seq: 70,
            },
            pending: vec![
                PendingEntry {
                    stream_seq: 65,
                    consumer_seq: 9,
                    timestamp_ns: 0,
                },
                PendingEntry {
                    stream_seq: 75,
                    consumer_seq: 12,
                    timestamp_ns: 0,
                },
                PendingEntry {
                    stream_seq: 85,
                    consumer_seq: 20,
                    timestamp_ns: 0,
                },
                PendingEntry {
                    stream_seq: 95,
                    consumer_seq: 21,
                    timestamp_ns: 0,
                },
            ],
            redelivered: vec![(60, 1), (75, 2), (85, 3)],
        };
        let archived = archived_consumer_state(&state);
        assert_eq!(archived.delivered.stream_seq, 90);
        assert_eq!(archived.ack_floor.stream_seq, 70);
        assert_eq!(
            archived
                .pending
                .iter()
                .map(|p| p.stream_seq)
                .collect::<Vec<_>>(),
            vec![75, 85]
        );
        assert_eq!(archived.redelivered, vec![(75, 2), (85, 3)]);
    }
}
