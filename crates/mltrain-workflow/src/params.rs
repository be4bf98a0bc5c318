//! The parameters of a run, as the user gives them.

use mltrain_core::image::{Channels, ImageSize};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The bundled data prefix and fan-out the seed workflow runs by default.
pub const DEFAULT_PREFIX: &str = "ml-training/mnist-images-2k";

/// Most functions one stage fans out to: far beyond any real deployment, low enough that
/// no input can make the driver allocate or loop without bound.
pub const MAX_FUNCTIONS: usize = 10_000;

/// Where a run's test images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestSplit {
    /// A separate labeled prefix.
    Prefix(String),
    /// This share of each class of the training prefix, held out before training.
    Holdout(f64),
}

/// Which channels the images are read with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelMode {
    /// RGB when the training images have colour, grey otherwise (decided by the partition
    /// stage from a sample of the training images).
    #[default]
    Auto,
    /// Grey: colour images are converted with the ITU-R 601 luma weights.
    Grey,
    /// Red, green and blue: grey images repeat their level in all three.
    Rgb,
}

impl ChannelMode {
    /// The channels this mode fixes, or `None` for [`ChannelMode::Auto`].
    pub fn fixed(self) -> Option<Channels> {
        match self {
            ChannelMode::Auto => None,
            ChannelMode::Grey => Some(Channels::Grey),
            ChannelMode::Rgb => Some(Channels::Rgb),
        }
    }
}

/// Everything that determines a run's model: same data, same params, same model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Data prefix: `<prefix>/<class>/<image>`.
    pub prefix: String,
    /// Number of PCA functions.
    pub num_pca: usize,
    /// Number of random forests (at least `num_pca`).
    pub num_rf: usize,
    /// Leave out images that do not decode (listing them in the report) instead of
    /// refusing the data.
    #[serde(default)]
    pub skip_invalid: bool,
    /// Where the test images come from: `--test PREFIX`, or `--holdout F` of each class
    /// (default 0.2).
    pub test: TestSplit,
    /// PCA components kept.
    pub components: usize,
    /// Trees per forest.
    pub trees: usize,
    /// Deepest a tree grows: the root is at depth 0, a node at this depth is a leaf; at
    /// least 1.
    pub max_depth: usize,
    /// A node with fewer (distinct) training samples than this is a leaf; at least 2.
    pub min_samples_split: usize,
    /// Seed of every random choice: the partition's shuffle and each forest's own stream
    /// ([`mltrain_core::ensemble::derive_seed`]).
    pub seed: u64,
    /// Resize every image to this size; without it all images must have one size.
    pub resize: Option<ImageSize>,
    /// Grey or RGB features; runs recorded before colour support read as `auto`.
    #[serde(default)]
    pub channels: ChannelMode,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.into(),
            num_pca: 2,
            num_rf: 8,
            skip_invalid: false,
            test: TestSplit::Holdout(0.2),
            components: 10,
            trees: 100,
            max_depth: 10,
            min_samples_split: 5,
            seed: 0,
            resize: None,
            channels: ChannelMode::Auto,
        }
    }
}

impl Params {
    /// Checks the parameters that need no data.
    pub fn check(&self) -> Result<()> {
        let bad = |name, reason: String| Err(Error::InvalidArgument { name, reason });
        if self.prefix.trim_matches('/').is_empty() {
            return bad("PREFIX", "must not be empty".into());
        }
        if self.num_pca == 0 {
            return bad("NUM_PCA", "must be at least 1".into());
        }
        if self.num_rf > MAX_FUNCTIONS {
            return bad(
                "NUM_RF",
                format!(
                    "{} forests is over the limit of {MAX_FUNCTIONS}",
                    self.num_rf
                ),
            );
        }
        if self.num_rf < self.num_pca {
            return bad(
                "NUM_RF",
                format!(
                    "{} forests for {} PCA functions: each PCA function feeds at least one forest",
                    self.num_rf, self.num_pca
                ),
            );
        }
        if let Some(size) = self.resize {
            let limit = mltrain_core::image::DEFAULT_MAX_PIXELS;
            if size.pixels() as u64 > limit {
                return bad(
                    "--resize",
                    format!("{size} is over the limit of {limit} pixels per image"),
                );
            }
        }
        if let TestSplit::Holdout(f) = self.test {
            if !(f > 0.0 && f < 1.0) {
                return bad("--holdout", format!("{f} is not strictly between 0 and 1"));
            }
        }
        if let TestSplit::Prefix(p) = &self.test {
            if p.trim_matches('/') == self.prefix.trim_matches('/') {
                return bad(
                    "--test",
                    "the test prefix is the training prefix; use --holdout instead".into(),
                );
            }
        }
        mltrain_core::pca::PcaParams::new(self.components)
            .check()
            .map_err(|e| Error::InvalidArgument {
                name: "--components",
                reason: e.to_string(),
            })?;
        self.forest_params(0)
            .check()
            .map_err(|e| Error::InvalidArgument {
                name: "forest parameters",
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// Forest parameters for the forest with global index `forest`.
    pub fn forest_params(&self, forest: usize) -> mltrain_core::forest::ForestParams {
        mltrain_core::forest::ForestParams::new()
            .n_trees(self.trees)
            .max_depth(self.max_depth)
            .min_samples_split(self.min_samples_split)
            .seed(mltrain_core::ensemble::derive_seed(
                self.seed,
                forest as u64,
            ))
    }

    /// How many forests PCA function `pca` feeds: `num_rf / num_pca`, the remainder spread
    /// over the first functions (8 over 3 is 3 + 3 + 2).
    pub fn forests_of(&self, pca: usize) -> usize {
        self.num_rf / self.num_pca + usize::from(pca < self.num_rf % self.num_pca)
    }

    /// Global index of forest `share` of PCA function `pca`: the functions before `pca`
    /// feed `num_rf / num_pca` forests each, plus one for each of them below the remainder.
    pub fn forest_index(&self, pca: usize, share: usize) -> usize {
        pca * (self.num_rf / self.num_pca) + pca.min(self.num_rf % self.num_pca) + share
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn remainder_is_spread_over_the_first_functions() {
        let p = Params {
            num_pca: 3,
            num_rf: 8,
            ..Params::default()
        };
        assert_eq!(
            (0..3).map(|i| p.forests_of(i)).collect::<Vec<_>>(),
            [3, 3, 2]
        );
        assert_eq!(p.forest_index(2, 1), 7);
        // The closed form agrees with counting forests function by function.
        for (num_pca, num_rf) in [(1, 1), (3, 8), (4, 8), (5, 17), (7, 7)] {
            let p = Params {
                num_pca,
                num_rf,
                ..Params::default()
            };
            let mut next = 0;
            for i in 0..num_pca {
                for j in 0..p.forests_of(i) {
                    assert_eq!(p.forest_index(i, j), next, "{num_pca}/{num_rf} ({i}, {j})");
                    next += 1;
                }
            }
            assert_eq!(next, num_rf);
        }
    }

    #[test]
    fn check_names_the_bad_argument() {
        let name = |p: Params| match p.check() {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            name(Params {
                num_pca: 0,
                ..Params::default()
            }),
            "NUM_PCA"
        );
        assert_eq!(
            name(Params {
                num_pca: 4,
                num_rf: 3,
                ..Params::default()
            }),
            "NUM_RF"
        );
        assert_eq!(
            name(Params {
                num_pca: 2,
                num_rf: 1 << 60,
                ..Params::default()
            }),
            "NUM_RF"
        );
        assert_eq!(
            name(Params {
                resize: Some(mltrain_core::image::ImageSize::new(65535, 65535)),
                ..Params::default()
            }),
            "--resize"
        );
        assert_eq!(
            name(Params {
                test: TestSplit::Holdout(1.0),
                ..Params::default()
            }),
            "--holdout"
        );
        assert_eq!(
            name(Params {
                components: 0,
                ..Params::default()
            }),
            "--components"
        );
        assert!(Params::default().check().is_ok());
    }
}
