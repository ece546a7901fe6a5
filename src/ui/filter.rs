//! The Messages pane's filter types, re-exported from `ops::filter` (the one
//! place message filtering lives) so panes and workers keep one import path.

pub use crate::ops::filter::{
    all_rows_with_gaps, run, run_streaming, DisplayList, DisplayRow, FilterError, FilterSpec,
};
