//! The Restore dialog (Ctrl+R): into a local store directory (for a stopped
//! server to load) or a running server; stream name (rename), consumers,
//! dropping TTL-expired messages; pre-flight checks; progress with Cancel;
//! the resulting stream state. The checks and the restore run in
//! `workers::Job`s (file system and network never on the UI thread).

use super::command::Command;
use super::dialog::{self, ConsumerChecks, PathField};
use super::widgets;
use super::workers::{spawn_job, Job};
use crate::model::Backup;
use crate::ops::config_check::ConfigPolicy;
use crate::ops::export::MaybeDeletedChoice;
use crate::ops::nats_client::Auth;
use crate::ops::preflight::{
    self, server_preflight, store_preflight, stream_dir, ArchivePlan, Check,
};
use crate::ops::restore_damage::DamageAccount;
use crate::ops::restore_local::{
    restore_to_store, LocalRestoreOptions, RestoreError, RestoreReport,
};
use crate::ops::restore_server::{restore_to_server, ServerRestoreError, ServerRestoreOptions};
use egui::{RichText, Ui};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEBOUNCE: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Store,
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthChoice {
    None,
    UserPassword,
    Token,
}

pub struct RestoreDialog {
    pub backup: Arc<Backup>,
    pub target: Target,
    pub store: PathField,
    pub account: String,
    pub url: String,
    pub auth: AuthChoice,
    pub user: String,
    pub password: String,
    pub token: String,
    pub stream_name: String,
    pub consumers: ConsumerChecks,
    /// Server restores: leave out TTL-expired messages.
    pub drop_expired: bool,
    /// Store restores: write every archive message as it is, instead of what the
    /// server settles at once it loads the store (limits, max_age, TTLs).
    pub keep_expired: bool,
    /// Leave out config fields the target server version would refuse.
    pub drop_unknown_config: bool,
    /// Write a memory-storage stream into the store as file storage.
    pub storage_file: bool,
    /// The document's TTL reference (`None`: now, taken when the job starts).
    pub reference_ns: Option<i64>,
    pub replace: bool,
    /// Restore the intact part of a damaged backup (refused without it).
    pub salvage: bool,
    /// Salvage: keep or drop the messages that may have been deleted (no default:
    /// the restore waits for the choice when there are any).
    pub maybe_deleted: Option<MaybeDeletedChoice>,
    /// What a restore of this backup leaves out (computed once: it walks every row).
    damage: DamageAccount,
    /// The second confirmation of "replace" is showing.
    pub confirm_replace: bool,
    dirty_since: Option<Instant>,
    preflight_job: Option<Job<Vec<Check>>>,
    /// Checks of the current options (for a server: of the last "Check server").
    pub preflight: Option<Result<Vec<Check>, String>>,
    pub job: Option<Job<RestoreReport>>,
    pub result: Option<Result<RestoreReport, String>>,
}

impl RestoreDialog {
    pub fn new(backup: Arc<Backup>, reference_ns: Option<i64>) -> Self {
        Self {
            target: Target::Store,
            store: PathField::default(),
            account: "$G".to_string(),
            url: "nats://127.0.0.1:4222".to_string(),
            auth: AuthChoice::None,
            user: String::new(),
            password: String::new(),
            token: String::new(),
            stream_name: backup.stream_name.clone(),
            consumers: ConsumerChecks::all(&backup),
            drop_expired: false,
            keep_expired: false,
            drop_unknown_config: false,
            storage_file: false,
            reference_ns,
            replace: false,
            salvage: false,
            maybe_deleted: None,
            damage: DamageAccount::of(&backup),
            confirm_replace: false,
            dirty_since: None,
            preflight_job: None,
            preflight: None,
            job: None,
            result: None,
            backup,
        }
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some()
            || self.preflight_job.is_some()
            || self.dirty_since.is_some()
            || self.store.is_picking()
    }

    /// Is a restore running? Collects its result first when it has ended (the
    /// dialog may not be drawn while the window waits to close).
    pub fn is_restoring(&mut self) -> bool {
        dialog::poll_job(&mut self.job, &mut self.result);
        self.job.is_some()
    }

    /// The window is closing: cancels a running restore and waits up to
    /// `timeout` for it to clean up (temp dir removed, half-restored stream
    /// deleted). False when it did not finish in time.
    pub fn cancel_and_wait(&mut self, timeout: Duration) -> bool {
        let Some(job) = &self.job else {
            return true;
        };
        job.request_cancel();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(result) = job.try_result() {
                self.result = Some(result);
                self.job = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn changed(&mut self) {
        self.preflight = None;
        self.confirm_replace = false;
        if self.target == Target::Store {
            self.dirty_since = Some(Instant::now());
        }
    }

    fn renamed(&self) -> Option<String> {
        let name = self.stream_name.trim();
        (name != self.backup.stream_name).then(|| name.to_string())
    }

    fn auth(&self) -> Auth {
        match self.auth {
            AuthChoice::None => Auth::None,
            AuthChoice::UserPassword => Auth::UserPassword {
                user: self.user.clone(),
                password: self.password.clone(),
            },
            AuthChoice::Token => Auth::Token(self.token.clone()),
        }
    }

    /// A local store is checked against the newest server version known.
    fn config_policy(&self) -> ConfigPolicy {
        ConfigPolicy {
            target_version: None,
            drop_unknown: self.drop_unknown_config,
            storage_file: self.storage_file,
        }
    }

    fn reference(&self) -> i64 {
        self.reference_ns.unwrap_or_else(crate::util::time::now_ns)
    }

    fn poll(&mut self, ctx: &egui::Context) {
        dialog::poll_job(&mut self.preflight_job, &mut self.preflight);
        dialog::poll_job(&mut self.job, &mut self.result);
        if let Some(since) = self.dirty_since {
            if since.elapsed() < DEBOUNCE {
                ctx.request_repaint_after(DEBOUNCE);
            } else {
                self.dirty_since = None;
                self.start_preflight(ctx);
            }
        }
    }

    fn start_preflight(&mut self, ctx: &egui::Context) {
        let backup = self.backup.clone();
        let name = self.stream_name.trim().to_string();
        let salvage = self.salvage;
        let reference_ns = self.reference();
        let local = self.target == Target::Store;
        let storage_file = local && self.storage_file;
        let archive_checks = move |backup: &Backup| {
            preflight::archive_checks(
                backup,
                &ArchivePlan {
                    salvage,
                    config: None,
                    reference_ns,
                    local,
                    storage_file,
                },
            )
        };
        self.preflight = None;
        self.preflight_job = Some(match self.target {
            Target::Store => {
                let Some(store) = self.store.path() else {
                    self.preflight_job = None;
                    return;
                };
                let account = self.account.trim().to_string();
                let replace = self.replace;
                let consumers = self.consumers.selection();
                let policy = self.config_policy();
                spawn_job("restore-check", ctx, move |_, _| {
                    let mut checks = archive_checks(&backup);
                    checks.extend(store_preflight(
                        &backup, &store, &account, &name, replace, &consumers, &policy,
                    ));
                    Ok(checks)
                })
            }
            Target::Server => {
                let url = self.url.trim().to_string();
                let auth = self.auth();
                let consumers = self.consumers.selection();
                let drop_expired = self.drop_expired;
                let drop_unknown_config = self.drop_unknown_config;
                spawn_job("restore-check", ctx, move |_, _| {
                    let mut checks = archive_checks(&backup);
                    checks.extend(server_preflight(
                        &backup,
                        &url,
                        &auth,
                        &name,
                        &consumers,
                        drop_expired,
                        drop_unknown_config,
                    ));
                    Ok(checks)
                })
            }
        });
    }

    fn start(&mut self, ctx: &egui::Context) {
        self.confirm_replace = false;
        self.result = None;
        let backup = self.backup.clone();
        let stream_name = self.renamed();
        let consumers = self.consumers.selection();
        let drop_expired = self.drop_expired;
        let reference_ns = self.reference();
        self.job = Some(match self.target {
            Target::Store => {
                let Some(store_dir) = self.store.path() else {
                    self.result = Some(Err("choose the store directory".into()));
                    self.job = None;
                    return;
                };
                let options = LocalRestoreOptions {
                    store_dir,
                    account: self.account.trim().to_string(),
                    stream_name,
                    consumers,
                    keep_expired: self.keep_expired,
                    reference_ns,
                    config_override: None,
                    replace: self.replace,
                    config_policy: self.config_policy(),
                    salvage: self.salvage,
                    maybe_deleted: self.maybe_deleted,
                };
                spawn_job("restore", ctx, move |progress, cancel| {
                    restore_to_store(
                        &backup,
                        &options,
                        &mut |done, total| progress.set(done, total),
                        cancel,
                    )
                    .map_err(|error| match error {
                        RestoreError::Cancelled(_) => error.to_string(),
                        other => format!(
                            "restore into {} failed: {other}",
                            options.store_dir.display()
                        ),
                    })
                })
            }
            Target::Server => {
                let mut options = ServerRestoreOptions::new(self.url.trim());
                options.auth = self.auth();
                options.stream_name = stream_name;
                options.consumers = consumers;
                options.drop_expired = drop_expired;
                options.drop_unknown_config = self.drop_unknown_config;
                options.reference_ns = reference_ns;
                options.salvage = self.salvage;
                options.maybe_deleted = self.maybe_deleted;
                spawn_job("restore", ctx, move |progress, cancel| {
                    restore_to_server(
                        &backup,
                        &options,
                        &mut |done, total| progress.set(done, total),
                        cancel,
                    )
                    .map_err(|error: ServerRestoreError| error.to_string())
                })
            }
        });
    }

    /// Draws the dialog; returns false once it is closed.
    pub fn show(&mut self, ctx: &egui::Context, _commands: &mut Vec<Command>) -> bool {
        self.poll(ctx);
        let mut open = true;
        dialog::scrolling_window(
            ctx,
            format!("Restore {}", self.backup.stream_name),
            "restore_dialog",
            640.0,
            &mut open,
            |ui| self.body_ui(ui),
        );
        if !open {
            self.cancel();
        }
        open
    }

    /// Stops a running restore (the dialog is closing).
    pub fn cancel(&self) {
        if let Some(job) = &self.job {
            job.request_cancel();
        }
    }

    fn body_ui(&mut self, ui: &mut Ui) {
        let running = self.job.is_some();
        ui.add_enabled_ui(!running, |ui| self.options_ui(ui));
        ui.separator();
        self.preflight_ui(ui);
        ui.separator();
        if let Some(job) = &self.job {
            let (done, total) = job.progress();
            let (verb, unit) = match self.target {
                Target::Store => ("Writing the stream directory", "messages"),
                // The upload reports `total` only once all is sent (restore_to_server).
                Target::Server if total > 0 && done >= total => {
                    ("Waiting for the server to finish…", "bytes")
                }
                Target::Server => ("Uploading", "bytes"),
            };
            if dialog::progress_ui(ui, job, verb, unit) {
                job.request_cancel();
            }
        } else if self.confirm_replace {
            self.confirm_ui(ui);
        } else {
            let refusal = match &self.preflight {
                Some(Ok(checks)) if preflight::blocked(checks) => Some(preflight::refusal(checks)),
                _ => None,
            };
            let blocked = refusal.is_some();
            // A blocked restore can still be asked for: it answers with the refusal.
            let ready = !self.stream_name.trim().is_empty()
                && self.maybe_deleted_chosen()
                && match self.target {
                    Target::Store => self.store.path().is_some(),
                    Target::Server => !self.url.trim().is_empty(),
                };
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(ready, egui::Button::new("Run restore"))
                    .clicked()
                {
                    if let Some(refusal) = refusal {
                        self.result = Some(Err(refusal));
                    } else if self.replace && self.target == Target::Store {
                        self.confirm_replace = true;
                    } else {
                        self.start(ui.ctx());
                    }
                }
                if blocked {
                    widgets::weak(ui, "fix the failed checks first");
                }
            });
        }
        self.result_ui(ui);
    }

    fn options_ui(&mut self, ui: &mut Ui) {
        let mut changed = false;
        ui.horizontal(|ui| {
            ui.label("Into");
            changed |= ui
                .radio_value(&mut self.target, Target::Store, "a local store directory")
                .changed();
            changed |= ui
                .radio_value(&mut self.target, Target::Server, "a running server")
                .changed();
        });
        match self.target {
            Target::Store => changed |= self.store_target_ui(ui),
            Target::Server => changed |= self.server_target_ui(ui),
        }
        changed |= self.stream_name_ui(ui);
        changed |= self.consumers.ui(ui);
        changed |= self.salvage_ui(ui);
        changed |= match self.target {
            Target::Store => dialog::keep_expired_ui(ui, &mut self.keep_expired, self.reference_ns),
            Target::Server => {
                dialog::drop_expired_ui(ui, &mut self.drop_expired, self.reference_ns)
            }
        };
        changed |= ui
            .checkbox(
                &mut self.drop_unknown_config,
                "leave out config fields the target server refuses (listed in the pre-flight)",
            )
            .changed();
        changed |= self.store_options_ui(ui);
        if changed {
            self.changed();
        }
    }

    /// The store-directory target's fields: store directory and account; true when one changed.
    fn store_target_ui(&mut self, ui: &mut Ui) -> bool {
        let mut changed = false;
        changed |= self.store.ui(
            ui,
            "store directory",
            "the server's store_dir (holds jetstream/)",
            None,
        );
        ui.horizontal(|ui| {
            let label = ui.label("account");
            changed |= ui
                .add(egui::TextEdit::singleline(&mut self.account).desired_width(160.0))
                .labelled_by(label.id)
                .changed();
            widgets::weak(ui, "$G is the global account");
        });
        widgets::weak(
            ui,
            "Stop the server first: it reads stream directories at startup.",
        );
        changed
    }

    /// The server target's fields: URL, auth choice and its credentials; true when one changed.
    fn server_target_ui(&mut self, ui: &mut Ui) -> bool {
        let mut changed = false;
        ui.horizontal(|ui| {
            let label = ui.label("server URL");
            changed |= ui
                .add(egui::TextEdit::singleline(&mut self.url).desired_width(300.0))
                .labelled_by(label.id)
                .changed();
        });
        ui.horizontal(|ui| {
            ui.label("auth");
            changed |= ui
                .radio_value(&mut self.auth, AuthChoice::None, "none")
                .changed();
            changed |= ui
                .radio_value(&mut self.auth, AuthChoice::UserPassword, "user + password")
                .changed();
            changed |= ui
                .radio_value(&mut self.auth, AuthChoice::Token, "token")
                .changed();
        });
        match self.auth {
            AuthChoice::None => {}
            AuthChoice::UserPassword => {
                ui.horizontal(|ui| {
                    let label = ui.label("user");
                    changed |= ui
                        .add(egui::TextEdit::singleline(&mut self.user).desired_width(140.0))
                        .labelled_by(label.id)
                        .changed();
                    let label = ui.label("password");
                    changed |= ui
                        .add(
                            egui::TextEdit::singleline(&mut self.password)
                                .password(true)
                                .desired_width(140.0),
                        )
                        .labelled_by(label.id)
                        .changed();
                });
            }
            AuthChoice::Token => {
                ui.horizontal(|ui| {
                    let label = ui.label("token");
                    changed |= ui
                        .add(
                            egui::TextEdit::singleline(&mut self.token)
                                .password(true)
                                .desired_width(300.0),
                        )
                        .labelled_by(label.id)
                        .changed();
                });
            }
        }
        changed
    }

    /// The target stream name (with the "renamed from" note); true when it changed.
    fn stream_name_ui(&mut self, ui: &mut Ui) -> bool {
        let mut changed = false;
        ui.horizontal(|ui| {
            let label = ui.label("stream name");
            changed |= ui
                .add(egui::TextEdit::singleline(&mut self.stream_name).desired_width(220.0))
                .labelled_by(label.id)
                .changed();
            if self.renamed().is_some() {
                widgets::weak(ui, format!("renamed from {}", self.backup.stream_name));
            }
        });
        changed
    }

    /// A salvage with messages that may have been deleted waits for the choice.
    fn maybe_deleted_chosen(&self) -> bool {
        !self.salvage || self.backup.maybe_deleted.is_empty() || self.maybe_deleted.is_some()
    }

    /// The salvage checkbox, shown only for a damaged backup, and the choice about
    /// messages that may have been deleted once it is ticked; true when one changed.
    fn salvage_ui(&mut self, ui: &mut Ui) -> bool {
        let mut changed = false;
        let damage = &self.damage;
        if damage.is_damaged() {
            changed |= ui
                .checkbox(
                    &mut self.salvage,
                    format!(
                        "salvage: restore {}, leave out {}",
                        damage.written_of_archive(),
                        damage.dropped_text()
                    ),
                )
                .changed();
            if self.salvage {
                changed |= dialog::maybe_deleted_ui(
                    ui,
                    &self.backup,
                    &mut self.maybe_deleted,
                    "restoring",
                );
            } else {
                widgets::weak(
                    ui,
                    "The backup is damaged: without salvage the restore is refused.",
                );
            }
        }
        changed
    }

    /// The store-only options (file storage for memory streams, replace), or the server note; true when one changed.
    fn store_options_ui(&mut self, ui: &mut Ui) -> bool {
        let mut changed = false;
        let memory = self
            .backup
            .config
            .as_ref()
            .is_some_and(crate::model::StreamConfig::is_memory);
        if self.target == Target::Store && memory {
            changed |= ui
                .checkbox(
                    &mut self.storage_file,
                    "store the memory-storage stream as file storage (a server never loads memory streams from a store directory)",
                )
                .changed();
        }
        if self.target == Target::Store {
            changed |= ui
                .checkbox(
                    &mut self.replace,
                    "replace an existing stream directory of that name (asks again)",
                )
                .changed();
        } else {
            widgets::weak(
                ui,
                "A server restore never replaces a stream: delete it on the server first, or rename.",
            );
        }
        changed
    }

    fn preflight_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Pre-flight").strong());
            if self.preflight_job.is_some() || self.dirty_since.is_some() {
                ui.spinner();
            }
            let label = match self.target {
                Target::Store => "Check again",
                Target::Server => "Check server",
            };
            if ui
                .add_enabled(
                    self.preflight_job.is_none() && self.job.is_none(),
                    egui::Button::new(label),
                )
                .clicked()
            {
                self.start_preflight(ui.ctx());
            }
        });
        match &self.preflight {
            Some(Ok(checks)) => {
                for check in checks {
                    dialog::check_ui(ui, check.ok, &check.text);
                }
            }
            Some(Err(message)) => dialog::error_ui(ui, message),
            None if self.preflight_job.is_none() => {
                widgets::weak(
                    ui,
                    match self.target {
                        Target::Store => "choose the store directory to check it",
                        Target::Server => {
                            "not checked yet (the restore checks again before sending anything)"
                        }
                    },
                );
            }
            None => {}
        }
    }

    fn confirm_ui(&mut self, ui: &mut Ui) {
        let target = self
            .store
            .path()
            .map(|store| {
                stream_dir(&store, self.account.trim(), self.stream_name.trim())
                    .display()
                    .to_string()
            })
            .unwrap_or_default();
        ui.label(
            RichText::new(format!(
                "Replace {target}? If it exists, its messages and consumers are deleted and replaced by this backup."
            ))
            .color(widgets::warn_color(ui))
            .strong(),
        );
        ui.horizontal(|ui| {
            if ui.button("Replace and restore").clicked() {
                self.start(ui.ctx());
            }
            if ui.button("Back").clicked() {
                self.confirm_replace = false;
            }
        });
    }

    fn result_ui(&self, ui: &mut Ui) {
        match &self.result {
            Some(Ok(report)) => {
                dialog::check_ui(
                    ui,
                    Some(true),
                    &format!(
                        "Restored stream {} with {} messages (of {} in the archive) into {}",
                        report.stream_name,
                        widgets::count(report.messages),
                        widgets::count(report.archive_messages),
                        report.target
                    ),
                );
                if report.salvaged {
                    ui.label(
                        RichText::new(format!(
                            "salvaged: left out {}",
                            report.dropped.dropped_text()
                        ))
                        .color(widgets::warn_color(ui)),
                    );
                }
                if let Some(outcome) = &report.maybe_deleted {
                    widgets::weak(ui, outcome.text());
                }
                widgets::mono(
                    ui,
                    format!(
                        "state: messages {}, bytes {}, first_seq {}, last_seq {}{}",
                        report.messages,
                        report.bytes,
                        report.first_seq,
                        report.last_seq,
                        if report.blocks > 0 {
                            format!(", {} block(s)", report.blocks)
                        } else {
                            String::new()
                        }
                    ),
                );
                widgets::weak(
                    ui,
                    format!(
                        "consumers: {} · {} ms{}",
                        if report.consumers.is_empty() {
                            "none".to_string()
                        } else {
                            report.consumers.join(", ")
                        },
                        report.elapsed_ms,
                        if report.replaced {
                            " · replaced the existing directory"
                        } else {
                            ""
                        }
                    ),
                );
                for note in &report.notes {
                    widgets::weak(ui, note.as_str());
                }
                if let Some(info) = &report.server_stream_info {
                    egui::CollapsingHeader::new("server's stream info")
                        .id_salt("restore_stream_info")
                        .show(ui, |ui| {
                            widgets::mono(
                                ui,
                                serde_json::to_string_pretty(info).unwrap_or_default(),
                            );
                        });
                }
            }
            Some(Err(message)) => dialog::error_ui(ui, message),
            None => {}
        }
    }
}
