//! Small helpers shared by every layer.

pub mod subject;
pub mod time;
