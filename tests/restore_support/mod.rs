//! Checks shared by the restore tests: what expected.json says a restored
//! stream looks like, and a comparison against a live server.
#![allow(dead_code)]

use crate::common::{NatsConn, NatsServer};
use jsbackup::model::Backup;
use jsbackup::ops::scan::{open_backup, ScanControl};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn open(dir: &Path) -> Backup {
    open_backup(dir, &mut ScanControl::default())
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

pub fn u64_at(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

pub fn label(dir: &Path) -> String {
    let group = dir.parent().and_then(Path::file_name).unwrap_or_default();
    let name = dir.file_name().unwrap_or_default();
    format!("{}/{}", group.to_string_lossy(), name.to_string_lossy())
}

/// What the restored stream should look like, read from expected.json.
pub struct Want {
    pub state: Value,
    pub deleted: Option<Vec<u64>>,
    /// (seq, subject, hdr_len, data_len, digest prefix) of the messages that must be there.
    pub rows: Vec<(u64, String, u64, u64, String)>,
    /// Sequences that must be absent (expired TTL messages).
    pub absent: Vec<u64>,
    pub consumers: Vec<Value>,
    pub never_written: bool,
}

pub fn has_expiring_ttl(exp: &Value) -> bool {
    exp["ttl"]["messages"].as_array().is_some_and(|list| {
        list.iter()
            .any(|m| m["ttl_seconds"].as_i64().unwrap_or(0) > 0)
    })
}

pub fn want_for(exp: &Value, version: &str, consumers: Option<&[&str]>) -> Want {
    let restored = &exp["restored"][version];
    let mut state = if restored["state"].is_object() {
        restored["state"].clone()
    } else {
        exp["state"].clone()
    };
    let mut deleted = restored["deleted_seqs"]
        .as_array()
        .or(exp["deleted_seqs"].as_array())
        .map(|list| list.iter().map(u64_at).collect::<Vec<u64>>());
    let columns = exp["messages"]["columns"]
        .as_array()
        .expect("messages.columns");
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| c.as_str().is_some_and(|c| c.starts_with(name)))
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let mut rows: Vec<(u64, String, u64, u64, String)> = exp["messages"]["rows"]
        .as_array()
        .expect("messages.rows")
        .iter()
        .map(|row| {
            (
                u64_at(&row[col("seq")]),
                row[col("subject")].as_str().unwrap_or("").to_string(),
                u64_at(&row[col("hdr_len")]),
                u64_at(&row[col("data_len")]),
                row[col("sha256")].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut absent = Vec::new();
    if has_expiring_ttl(exp) {
        // Messages legitimately expire: the restore section says which ones
        // had expired at restore time; by now (the clock moved on) more may
        // have. Expect exactly the ones whose expiry is still ahead (with a
        // margin so the boundary cannot flake).
        let now = jsbackup::util::time::now_ns();
        let margin = 60_000_000_000i64;
        let mut expired = Vec::new();
        let mut uncertain = Vec::new();
        for m in exp["ttl"]["messages"].as_array().expect("ttl.messages") {
            let Some(expires) = m["expires_at"]
                .as_str()
                .and_then(jsbackup::util::time::parse_rfc3339_ns)
            else {
                continue;
            };
            if m["ttl_seconds"].as_i64().unwrap_or(0) <= 0 {
                continue;
            }
            let seq = u64_at(&m["seq"]);
            if expires < now - margin {
                expired.push(seq);
            } else if expires < now + margin {
                uncertain.push(seq);
            }
        }
        assert!(
            uncertain.is_empty(),
            "TTL boundary too close to now for {uncertain:?}; rerun in a minute"
        );
        rows.retain(|row| !expired.contains(&row.0));
        let live = rows.len() as u64;
        state["messages"] = Value::from(live);
        let first = u64_at(&state["first_seq"]);
        let last = u64_at(&state["last_seq"]);
        state["num_deleted"] = Value::from(last + 1 - first - live);
        state.as_object_mut().map(|o| o.remove("bytes"));
        absent = expired;
        deleted = None;
    }
    let mut consumer_list: Vec<Value> = restored["consumers"]
        .as_array()
        .filter(|list| !list.is_empty())
        .or(exp["consumers"].as_array())
        .cloned()
        .unwrap_or_default();
    if let Some(keep) = consumers {
        consumer_list.retain(|c| keep.contains(&c["name"].as_str().unwrap_or("")));
        state["consumer_count"] = Value::from(consumer_list.len() as u64);
    }
    let never_written =
        u64_at(&exp["state"]["last_seq"]) == 0 && u64_at(&exp["state"]["messages"]) == 0;
    Want {
        state,
        deleted,
        rows,
        absent,
        consumers: consumer_list,
        never_written,
    }
}

pub fn digest_prefix(hdrs: &[u8], data: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(hdrs);
    hasher.update(data);
    let digest = hasher.finalize();
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..16]
        .to_string()
}

pub fn state_mismatch(got: &Value, want: &Value, never_written: bool) -> Option<String> {
    if never_written {
        // A never-written stream: a store load reports first_seq 0 (deleted [0]),
        // an API restore first_seq 1; both mean "empty, next sequence 1".
        let ok = u64_at(&got["messages"]) == 0
            && u64_at(&got["last_seq"]) == 0
            && u64_at(&got["first_seq"]) <= 1
            && u64_at(&got["consumer_count"]) == u64_at(&want["consumer_count"]);
        return (!ok).then(|| format!("server {got}\nwant (empty) {want}"));
    }
    for key in [
        "messages",
        "bytes",
        "first_seq",
        "last_seq",
        "num_deleted",
        "consumer_count",
    ] {
        if want.get(key).is_none() {
            continue;
        }
        if u64_at(&got[key]) != u64_at(&want[key]) {
            return Some(format!(
                "state.{key}: server {} want {}\nserver {got}\nwant {want}",
                got[key], want[key]
            ));
        }
    }
    None
}

/// Compares the stream `name` on `conn` with `want`.
pub fn check_stream(what: &str, server: &NatsServer, conn: &mut NatsConn, name: &str, want: &Want) {
    // TTL expiry runs after the load: poll the state for a few seconds.
    let deadline = Instant::now() + Duration::from_secs(8);
    let info = loop {
        let info = conn.stream_info(name);
        assert!(
            info.get("error").is_none(),
            "{what}: {info}\n{}",
            server.log()
        );
        match state_mismatch(&info["state"], &want.state, want.never_written) {
            None => break info,
            Some(why) if Instant::now() > deadline => panic!("{what}: {why}\n{}", server.log()),
            Some(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    assert!(
        info["state"].get("lost").is_none(),
        "{what}: server lost data: {info}"
    );
    if let (Some(want_deleted), false) = (&want.deleted, want.never_written) {
        let got: Vec<u64> = info["state"]["deleted"]
            .as_array()
            .map(|list| list.iter().map(u64_at).collect())
            .unwrap_or_default();
        assert_eq!(&got, want_deleted, "{what}: deleted sequences");
    }
    for (seq, subject, hdr_len, data_len, digest) in &want.rows {
        let msg = conn
            .get_msg_decoded(name, *seq)
            .unwrap_or_else(|| panic!("{what}: no message at seq {seq}"));
        assert_eq!(&msg.subject, subject, "{what}: seq {seq} subject");
        assert_eq!(
            msg.hdrs.len() as u64,
            *hdr_len,
            "{what}: seq {seq} header length"
        );
        assert_eq!(
            msg.data.len() as u64,
            *data_len,
            "{what}: seq {seq} data length"
        );
        assert_eq!(
            &digest_prefix(&msg.hdrs, &msg.data),
            digest,
            "{what}: seq {seq} digest"
        );
    }
    for seq in &want.absent {
        assert!(
            conn.get_msg(name, *seq).is_none(),
            "{what}: expired seq {seq} is still there"
        );
    }
    let names = conn.consumer_names(name);
    let mut want_names: Vec<String> = want
        .consumers
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    want_names.sort();
    assert_eq!(names, want_names, "{what}: consumers");
    for consumer in &want.consumers {
        let consumer_name = consumer["name"].as_str().unwrap_or("");
        let got = conn.consumer_info(name, consumer_name);
        assert!(
            got.get("error").is_none(),
            "{what}: consumer {consumer_name}: {got}"
        );
        for key in ["delivered", "ack_floor"] {
            for part in ["consumer_seq", "stream_seq"] {
                assert_eq!(
                    u64_at(&got[key][part]),
                    u64_at(&consumer[key][part]),
                    "{what}: consumer {consumer_name} {key}.{part}\n got {got}\nwant {consumer}"
                );
            }
        }
        for key in ["num_ack_pending", "num_redelivered"] {
            assert_eq!(
                u64_at(&got[key]),
                u64_at(&consumer[key]),
                "{what}: consumer {consumer_name} {key}\n got {got}\nwant {consumer}"
            );
        }
    }
}
