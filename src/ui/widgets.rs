//! Small formatting helpers and widgets shared by the panes. Pure functions:
//! no I/O, no parsing of archive bytes.

use crate::model::{flags, Ttl};
use egui::{Color32, RichText, Ui};
use time::macros::format_description;
use time::OffsetDateTime;

/// "2026-11-27 14:19:11.303954403" (UTC); Go's zero time and out-of-range values as "–".
pub fn time_utc(ns: i64) -> String {
    if ns == 0 {
        return "–".to_string();
    }
    let Ok(moment) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) else {
        return ns.to_string();
    };
    let layout =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:9]");
    moment.format(&layout).unwrap_or_else(|_| ns.to_string())
}

/// The machine's UTC offset in seconds, read once at start-up (before other threads
/// exist, where the platform can tell it safely); 0 when it cannot be known.
static LOCAL_OFFSET_SECONDS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

pub fn init_local_offset() {
    let offset = time::UtcOffset::current_local_offset()
        .map(|offset| offset.whole_seconds())
        .unwrap_or(0);
    // Already set by an earlier call: that value is the same machine's offset.
    let _ = LOCAL_OFFSET_SECONDS.set(offset);
}

/// Local wall time, e.g. "2026-11-27 15:19:11.303954403" (the offset is in [`local_offset_label`]).
pub fn time_local(ns: i64) -> String {
    if ns == 0 {
        return "–".to_string();
    }
    let seconds = LOCAL_OFFSET_SECONDS.get().copied().unwrap_or(0);
    let Ok(offset) = time::UtcOffset::from_whole_seconds(seconds) else {
        return time_utc(ns);
    };
    let Ok(moment) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) else {
        return ns.to_string();
    };
    let layout =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:9]");
    moment
        .to_offset(offset)
        .format(&layout)
        .unwrap_or_else(|_| ns.to_string())
}

/// The local offset as "+01:00".
pub fn local_offset_label() -> String {
    let seconds = LOCAL_OFFSET_SECONDS.get().copied().unwrap_or(0);
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Signed offset from `base_ns`, e.g. "+0.327242519 s".
pub fn time_relative(ns: i64, base_ns: i64) -> String {
    let delta = i128::from(ns) - i128::from(base_ns);
    let sign = if delta < 0 { "-" } else { "+" };
    let magnitude = delta.unsigned_abs();
    format!(
        "{sign}{}.{:09} s",
        magnitude / 1_000_000_000,
        magnitude % 1_000_000_000
    )
}

/// 1234567 → "1,234,567".
pub fn count(value: u64) -> String {
    crate::util::grouped(value)
}

/// Human-readable byte size (decimal units, as the nats CLI prints them).
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut amount = value as f64;
    let mut unit = 0;
    while amount >= 1000.0 && unit + 1 < UNITS.len() {
        amount /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{amount:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}

/// Seconds as a Go-like duration: 86400 → "24h", 90 → "1m30s".
pub fn duration_seconds(seconds: i64) -> String {
    if seconds <= 0 {
        return format!("{seconds}s");
    }
    let hours = seconds / 3600;
    let minutes = (seconds % 3600) / 60;
    let secs = seconds % 60;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

/// Nanoseconds as a short duration ("2m0s", "1.5s", "120ms").
pub fn duration_ns(ns: i64) -> String {
    if ns == 0 {
        return "0".to_string();
    }
    if ns % 1_000_000_000 == 0 {
        return duration_seconds(ns / 1_000_000_000);
    }
    if ns.abs() < 1_000_000_000 {
        return format!("{}ms", ns / 1_000_000);
    }
    format!("{:.3}s", ns as f64 / 1e9)
}

pub fn ttl(ttl: Ttl) -> String {
    match ttl {
        Ttl::None => "–".to_string(),
        Ttl::Never => "never".to_string(),
        Ttl::Seconds(seconds) => duration_seconds(seconds),
        Ttl::Invalid => "invalid".to_string(),
    }
}

/// Names of the flag bits of a message row.
pub fn flag_names(row_flags: u16) -> Vec<&'static str> {
    let mut names = Vec::new();
    let table = [
        (flags::DAMAGED, "DAMAGED"),
        (flags::TTL_INVALID, "BAD-TTL"),
        (flags::KV_DELETE, "KV-DEL"),
        (flags::KV_PURGE, "KV-PURGE"),
        (flags::ROLLUP, "ROLLUP"),
        (flags::DELETE_MARKER, "DEL-MARKER"),
        (flags::MSG_ID, "MSG-ID"),
    ];
    // Damaged says more than suspect: a row shows one trust word, never both.
    if row_flags & flags::SUSPECT != 0 && row_flags & flags::DAMAGED == 0 {
        names.push("SUSPECT");
    }
    for (bit, name) in table {
        if row_flags & bit != 0 {
            names.push(name);
        }
    }
    names
}

/// Colour for warnings in the current theme.
pub fn warn_color(ui: &Ui) -> Color32 {
    ui.visuals().warn_fg_color
}

pub fn error_color(ui: &Ui) -> Color32 {
    ui.visuals().error_fg_color
}

/// A label in the weak text colour.
pub fn weak(ui: &mut Ui, text: impl Into<String>) -> egui::Response {
    ui.label(RichText::new(text.into()).weak())
}

/// A monospace label.
pub fn mono(ui: &mut Ui, text: impl Into<String>) -> egui::Response {
    ui.label(RichText::new(text.into()).monospace())
}

/// "s" when `value` is not 1.
pub fn plural(value: u64) -> &'static str {
    if value == 1 {
        ""
    } else {
        "s"
    }
}

/// The TTL banner sentence (tests look for it).
pub fn ttl_banner_text(expired: u64, reference_is_now: bool, reference_ns: i64) -> String {
    let when = if reference_is_now {
        "now".to_string()
    } else {
        format!("at {} UTC", time_utc(reference_ns))
    };
    format!(
        "{expired} message{} would be dropped by a restore {when} (TTL expired)",
        plural(expired)
    )
}

/// The TTL reference time controls and the "would be dropped" banner.
pub fn ttl_banner_ui(ui: &mut Ui, document: &mut super::document::Document) {
    let Some(backup) = document.backup.clone() else {
        return;
    };
    let Some(summary) = document.ttl_summary() else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("TTL reference");
        let response = ui
            .add(
                egui::TextEdit::singleline(&mut document.reference.text)
                    .hint_text("now (or RFC 3339)")
                    .desired_width(230.0),
            )
            .labelled_by(label.id);
        if response.changed() {
            let text = document.reference.text.trim().to_string();
            if text.is_empty() {
                document.reference.fixed_ns = None;
                document.reference.error = None;
            } else {
                match crate::util::time::parse_rfc3339_ns(&text) {
                    Some(ns) => {
                        document.reference.fixed_ns = Some(ns);
                        document.reference.error = None;
                    }
                    None => document.reference.error = Some("not an RFC 3339 time".into()),
                }
            }
        }
        if ui.small_button("now").clicked() {
            document.reference.set_now();
        }
        let snapshot_ns = backup.snapshot_time_ns.or_else(|| {
            backup
                .declared_state
                .as_ref()
                .map(|state| state.last_ts_ns)
                .filter(|&ns| ns > 0)
        });
        if let Some(ns) = snapshot_ns {
            if ui
                .small_button("as of snapshot time")
                .on_hover_text(time_utc(ns))
                .clicked()
            {
                document.set_reference_ns(ns);
            }
        }
        if let Some(error) = &document.reference.error {
            ui.label(RichText::new(error).color(error_color(ui)));
        }
        ui.separator();
        if summary.messages_with_ttl == 0 {
            weak(ui, "no message carries Nats-TTL");
            return;
        }
        let text = ttl_banner_text(
            summary.expired,
            document.reference.fixed_ns.is_none(),
            document.reference.ns(),
        );
        let color = if summary.expired > 0 {
            warn_color(ui)
        } else {
            ui.visuals().weak_text_color()
        };
        ui.label(RichText::new(text).color(color).strong());
        if summary.invalid > 0 {
            ui.label(
                RichText::new(format!(
                    "{} with an invalid TTL (a v2 restore aborts)",
                    summary.invalid
                ))
                .color(error_color(ui)),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(duration_seconds(86400), "24h");
        assert_eq!(duration_seconds(90), "1m30s");
        assert_eq!(time_relative(1_500_000_000, 0), "+1.500000000 s");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(75_663), "75.7 KB");
    }
}
