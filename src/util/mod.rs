//! Small helpers shared by every layer.

pub mod fxhash;
pub mod subject;
pub mod time;
pub mod unicode;
