//! `screenshot`: render one pane of the app for a backup to a PNG (needs X11, e.g. Xvfb).
//! Arguments and the PNG only: drawing is the app's.

use anyhow::{anyhow, Context, Result};
use jsbackup::ui::{DetailChoice, Pane, ScreenshotRequest};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ScreenshotArgs {
    /// Backup directory or data file.
    pub path: PathBuf,
    /// overview | consumers | messages | findings
    #[arg(long, default_value = "overview")]
    pub pane: String,
    /// PNG file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Window size, WIDTHxHEIGHT in points.
    #[arg(long, default_value = "1280x800")]
    pub size: String,
    /// TTL reference time (RFC 3339); default now.
    #[arg(long)]
    pub now: Option<String>,
    /// Select this sequence in the Messages pane.
    #[arg(long)]
    pub select_seq: Option<u64>,
    /// Open a dialog over the pane: restore | export | salvage | shortcuts | palette.
    #[arg(long)]
    pub dialog: Option<String>,
    /// Frames to draw once indexing is done, before the shot (the timing sample).
    #[arg(long, default_value_t = 8)]
    pub frames: u32,
    /// dark | light
    #[arg(long, default_value = "dark")]
    pub theme: String,
    /// A filter expression for the Messages pane's `where` field.
    #[arg(long = "where")]
    pub where_expression: Option<String>,
    /// Choose this header line of the selected message (needs --select-seq):
    /// the linked hex view highlights its bytes.
    #[arg(long, requires = "select_seq", conflicts_with = "select_field")]
    pub select_header: Option<String>,
    /// Choose the first JSON member with this key in the selected message's
    /// payload (needs --select-seq): the linked hex view highlights its bytes.
    #[arg(long, requires = "select_seq")]
    pub select_field: Option<String>,
}

fn parse_size(text: &str) -> Result<[f32; 2]> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow!("--size {text}: expected WIDTHxHEIGHT, e.g. 1280x800"))?;
    let width: f32 = width
        .trim()
        .parse()
        .with_context(|| format!("--size {text}: bad width"))?;
    let height: f32 = height
        .trim()
        .parse()
        .with_context(|| format!("--size {text}: bad height"))?;
    if !(100.0..=10_000.0).contains(&width) || !(100.0..=10_000.0).contains(&height) {
        return Err(anyhow!("--size {text}: each side must be 100..10000"));
    }
    Ok([width, height])
}

pub fn screenshot(args: &ScreenshotArgs) -> Result<u8> {
    let pane = Pane::parse(&args.pane).ok_or_else(|| {
        anyhow!(
            "--pane {}: expected overview, consumers, messages or findings",
            args.pane
        )
    })?;
    let dialog = match &args.dialog {
        Some(text) => Some(jsbackup::ui::DialogKind::parse(text).ok_or_else(|| {
            anyhow!("--dialog {text}: expected restore, export, salvage, shortcuts or palette")
        })?),
        None => None,
    };
    let reference_ns = match &args.now {
        Some(text) => Some(
            jsbackup::util::time::parse_rfc3339_ns(text)
                .ok_or_else(|| anyhow!("--now {text}: not an RFC 3339 time"))?,
        ),
        None => None,
    };
    let dark_theme = match args.theme.to_ascii_lowercase().as_str() {
        "dark" => true,
        "light" => false,
        other => return Err(anyhow!("--theme {other}: expected dark or light")),
    };
    if !args.path.exists() {
        return Err(anyhow!(
            "{}: no such file or directory",
            args.path.display()
        ));
    }
    let stats = jsbackup::ui::run_screenshot(ScreenshotRequest {
        path: args.path.clone(),
        pane,
        out: args.out.clone(),
        size: parse_size(&args.size)?,
        reference_ns,
        select_seq: args.select_seq,
        dialog,
        frames: args.frames,
        dark_theme: Some(dark_theme),
        where_expression: args.where_expression.clone(),
        choose: match (&args.select_header, &args.select_field) {
            (Some(name), _) => Some(DetailChoice::Header(name.clone())),
            (None, Some(key)) => Some(DetailChoice::Field(key.clone())),
            (None, None) => None,
        },
    })?;
    eprintln!("wrote {} ({stats})", args.out.display());
    Ok(0)
}
