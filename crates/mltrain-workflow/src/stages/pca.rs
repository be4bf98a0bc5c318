//! pca: decodes one partition's images, fits a PCA basis on them, projects them and writes
//! the basis plus one class-stratified share of projected rows per forest it feeds.

use mltrain_core::Matrix;
use mltrain_core::pca::PcaParams;
use serde::{Deserialize, Serialize};

use super::{Computed, Env, Objects, decode_usable_images, read};
#[cfg(feature = "io")]
use super::{Ctx, Fetched, get_kept, keys_of, objects_of, with_bad_test_images};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::objects::{self, KeyList, Rows};
use crate::params::Params;
#[cfg(feature = "io")]
use crate::stage::Gathered;

/// What one PCA call takes: which partition of which run to fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaInput {
    /// The run whose objects it reads and writes.
    pub run_id: String,
    /// Which PCA function this is, `0..num_pca`.
    pub index: usize,
    /// Key of its key list, from the partition stage.
    pub key_list: String,
    /// The run's parameters: the components, `--resize`, `--skip-invalid` and the fan-out
    /// matter here.
    pub params: Params,
}

/// What one PCA call returns, for the forests it feeds and for validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaOutput {
    /// Which PCA function this was, as in its input.
    pub index: usize,
    /// Key of its fitted basis ([`mltrain_core::pca::Pca`]).
    pub basis: String,
    /// Keys of the projected-row shares, one per forest, in share order.
    pub shares: Vec<String>,
    /// Images the basis was fitted on, without those left out by `--skip-invalid`.
    pub images: usize,
    /// Classes of the run, which its forests are trained to tell apart.
    pub n_classes: usize,
    /// Share of the partition's variance the kept components explain.
    pub explained_variance_ratio: f32,
    /// Components kept: `--components`, or fewer when the images have fewer informative
    /// directions (rank below `--components`).
    pub components: usize,
}

#[cfg(feature = "io")]
/// The PCA stage's shell: reads the key list, checks the memory plan, and hands the key
/// list and the images to [`compute`].
pub(crate) async fn gather(ctx: &Ctx, input: &PcaInput) -> Result<Gathered<PcaInput>> {
    input.check()?;
    let mut read = Fetched::new();
    let list: KeyList = get_kept(ctx, &input.key_list, &mut read).await?;
    // The partition stage planned this already; a served function checks against its own
    // machine's budget before it allocates.
    let env = ctx.env();
    crate::memory::check_pca(
        input.index,
        list.items.len(),
        list.image_size.features(list.channels),
        input.params.components,
        // Packed images are fetched whole even from a local directory.
        env.fetched || !list.shards.is_empty(),
        env.limits.memory_budget,
        env.limits
            .concurrent_functions
            .clamp(1, input.params.num_pca),
    )?;
    let mut keys = vec![input.key_list.clone()];
    keys.extend(keys_of(&list));
    let objects = objects_of(ctx, &keys, &list.shards, &list.items, read).await?;
    Ok(Gathered {
        job: input.clone(),
        keys,
        objects,
    })
}

#[cfg(feature = "io")]
/// Bad training images, and the bad test images with them.
pub(crate) async fn explain(ctx: &Ctx, input: &PcaInput, err: Error) -> Error {
    let layout = RunLayout::new(&input.run_id);
    with_bad_test_images(ctx, err, &layout, input.params.resize.is_some()).await
}

impl PcaInput {
    /// Refuses parameters out of range and an index past the PCA functions.
    fn check(&self) -> Result<()> {
        self.params.check()?;
        if self.index >= self.params.num_pca {
            return Err(Error::InvalidArgument {
                name: "index",
                reason: format!("PCA function {} of {}", self.index, self.params.num_pca),
            });
        }
        Ok(())
    }
}

/// The PCA stage's compute: decodes the images of the key list `input` names, fits the
/// basis, projects the images, and deals the projected rows into one class-stratified
/// share per forest it feeds. Writes the basis, the shares and, with `--skip-invalid`, the
/// list of images left out.
pub(crate) fn compute(
    env: &Env,
    input: PcaInput,
    objects: &dyn Objects,
) -> Result<Computed<PcaOutput>> {
    input.check()?;
    let list: KeyList = read(objects, &input.key_list)?;
    let PcaInput {
        run_id,
        index,
        params,
        ..
    } = input;
    let layout = RunLayout::new(&run_id);
    let (x, list, invalid) = decode_usable_images(
        env,
        list,
        objects,
        params.resize.is_some(),
        params.skip_invalid,
    )?;
    let mut writes = Vec::new();
    if params.skip_invalid {
        // Validation lists them in the report; written even when empty, so a resumed run
        // that reuses this function's outputs still finds its list.
        let json = serde_json::to_vec_pretty(&invalid).map_err(|e| Error::Task {
            stage: "pca",
            reason: e.to_string(),
        })?;
        writes.push((layout.invalid(index), json.into()));
    }
    let labels: Vec<u32> = list.items.iter().map(|i| i.label).collect();
    let n_shares = params.forests_of(index);
    let (basis, z) = PcaParams::new(params.components)
        .fit_transform(&x)
        .map_err(|source| Error::Compute {
            stage: "pca",
            source,
        })?;
    drop(x);
    let shares = split_stratified(&z, &labels, n_shares);

    let basis_key = layout.basis(index);
    writes.push(objects::encode(&basis_key, &basis)?);
    let mut share_keys = Vec::with_capacity(n_shares);
    for (j, share) in shares.iter().enumerate() {
        let key = layout.share(index, j);
        writes.push(objects::encode(&key, share)?);
        share_keys.push(key);
    }
    Ok(Computed {
        output: PcaOutput {
            index,
            basis: basis_key,
            shares: share_keys,
            images: list.items.len(),
            n_classes: list.classes.len(),
            explained_variance_ratio: basis.explained_variance_ratio(),
            components: basis.n_components(),
        },
        writes,
    })
}

/// Splits rows into `n` shares, dealing each class round-robin (continuing across classes),
/// so every share gets about `1/n` of every class.
fn split_stratified(z: &Matrix, labels: &[u32], n: usize) -> Vec<Rows> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    // Stable sort: rows of a class keep their (already shuffled) order.
    order.sort_by_key(|&i| labels[i]);
    let mut picks: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (slot, &i) in order.iter().enumerate() {
        picks[slot % n].push(i);
    }
    picks
        .into_iter()
        .map(|rows| Rows {
            labels: rows.iter().map(|&i| labels[i]).collect(),
            features: z.select_rows(&rows),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn shares_are_stratified_and_cover_every_row() {
        let labels: Vec<u32> = (0..90).map(|i| (i % 3) as u32).collect();
        let z = Matrix::from_vec(90, 1, (0..90).map(|i| i as f32).collect()).unwrap();
        let shares = split_stratified(&z, &labels, 3);
        let mut seen: Vec<f32> = shares
            .iter()
            .flat_map(|s| s.features.as_slice().to_vec())
            .collect();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, (0..90).map(|i| i as f32).collect::<Vec<_>>());
        for s in &shares {
            for c in 0..3 {
                assert_eq!(s.labels.iter().filter(|&&l| l == c).count(), 10);
            }
            for (row, &l) in s.features.iter_rows().zip(&s.labels) {
                assert_eq!(row[0] as u32 % 3, l, "labels travel with their rows");
            }
        }
    }
}
