//! The v1 writer's tar headers are the bytes nats-server's Go `archive/tar`
//! writes: for every member of every real v1 fixture, the PAX `x` header and
//! the ustar header our `TarWriter` produces for the same name, size and
//! mtime equal the fixture's 512-byte blocks exactly.

mod common;

use common::all_fixtures;
use jsbackup::format::s2::DecodedStream;
use jsbackup::format::tar::{parse_header_block, parse_pax_records};
use jsbackup::format::write_v1::{TarWriter, BLOCK};
use std::path::Path;

fn decompress(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).expect("open archive");
    let mut stream = DecodedStream::new(file);
    let mut out = Vec::new();
    loop {
        if stream.fill(1).is_err() && stream.buffered().is_empty() {
            break;
        }
        let chunk = stream.take_available(1 << 20);
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// (pax block, pax body, header block, name, size) per member, in order.
struct Member {
    pax: Option<(Vec<u8>, Vec<u8>)>,
    header: Vec<u8>,
    name: String,
    size: u64,
}

fn members(tar: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut pax: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut pax_path: Option<String> = None;
    while pos + BLOCK <= tar.len() {
        let block = &tar[pos..pos + BLOCK];
        if block.iter().all(|&b| b == 0) {
            break;
        }
        let (name, size, flag) = parse_header_block(block).expect("header");
        let data_start = pos + BLOCK;
        let data_end = data_start + size as usize;
        let padded = data_start + (size as usize).div_ceil(BLOCK) * BLOCK;
        if flag == b'x' {
            let body = tar[data_start..data_end].to_vec();
            pax_path = parse_pax_records(&body)
                .expect("pax records")
                .into_iter()
                .find(|(key, _)| key == "path")
                .map(|(_, value)| value);
            pax = Some((block.to_vec(), body));
        } else {
            out.push(Member {
                pax: pax.take(),
                header: block.to_vec(),
                name: pax_path.take().unwrap_or(name),
                size,
            });
        }
        pos = padded;
    }
    out
}

fn mtime_ns(member: &Member, header_seconds: i64) -> i64 {
    let Some((_, body)) = &member.pax else {
        return header_seconds * 1_000_000_000;
    };
    let mtime = parse_pax_records(body)
        .expect("pax")
        .into_iter()
        .find(|(key, _)| key == "mtime")
        .map(|(_, value)| value);
    let Some(mtime) = mtime else {
        return header_seconds * 1_000_000_000;
    };
    let (seconds, fraction) = mtime.split_once('.').unwrap_or((&mtime, ""));
    let nanos: i64 = format!("{fraction:0<9}")[..9].parse().expect("fraction");
    seconds.parse::<i64>().expect("seconds") * 1_000_000_000 + nanos
}

#[test]
fn headers_match_the_servers_byte_for_byte() {
    let mut compared = 0;
    for dir in ["v1", "v1-older"]
        .iter()
        .flat_map(|group| all_fixtures(group))
    {
        let tar = decompress(&dir.join("stream.tar.s2"));
        for member in members(&tar) {
            let octal = std::str::from_utf8(&member.header[136..147]).expect("mtime");
            let seconds = i64::from_str_radix(octal.trim_matches('\0'), 8).expect("octal mtime");
            let mut writer = TarWriter::new(Vec::new(), mtime_ns(&member, seconds));
            writer
                .append(&member.name, &vec![0u8; member.size as usize])
                .expect("append");
            let ours = writer.finish().expect("finish");
            let what = format!("{} {}", dir.display(), member.name);
            let header_at = match &member.pax {
                Some((pax_block, body)) => {
                    assert_eq!(&ours[..BLOCK], &pax_block[..], "{what}: pax header");
                    assert_eq!(
                        &ours[BLOCK..BLOCK + body.len()],
                        &body[..],
                        "{what}: pax records"
                    );
                    BLOCK + body.len().div_ceil(BLOCK) * BLOCK
                }
                None => 0,
            };
            assert_eq!(
                &ours[header_at..header_at + BLOCK],
                &member.header[..],
                "{what}: ustar header"
            );
            compared += 1;
        }
    }
    assert!(compared >= 30, "only {compared} members compared");
}
