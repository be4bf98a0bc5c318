//! What a run noticed about its data without stopping on it: files that are not images
//! (skipped, as torchvision's `ImageFolder` skips them), images left out with
//! `--skip-invalid`, and warnings about the classes. The partition and pca stages write
//! theirs next to their outputs; validation gathers them into the report.

use std::collections::BTreeMap;

use mltrain_store::folder::Skip;
use serde::{Deserialize, Serialize};

/// How many keys of one kind a note lists; the count says how many there were.
pub const LISTED_KEYS: usize = 20;

/// Everything noticed, as the report carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataNotes {
    /// Files under the data prefixes not taken as images, by reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Images that do not decode, left out of the run because of `--skip-invalid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidImage>,
    /// What the user should know about the classes (too small, unbalanced, untested).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl DataNotes {
    /// Whether nothing was noticed (the report then leaves its `data` out).
    pub fn is_empty(&self) -> bool {
        self.skipped.is_empty() && self.invalid.is_empty() && self.warnings.is_empty()
    }

    /// Files skipped, over every reason.
    pub fn skipped_files(&self) -> usize {
        self.skipped.iter().map(|s| s.count).sum()
    }
}

/// Files skipped for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Why, in a few words (`hidden (name starts with `.`)`, `not an image ...`).
    pub reason: String,
    /// How many files, all of them, though `keys` lists at most [`LISTED_KEYS`].
    pub count: usize,
    /// The first [`LISTED_KEYS`] of them, sorted.
    pub keys: Vec<String>,
}

/// An image left out with `--skip-invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidImage {
    /// The image's full key, e.g. `data/cat/07.png`.
    pub key: String,
    /// Why it does not decode: the decoder's error and its causes on one line, or that it
    /// is no longer in the store.
    pub reason: String,
}

/// Groups skipped keys by reason, in the order of [`Skip`].
pub fn group_skipped(skipped: impl IntoIterator<Item = (String, Skip)>) -> Vec<Skipped> {
    let mut by_reason: BTreeMap<Skip, Vec<String>> = BTreeMap::new();
    for (key, why) in skipped {
        by_reason.entry(why).or_default().push(key);
    }
    by_reason
        .into_iter()
        .map(|(why, mut keys)| {
            keys.sort_unstable();
            let count = keys.len();
            keys.truncate(LISTED_KEYS);
            Skipped {
                reason: why.describe().to_string(),
                count,
                keys,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn skipped_keys_are_grouped_counted_and_capped() {
        let mut skipped: Vec<(String, Skip)> = (0..25)
            .map(|i| (format!("d/{i:02}.txt"), Skip::NotImage))
            .collect();
        skipped.push(("d/.DS_Store".into(), Skip::Hidden));
        let groups = group_skipped(skipped);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].count, groups[0].keys.len()), (1, 1));
        assert_eq!((groups[1].count, groups[1].keys.len()), (25, LISTED_KEYS));
        let notes = DataNotes {
            skipped: groups,
            ..DataNotes::default()
        };
        assert_eq!(notes.skipped_files(), 26);
    }
}
