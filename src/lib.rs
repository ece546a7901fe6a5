//! jsbackup: open, browse, verify, export and restore NATS JetStream stream backups.
//!
//! Data flows one way: bytes → [`format`] → [`model`] → [`ops`] → ui / cli.

pub mod format;
pub mod model;
pub mod ops;
pub mod ui;
pub mod util;
