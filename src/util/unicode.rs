//! Telling apart strings that look the same: combining marks (NFD vs NFC),
//! zero-width and other invisible characters, odd spaces at the ends.

/// Combining marks from the blocks subjects meet in practice (Latin accents,
/// Japanese voiced marks, symbols); a string holding one is (partly) decomposed.
fn is_combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F | 0x3099..=0x309A)
}

fn invisible_name(c: char) -> Option<&'static str> {
    Some(match c as u32 {
        0x200B => "zero-width space",
        0x200C => "zero-width non-joiner",
        0x200D => "zero-width joiner",
        0x2060 => "word joiner",
        0xFEFF => "zero-width no-break space (BOM)",
        0x00AD => "soft hyphen",
        0x200E => "left-to-right mark",
        0x200F => "right-to-left mark",
        0x202A..=0x202E => "bidirectional embedding",
        0x2066..=0x2069 => "bidirectional isolate",
        0x00A0 => "no-break space",
        0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => "wide or narrow space",
        _ if c.is_control() => "control character",
        _ => return None,
    })
}

/// Short notes on what in `text` cannot be seen, e.g.
/// "contains U+0301 combining accent (NFD)". Empty when there is nothing.
pub fn invisible_notes(text: &str) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut push = |note: String| {
        if !notes.contains(&note) && notes.len() < 8 {
            notes.push(note);
        }
    };
    for c in text.chars() {
        if is_combining(c) {
            let kind = if (0x3099..=0x309A).contains(&(c as u32)) {
                "combining voiced mark"
            } else {
                "combining accent"
            };
            push(format!("contains U+{:04X} {kind} (NFD)", c as u32));
        } else if let Some(name) = invisible_name(c) {
            push(format!("contains U+{:04X} {name}", c as u32));
        }
    }
    if text.ends_with(char::is_whitespace) {
        push("ends with a space".into());
    }
    if text.starts_with(char::is_whitespace) {
        push("starts with a space".into());
    }
    notes
}

/// The code points of the non-ASCII characters, for a tooltip
/// ("é U+00E9, 注 U+6CE8"); at most `limit` of them.
pub fn non_ascii_code_points(text: &str, limit: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in text.chars().filter(|c| !c.is_ascii()) {
        if parts.len() == limit {
            parts.push("…".into());
            break;
        }
        let shown = if is_combining(c) || invisible_name(c).is_some() {
            "◌".to_string()
        } else {
            c.to_string()
        };
        parts.push(format!("{shown} U+{:04X}", c as u32));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_and_nfc_are_told_apart() {
        assert!(invisible_notes("caf\u{e9}").is_empty());
        assert_eq!(
            invisible_notes("cafe\u{301}"),
            vec!["contains U+0301 combining accent (NFD)".to_string()]
        );
    }

    #[test]
    fn zero_width_and_trailing_spaces_are_named() {
        assert_eq!(
            invisible_notes("a\u{200b}b "),
            vec![
                "contains U+200B zero-width space".to_string(),
                "ends with a space".to_string()
            ]
        );
        assert!(invisible_notes("注文.作成").is_empty());
        assert_eq!(non_ascii_code_points("é.x", 4), "é U+00E9");
    }
}
