//! Where a run's objects live. Every run writes below its own
//! `ml-training/outputs/<run-id>/`, so two runs never overwrite each other.

/// Root of everything the workflow writes.
pub const ROOT: &str = "ml-training";
/// Published models: `ml-training/models/<run-id>.model`.
pub const MODELS: &str = "ml-training/models";

/// Keys of one run's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    run_id: String,
}

impl RunLayout {
    /// The keys of run `run_id`; the id is not checked here ([`valid_run_id`] does that).
    pub fn new(run_id: &str) -> Self {
        Self {
            run_id: run_id.to_string(),
        }
    }

    /// The run's id, as given to [`RunLayout::new`].
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's folder: `ml-training/outputs/<run-id>`.
    pub fn dir(&self) -> String {
        format!("{ROOT}/outputs/{}", self.run_id)
    }

    /// Key list of PCA function `i`.
    pub fn partition(&self, i: usize) -> String {
        format!("{}/partition/pca-{i}.keys", self.dir())
    }

    /// Key list of the test images.
    pub fn test_list(&self) -> String {
        format!("{}/partition/test.keys", self.dir())
    }

    /// The PCA basis fitted by PCA function `pca`.
    pub fn basis(&self, pca: usize) -> String {
        format!("{}/pca-{pca}/basis", self.dir())
    }

    /// Projected rows of forest `share` of PCA function `pca`.
    pub fn share(&self, pca: usize, share: usize) -> String {
        format!("{}/pca-{pca}/share-{share}", self.dir())
    }

    /// The forest trained on share `share` of PCA function `pca`: `<run dir>/rf-<pca>-<share>`.
    pub fn forest(&self, pca: usize, share: usize) -> String {
        format!("{}/rf-{pca}-{share}", self.dir())
    }

    /// The run's parameters, written by the driver before any stage runs (for `--resume`).
    pub fn params(&self) -> String {
        format!("{}/params.json", self.dir())
    }

    /// What partition noticed about the data: skipped files and warnings
    /// ([`crate::notes::DataNotes`], JSON).
    pub fn partition_notes(&self) -> String {
        format!("{}/partition/notes.json", self.dir())
    }

    /// The images PCA function `pca` left out with `--skip-invalid` (JSON).
    pub fn invalid(&self, pca: usize) -> String {
        format!("{}/pca-{pca}/invalid.json", self.dir())
    }

    /// Where call `name` (`partition`, `pca-3`, `rf-0-1`, `validation`) records its output
    /// ([`crate::stage::Record`], JSON).
    pub fn record(&self, name: &str) -> String {
        format!("{}/{name}.json", self.records())
    }

    /// The folder of the run's call records.
    pub fn records(&self) -> String {
        format!("{}/calls", self.dir())
    }

    /// The run report ([`crate::report::Report`], JSON), written by validation before the
    /// model.
    pub fn report(&self) -> String {
        format!("{}/validation/report.json", self.dir())
    }

    /// The run report as a page to look at ([`crate::html::render`]), beside
    /// [`report`](Self::report).
    pub fn report_html(&self) -> String {
        format!("{}/validation/report.html", self.dir())
    }

    /// How a run that did not publish ended, when the process running it could say
    /// ([`crate::runs::Outcome`], JSON): failed, or interrupted.
    pub fn outcome(&self) -> String {
        format!("{}/outcome.json", self.dir())
    }

    /// The published model; written last, only after validation succeeded.
    pub fn model(&self) -> String {
        format!("{MODELS}/{}.model", self.run_id)
    }
}

#[cfg(feature = "io")]
/// A new run id: UTC time to the millisecond (so ids sort by start time) and a random suffix.
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    let suffix: u32 = rand::random();
    format!(
        "{}-{:06x}",
        now.strftime("%Y%m%dT%H%M%S%.3fZ"),
        suffix & 0xff_ffff
    )
}

/// Checks that a run id is one [`new_run_id`] could have made (it becomes part of keys).
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_valid_sortable_and_distinct() {
        let a = new_run_id();
        let b = new_run_id();
        assert!(valid_run_id(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261121T235959.123Z-abcdef".len(), "{a}");
        assert!(!valid_run_id("../x"));
    }

    #[test]
    fn keys_stay_inside_the_run() {
        let l = RunLayout::new("r1");
        for k in [
            l.partition(0),
            l.test_list(),
            l.basis(1),
            l.share(1, 2),
            l.forest(1, 2),
            l.report(),
            l.report_html(),
            l.outcome(),
            l.record("rf-0-1"),
        ] {
            assert!(k.starts_with("ml-training/outputs/r1/"), "{k}");
        }
        assert_eq!(l.forest(1, 2), "ml-training/outputs/r1/rf-1-2");
        assert_eq!(l.model(), "ml-training/models/r1.model");
    }
}
