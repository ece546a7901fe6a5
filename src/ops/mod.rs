//! Long operations on backups, with progress and cancel: index, verify, export, restore.

pub mod index;
pub mod open;
pub mod read;
pub mod report;
