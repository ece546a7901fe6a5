//! The Messages table choices kept between runs: header-key columns and the
//! sort order. A new document starts with the remembered ones; a change the
//! user makes in the active document becomes the remembered one.

use super::{App, Settings};
use crate::ops::sort::{SortKey, SortOrder};
use crate::ui::document::Document;

/// A sort order as stored: the column's label (stable text, not an enum index).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageSort {
    pub column: String,
    pub descending: bool,
}

/// Every sortable column, for reading a stored label back.
const SORT_KEYS: [SortKey; 5] = [
    SortKey::Seq,
    SortKey::Time,
    SortKey::Subject,
    SortKey::Size,
    SortKey::Ttl,
];

impl MessageSort {
    /// `None` for sequence order, the default (nothing worth storing).
    pub fn from_order(order: SortOrder) -> Option<Self> {
        (!order.is_natural()).then(|| Self {
            column: order.key.label().to_string(),
            descending: order.descending,
        })
    }

    /// `None` for a label no column has (a setting from another version).
    pub fn order(&self) -> Option<SortOrder> {
        SORT_KEYS
            .into_iter()
            .find(|key| key.label() == self.column)
            .map(|key| SortOrder {
                key,
                descending: self.descending,
            })
    }
}

/// What the active document's table showed last frame (document id, keys, sort).
pub(super) type TableChoices = (u64, Vec<String>, SortOrder);

impl Settings {
    /// Gives a newly opened document the remembered columns and sort.
    pub(super) fn apply_table_choices(&self, document: &mut Document) {
        let browse = &mut document.messages.browse;
        browse.header_keys = self.header_columns.clone();
        if let Some(order) = self.message_sort.as_ref().and_then(MessageSort::order) {
            browse.sort = order;
        }
    }
}

impl App {
    /// Remembers the active document's columns and sort when the user changed
    /// them since last frame (switching documents alone changes nothing).
    pub(super) fn remember_table_choices(&mut self) {
        let Some(document) = self.documents.get(self.active) else {
            self.table_choices_seen = None;
            return;
        };
        let browse = &document.messages.browse;
        let unchanged = self
            .table_choices_seen
            .as_ref()
            .is_some_and(|(id, keys, sort)| {
                *id == document.id && *keys == browse.header_keys && *sort == browse.sort
            });
        if unchanged {
            return;
        }
        let same_document = self
            .table_choices_seen
            .as_ref()
            .is_some_and(|(id, _, _)| *id == document.id);
        if same_document {
            self.settings.header_columns = browse.header_keys.clone();
            self.settings.message_sort = MessageSort::from_order(browse.sort);
        }
        self.table_choices_seen = Some((document.id, browse.header_keys.clone(), browse.sort));
    }
}
