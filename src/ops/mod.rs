//! Long operations on backups, with progress and cancel: index, verify, export, restore.

pub mod config_check;
pub mod consumer_state;
pub mod content_checks;
pub mod dump;
pub mod export;
pub mod filter;
pub mod header_cells;
pub mod index;
pub mod nats_client;
pub mod open;
pub mod payload_view;
pub mod predict;
pub mod predict_replay;
pub mod preflight;
pub mod read;
pub mod report;
pub mod restore_damage;
pub mod restore_local;
pub mod restore_prediction;
pub mod restore_server;
pub mod selection;
pub mod sniff;
pub mod sort;
pub mod temp_dirs;
pub mod triage;
pub mod wording;
