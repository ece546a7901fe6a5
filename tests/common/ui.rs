//! egui_kittest support shared by the GUI tests: stepping the real app until
//! its worker threads have delivered what a test waits for.

use egui_kittest::Harness;
use jsbackup::ui::App;
use std::time::{Duration, Instant};

/// Steps until `done(app)` holds (workers run on real threads, hence the short
/// sleeps), failing after 60 s with `what`; then two more frames so the result
/// is drawn.
pub fn step_until(
    harness: &mut Harness<'static, App>,
    what: &str,
    mut done: impl FnMut(&App) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        if done(harness.state()) {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    harness.step();
}

/// The real app at 1280×800 with `path` open, stepped until it is indexed and
/// every worker is idle.
pub fn open_settled(path: &std::path::Path) -> Harness<'static, App> {
    let mut app = App::default();
    app.open(jsbackup::ui::OpenSource::Path(path.to_path_buf()));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    step_until(&mut harness, "the backup to be indexed", |app| {
        app.documents
            .iter()
            .all(|document| document.backup.is_some() && document.summary.is_some())
            && app.is_settled()
    });
    harness
}
