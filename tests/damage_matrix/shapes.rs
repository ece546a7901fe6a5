//! What the matrix archives hold, published into a real server. `DAMAGE_SHAPE`:
//! - `orders` (the default): JSON payloads of varying size, every fifth with a header;
//! - `mixed`: binary payloads (bytes that read as varints and subject characters),
//!   empty payloads, large messages across chunks, subjects of many lengths,
//!   headers on a third, and deletes (a purge of the first 100, single deletes
//!   and a run of 40), so the scan's heuristics are not tuned to one payload;
//! - `tiny`: many entries of a few bytes (counters, binary ids), short subjects,
//!   no headers: hundreds of entries in the scan's look-back;
//! - `objects`: an object store bucket as the object-store API writes it: 128 KiB
//!   chunk messages, a meta message per object with a rollup header and its
//!   SHA-256, objects replaced and deleted (their chunks purged);
//! - `kv`: a KV bucket with history 5: puts, deletes and purges (rollups) by the
//!   KV API's headers, so the oldest revisions leave gaps all over the stream.

use super::common;
use super::Rng;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
pub enum Shape {
    Orders,
    Mixed,
    Tiny,
    Objects,
    Kv,
}

pub fn shape_from_env() -> Shape {
    match std::env::var("DAMAGE_SHAPE").as_deref() {
        Ok("mixed") => Shape::Mixed,
        Ok("tiny") => Shape::Tiny,
        Ok("objects") => Shape::Objects,
        Ok("kv") => Shape::Kv,
        Ok("orders") | Err(_) => Shape::Orders,
        Ok(other) => panic!("DAMAGE_SHAPE: orders, mixed, tiny, objects or kv, not {other}"),
    }
}

const BUCKET: &str = "files";
const KV_BUCKET: &str = "cfg";
const KV_HISTORY: u64 = 5;
const OBJECT_CHUNK: usize = 128 * 1024;

/// The stream the shape's archive holds (the object and KV checks go by its name).
pub fn stream_name(shape: Shape) -> String {
    match shape {
        Shape::Objects => format!("OBJ_{BUCKET}"),
        Shape::Kv => format!("KV_{KV_BUCKET}"),
        Shape::Orders | Shape::Mixed | Shape::Tiny => "DM".to_string(),
    }
}

/// Publishes `count` messages (`objects`: objects) into a file stream on a real
/// server and snapshots it as `nats stream backup` does; returns how many
/// messages the stream holds.
pub fn make_archive(version: &str, count: usize, out: &Path, shape: Shape) -> usize {
    let server = common::NatsServer::start(version, None);
    let mut conn = server.connect();
    let stream = stream_name(shape);
    let config = match shape {
        Shape::Objects => json!({
            "name": stream, "subjects": [format!("$O.{BUCKET}.C.>"), format!("$O.{BUCKET}.M.>")],
            "storage": "file", "discard": "new", "allow_rollup_hdrs": true, "allow_direct": true,
        }),
        Shape::Kv => json!({
            "name": stream, "subjects": [format!("$KV.{KV_BUCKET}.>")], "storage": "file",
            "max_msgs_per_subject": KV_HISTORY, "discard": "new", "allow_rollup_hdrs": true,
            "deny_delete": true, "allow_direct": true,
        }),
        Shape::Orders | Shape::Mixed | Shape::Tiny => {
            json!({"name": stream, "subjects": ["dm.>"], "storage": "file"})
        }
    };
    conn.create_stream(&config);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    if shape == Shape::Objects {
        put_objects(&mut conn, count, &mut rng);
    } else {
        publish_all(&mut conn, &stream, count, shape, &mut rng);
    }
    if matches!(shape, Shape::Mixed | Shape::Tiny) {
        delete_some(&mut conn, &stream, count as u64, &mut rng);
    }
    let held = conn.stream_info(&stream)["state"]["messages"]
        .as_u64()
        .expect("state.messages");
    common::snapshot_via_api(&mut conn, &stream, out).expect("snapshot");
    usize::try_from(held).expect("count")
}

fn publish_all(
    conn: &mut common::NatsConn,
    stream: &str,
    count: usize,
    shape: Shape,
    rng: &mut Rng,
) {
    // The message count, or for a KV bucket the last sequence: its history limit
    // removes old revisions as it goes.
    let field = if shape == Shape::Kv {
        "last_seq"
    } else {
        "messages"
    };
    let stored_up_to = |conn: &mut common::NatsConn, last: usize| {
        conn.flush(Duration::from_secs(60)).expect("flush");
        let caught_up = common::wait_until(Duration::from_secs(60), || {
            conn.stream_info(stream)["state"][field].as_u64() == Some(last as u64)
        });
        assert!(caught_up, "the server did not store {last} messages");
    };
    for index in 0..count {
        let (subject, headers, payload) = match shape {
            Shape::Orders => orders_message(index, rng),
            Shape::Mixed => mixed_message(index, rng),
            Shape::Tiny => tiny_message(index, rng),
            Shape::Kv => kv_message(index, rng),
            Shape::Objects => unreachable!("objects are put one by one"),
        };
        conn.publish(&subject, None, headers.as_deref(), &payload)
            .expect("publish");
        // The server drops core publishes its stream's ingest queue has no room for:
        // let it catch up now and then.
        if (index + 1).is_multiple_of(5_000) {
            stored_up_to(conn, index + 1);
        }
    }
    stored_up_to(conn, count);
}

type Published = (String, Option<Vec<u8>>, Vec<u8>);

fn orders_message(index: usize, rng: &mut Rng) -> Published {
    let subject = format!(
        "dm.{}.{}",
        ["orders", "users", "audit"][index % 3],
        index % 17
    );
    let filler = "x".repeat(rng.below(300));
    let payload = format!(
        "{{\"order_id\":\"ORD-{index:06}\",\"amount\":{}.{:02},\"note\":\"{filler}\"}}",
        rng.below(1000),
        rng.below(100)
    );
    let headers = format!("NATS/1.0\r\nNats-Msg-Id: m-{index}\r\n\r\n");
    let headers = index.is_multiple_of(5).then(|| headers.into_bytes());
    (subject, headers, payload.into_bytes())
}

fn mixed_message(index: usize, rng: &mut Rng) -> Published {
    const TOKENS: [&str; 8] = [
        "a",
        "x_1",
        "sensor-42",
        "Q",
        "eu.west.3",
        "zz",
        "k9",
        "日本",
    ];
    let depth = 1 + rng.below(4);
    let mut subject = String::from("dm");
    for _ in 0..depth {
        subject.push('.');
        subject.push_str(TOKENS[rng.below(TOKENS.len())]);
    }
    if rng.below(10) == 0 {
        subject.push_str(&format!(".{}", "t".repeat(1 + rng.below(60))));
    }
    let roll = rng.below(100);
    let payload = match roll {
        0..=59 => {
            let len = rng.below(400);
            rng.bytes(len)
        }
        60..=74 => format!("reading {index} value {}", rng.below(100_000)).into_bytes(),
        75..=84 => Vec::new(),
        85..=97 => {
            let len = 2_000 + rng.below(40_000);
            rng.bytes(len)
        }
        _ => {
            let len = 100_000 + rng.below(200_000);
            rng.bytes(len)
        }
    };
    let headers = (rng.below(3) == 0).then(|| {
        let mut block = String::from("NATS/1.0\r\n");
        for number in 0..1 + rng.below(4) {
            block.push_str(&format!("X-Key-{number}: v{}\r\n", rng.below(1_000_000)));
        }
        block.push_str("\r\n");
        block.into_bytes()
    });
    (subject, headers, payload)
}

fn tiny_message(index: usize, rng: &mut Rng) -> Published {
    let subject = format!("dm.{}", index % 5);
    let payload = if rng.below(2) == 0 {
        let len = rng.below(9);
        rng.bytes(len)
    } else {
        index.to_string().into_bytes()
    };
    (subject, None, payload)
}

/// A KV write as the KV API makes it: mostly puts, some deletes and purges (a
/// purge rolls the key up), keys of several shapes with a few hot ones.
fn kv_message(index: usize, rng: &mut Rng) -> Published {
    let hot = rng.below(4) == 0;
    let key_number = if hot {
        rng.below(20)
    } else {
        rng.below(20_000)
    };
    let key = match key_number % 4 {
        0 => format!("app.{key_number}"),
        1 => format!("k{key_number}"),
        2 => format!("svc/{key_number}/conf"),
        _ => format!("user_{key_number}=on-{}", key_number % 7),
    };
    let subject = format!("$KV.{KV_BUCKET}.{key}");
    match rng.below(100) {
        0..=2 => (
            subject,
            Some(b"NATS/1.0\r\nKV-Operation: DEL\r\n\r\n".to_vec()),
            Vec::new(),
        ),
        3 => (
            subject,
            Some(b"NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\n\r\n".to_vec()),
            Vec::new(),
        ),
        4..=14 => {
            let len = rng.below(200);
            (subject, None, rng.bytes(len))
        }
        _ => {
            let value = format!(
                "{{\"revision\":{index},\"host\":\"h{}\",\"ttl\":{}}}",
                rng.below(50),
                rng.below(10_000)
            );
            (subject, None, value.into_bytes())
        }
    }
}

/// An object's current chunk id, name and whether it was deleted.
struct StoredObject {
    name: String,
    nuid: String,
    deleted: bool,
}

fn nuid(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..22)
        .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len())]))
        .collect()
}

fn object_content(rng: &mut Rng) -> Vec<u8> {
    let size = match rng.below(10) {
        0..=3 => rng.below(4_096),
        4..=7 => 4_096 + rng.below(400_000),
        _ => 400_000 + rng.below(1_800_000),
    };
    if rng.below(2) == 0 {
        return rng.bytes(size);
    }
    let mut text = Vec::with_capacity(size + 64);
    let mut line = 0;
    while text.len() < size {
        text.extend_from_slice(format!("line {line}: value {}\n", rng.below(1_000_000)).as_bytes());
        line += 1;
    }
    text.truncate(size);
    text
}

/// Publishes an object as the object-store API does: its chunks, then its meta
/// message (rollup of the meta subject) with the size, chunk count and SHA-256.
fn put_object(conn: &mut common::NatsConn, name: &str, rng: &mut Rng) -> String {
    let id = nuid(rng);
    let content = object_content(rng);
    for chunk in content.chunks(OBJECT_CHUNK) {
        conn.js_publish(&format!("$O.{BUCKET}.C.{id}"), None, chunk);
    }
    let digest = base64::engine::general_purpose::URL_SAFE.encode(Sha256::digest(&content));
    let meta = json!({
        "name": name, "bucket": BUCKET, "nuid": id, "size": content.len(),
        "mtime": "2026-12-02T10:00:00.000000000Z", "chunks": content.len().div_ceil(OBJECT_CHUNK),
        "digest": format!("SHA-256={digest}"), "options": {"max_chunk_size": OBJECT_CHUNK},
    });
    publish_meta(conn, name, &meta);
    id
}

fn publish_meta(conn: &mut common::NatsConn, name: &str, meta: &serde_json::Value) {
    let subject = format!(
        "$O.{BUCKET}.M.{}",
        base64::engine::general_purpose::URL_SAFE.encode(name)
    );
    conn.js_publish(
        &subject,
        Some(b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n"),
        meta.to_string().as_bytes(),
    );
}

fn purge_chunks(conn: &mut common::NatsConn, id: &str) {
    conn.api_ok(
        &format!("$JS.API.STREAM.PURGE.OBJ_{BUCKET}"),
        &json!({"filter": format!("$O.{BUCKET}.C.{id}")}),
    );
}

/// `count` objects, one in ten later replaced (new chunks, old ones purged) and
/// one in ten deleted (a deleted meta message, chunks purged).
fn put_objects(conn: &mut common::NatsConn, count: usize, rng: &mut Rng) {
    let mut objects: Vec<StoredObject> = Vec::new();
    for index in 0..count {
        let name = match index % 3 {
            0 => format!("reports/2026/file-{index}.bin"),
            1 => format!("image {index}.png"),
            _ => format!("b{index}"),
        };
        let id = put_object(conn, &name, rng);
        objects.push(StoredObject {
            name,
            nuid: id,
            deleted: false,
        });
        let target = rng.below(objects.len());
        match rng.below(10) {
            0 if !objects[target].deleted => {
                let old = objects[target].nuid.clone();
                let name = objects[target].name.clone();
                objects[target].nuid = put_object(conn, &name, rng);
                purge_chunks(conn, &old);
            }
            1 if !objects[target].deleted => {
                let object = &mut objects[target];
                object.deleted = true;
                let meta = json!({
                    "name": object.name, "bucket": BUCKET, "nuid": object.nuid, "size": 0,
                    "mtime": "2026-12-02T11:00:00.000000000Z", "chunks": 0, "digest": "",
                    "deleted": true,
                });
                let (name, id) = (object.name.clone(), object.nuid.clone());
                publish_meta(conn, &name, &meta);
                purge_chunks(conn, &id);
            }
            _ => {}
        }
    }
}

/// Deletes as streams have them: the first 100 purged, one in 20 deleted, and a
/// run of 40 in the middle.
fn delete_some(conn: &mut common::NatsConn, stream: &str, count: u64, rng: &mut Rng) {
    conn.api_ok(
        &format!("$JS.API.STREAM.PURGE.{stream}"),
        &json!({"seq": 101}),
    );
    let middle = count / 2;
    let mut doomed: Vec<u64> = (middle..middle + 40).collect();
    doomed.extend((101..=count).filter(|_| rng.below(20) == 0));
    doomed.sort_unstable();
    doomed.dedup();
    for seq in doomed {
        conn.api_ok(
            &format!("$JS.API.STREAM.MSG.DELETE.{stream}"),
            &json!({"seq": seq, "no_erase": true}),
        );
    }
}
