//! Which consumers go with a stream into a restore or an export.

use crate::model::{Backup, ConsumerInfo};
use crate::ops::restore_local::RestoreError;

/// Which consumers go with the stream (restore and export).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConsumerSelection {
    #[default]
    All,
    None,
    Only(Vec<String>),
}

impl ConsumerSelection {
    /// The selected consumers of `backup`, in archive order. Naming a consumer
    /// the backup does not hold is bad input.
    pub fn select<'a>(&self, backup: &'a Backup) -> Result<Vec<&'a ConsumerInfo>, RestoreError> {
        let missing = self.unknown_names(backup);
        if !missing.is_empty() {
            let known: Vec<&str> = backup.consumers.iter().map(|c| c.name.as_str()).collect();
            return Err(RestoreError::BadInput(format!(
                "consumer(s) {missing:?} not in the backup of stream {:?}; it holds {known:?}",
                backup.stream_name
            )));
        }
        Ok(self.kept(backup))
    }

    /// The names `Only` gives that `backup` does not hold, in the order given.
    pub fn unknown_names(&self, backup: &Backup) -> Vec<&String> {
        match self {
            ConsumerSelection::All | ConsumerSelection::None => Vec::new(),
            ConsumerSelection::Only(names) => names
                .iter()
                .filter(|name| !backup.consumers.iter().any(|c| &c.name == *name))
                .collect(),
        }
    }

    /// The selected consumers of `backup` in archive order; unknown names are ignored.
    pub fn kept<'a>(&self, backup: &'a Backup) -> Vec<&'a ConsumerInfo> {
        match self {
            ConsumerSelection::All => backup.consumers.iter().collect(),
            ConsumerSelection::None => Vec::new(),
            ConsumerSelection::Only(names) => backup
                .consumers
                .iter()
                .filter(|c| names.contains(&c.name))
                .collect(),
        }
    }

    /// True when every consumer of `backup` is kept.
    pub fn keeps_all(&self, backup: &Backup) -> bool {
        match self {
            ConsumerSelection::All => true,
            ConsumerSelection::None => backup.consumers.is_empty(),
            ConsumerSelection::Only(names) => {
                backup.consumers.iter().all(|c| names.contains(&c.name))
            }
        }
    }
}
