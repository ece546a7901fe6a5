//! Fallback fonts so subjects in Japanese/Chinese/Korean, symbols like ✓ and
//! the rest render as text, not boxes. egui's own fonts (with its
//! `monochrome_emoji_fonts` feature) cover Latin, Greek, Cyrillic and emoji.
//! Two sources, both appended after egui's own fonts:
//! - system fonts found in the usual fontconfig directories (scanned once on a
//!   worker thread at start-up; a few well-known file names, no parsing);
//! - three small subsets the binary ships (see assets/fonts/README.md):
//!   Droid Sans Fallback (Apache-2.0) cut to kana, CJK punctuation and the
//!   JIS X 0208 / GB2312 level-1 ideographs, its Hangul cut to the 2,350
//!   KS X 1001 syllables and the compatibility jamo, and DejaVu Sans (Bitstream
//!   Vera licence, free to modify under another name) cut to arrows and symbols.

use egui::epaint::text::{FontInsert, FontPriority, InsertFontFamily};
use egui::{FontData, FontFamily};
use std::path::{Path, PathBuf};

/// Shipped subsets (name, bytes).
pub const BUNDLED: [(&str, &[u8]); 3] = [
    (
        "jsbackup-cjk-subset",
        include_bytes!("../../assets/fonts/DroidSansFallback-subset.ttf"),
    ),
    (
        "jsbackup-hangul-subset",
        include_bytes!("../../assets/fonts/DroidSansFallback-hangul-subset.ttf"),
    ),
    (
        "jsbackup-symbols-subset",
        include_bytes!("../../assets/fonts/DejaVuSans-symbols-subset.ttf"),
    ),
];

/// System font files worth adding, best first; the first found of each group wins.
const SYSTEM_GROUPS: &[&[&str]] = &[
    // CJK
    &[
        "NotoSansCJK-Regular.ttc",
        "NotoSansCJKjp-Regular.otf",
        "NotoSansJP-Regular.otf",
        "NotoSansJP-Regular.ttf",
        "DroidSansFallbackFull.ttf",
        "DroidSansFallback.ttf",
        "wqy-microhei.ttc",
        "wqy-zenhei.ttc",
        "ipagp.ttf",
    ],
    // Korean
    &["NanumGothic.ttf", "NotoSansKR-Regular.otf", "UnDotum.ttf"],
    // Symbols and wide coverage
    &[
        "NotoSansSymbols2-Regular.ttf",
        "DejaVuSans.ttf",
        "Symbola.ttf",
    ],
    &["NotoSansSymbols-Regular.ttf", "FreeSans.ttf"],
];

const SCAN_LIMIT: usize = 20_000;

fn font_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("/usr/share/fonts"),
        PathBuf::from("/usr/local/share/fonts"),
    ];
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        dirs.push(home.join(".local/share/fonts"));
        dirs.push(home.join(".fonts"));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        dirs.push(data.join("fonts"));
    }
    dirs
}

/// Walks `dirs` (bounded: depth 6, [`SCAN_LIMIT`] entries) and returns the
/// first file of each group found.
pub fn find_system_fonts(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<Option<(usize, PathBuf)>> = vec![None; SYSTEM_GROUPS.len()];
    let mut stack: Vec<(PathBuf, u32)> = dirs.iter().map(|dir| (dir.clone(), 0)).collect();
    let mut seen = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SCAN_LIMIT {
                break;
            }
            let path = entry.path();
            if path.is_dir() {
                if depth < 6 {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            for (group, names) in SYSTEM_GROUPS.iter().enumerate() {
                if let Some(rank) = names.iter().position(|candidate| *candidate == name) {
                    let better = found
                        .get(group)
                        .and_then(|slot| slot.as_ref())
                        .is_none_or(|(best, _)| rank < *best);
                    if better {
                        if let Some(slot) = found.get_mut(group) {
                            *slot = Some((rank, path.clone()));
                        }
                    }
                }
            }
        }
    }
    found.into_iter().flatten().map(|(_, path)| path).collect()
}

fn insert(name: &str, data: FontData) -> FontInsert {
    FontInsert::new(
        name,
        data,
        vec![
            InsertFontFamily {
                family: FontFamily::Proportional,
                priority: FontPriority::Lowest,
            },
            InsertFontFamily {
                family: FontFamily::Monospace,
                priority: FontPriority::Lowest,
            },
        ],
    )
}

fn add_system_font(ctx: &egui::Context, path: &Path) {
    match std::fs::read(path) {
        Ok(bytes) => ctx.add_font(insert(
            &format!("system:{}", path.display()),
            FontData::from_owned(bytes),
        )),
        // A font we cannot read is simply not used; the bundled subset still covers the basics.
        Err(error) => eprintln!("jsbackup: font {}: {error}", path.display()),
    }
}

/// Installs the fallback fonts once per context: the system scan runs on a
/// worker (its fonts come in a frame or two later), the bundled subsets are
/// added after them so a full system font wins over our subset.
pub fn ensure_installed(ctx: &egui::Context) {
    if !mark_installed(ctx) {
        return;
    }
    let worker_ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("fonts".into())
        .spawn(move || install_all(&worker_ctx));
    if spawned.is_err() {
        install_all(ctx);
    }
}

/// Marks the context's fonts as installed; false when they already were.
fn mark_installed(ctx: &egui::Context) -> bool {
    let id = egui::Id::unique("jsbackup_fonts_installed");
    if ctx.data(|data| data.get_temp::<bool>(id).is_some()) {
        return false;
    }
    ctx.data_mut(|data| data.insert_temp(id, true));
    true
}

/// Synchronous install before the app's first frame (tests: glyphs must be there
/// before the first check, and no worker may add fonts while the test looks).
pub fn install_now(ctx: &egui::Context) {
    if mark_installed(ctx) {
        install_all(ctx);
    }
}

/// Synchronous install.
pub fn install_all(ctx: &egui::Context) {
    if std::env::var_os("JSBACKUP_NO_SYSTEM_FONTS").is_none() {
        for path in find_system_fonts(&font_dirs()) {
            add_system_font(ctx, &path);
        }
    }
    install_bundled(ctx);
    ctx.request_repaint();
}

pub fn install_bundled(ctx: &egui::Context) {
    for (name, bytes) in BUNDLED {
        ctx.add_font(insert(name, FontData::from_static(bytes)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_fonts_render_cjk_and_check_marks() {
        let ctx = egui::Context::default();
        install_bundled(&ctx);
        // Fonts apply at the start of a pass; the texture upload is not needed here.
        let mut output = ctx.run_ui(Default::default(), |_| {});
        output.textures_delta.clear();
        let font = egui::FontId::monospace(14.0);
        ctx.fonts_mut(|fonts| {
            // Emoji come from egui's own fonts (its `monochrome_emoji_fonts` feature).
            for text in [
                "注文.作成",
                "注文.発送",
                "✓",
                "カフェ",
                "заказ",
                "events.🎉",
                "🔔",
            ] {
                assert!(fonts.has_glyphs(&font, text), "{text} has no glyph");
            }
        });
    }

    #[test]
    fn bundled_fonts_render_korean_syllables_and_jamo() {
        let ctx = egui::Context::default();
        let font = egui::FontId::monospace(14.0);
        // "order.created", "shipping", "Korean", compatibility jamo, the first and last KS X 1001 syllables.
        let korean = ["주문.생성", "배송", "한국어", "ㄱㄴㄷㅏㅣ", "가", "힝"];
        let mut output = ctx.run_ui(Default::default(), |_| {});
        output.textures_delta.clear();
        // egui's own fonts have no Hangul: without the subset these are boxes.
        ctx.fonts_mut(|fonts| {
            assert!(!fonts.has_glyphs(&font, "주문"), "egui alone has Hangul");
        });
        install_bundled(&ctx);
        let mut output = ctx.run_ui(Default::default(), |_| {});
        output.textures_delta.clear();
        ctx.fonts_mut(|fonts| {
            for text in korean {
                assert!(fonts.has_glyphs(&font, text), "{text} has no glyph");
            }
        });
    }
}
