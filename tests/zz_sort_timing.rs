use jsbackup::model::index::MessageRow;
use jsbackup::model::{Backup, BackupSource};
use jsbackup::ops::sort::{sort_rows, SortKey, SortOrder};
use std::sync::atomic::AtomicBool;
#[test]
fn timing() {
    let mut b = Backup::empty(BackupSource {
        opened: "x".into(),
        data_file: "x".into(),
        backup_json: None,
        data_file_bytes: 0,
    });
    let n = 1_000_000u64;
    let mut x = 12345u64;
    for seq in 1..=n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let id = b
            .subjects
            .intern(format!("orders.s{}", (x >> 40) % 5000).as_bytes());
        b.messages.push(MessageRow {
            seq,
            ts_ns: (x >> 20) as i64,
            subject_id: id,
            hdr_len: ((x >> 8) % 300) as u32,
            data_len: ((x >> 16) % 5000) as u32,
            offset: seq * 100,
            flags: 0,
        });
    }
    b.messages.finish();
    let rows: Vec<u32> = (0..n as u32).collect();
    for key in [SortKey::Size, SortKey::Subject, SortKey::Time, SortKey::Ttl] {
        let t = std::time::Instant::now();
        let r = sort_rows(
            &b,
            rows.clone(),
            SortOrder {
                key,
                descending: true,
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        eprintln!(
            "{key:?}: {:.0} ms ({})",
            t.elapsed().as_secs_f64() * 1e3,
            r.len()
        );
    }
}
