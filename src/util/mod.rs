//! Small helpers shared by every layer.
//! No I/O, no threads, no state.

pub mod fxhash;
pub mod subject;
pub mod time;
