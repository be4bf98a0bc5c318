//! pca: decodes one partition's images, fits a PCA basis on them, projects them and writes
//! the basis plus one class-stratified share of projected rows per forest it feeds.

use mltrain_core::Matrix;
use mltrain_core::pca::PcaParams;
use serde::{Deserialize, Serialize};

use super::{Ctx, blocking, load_usable_images, with_bad_test_images};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::objects::{self, KeyList, Rows};
use crate::params::Params;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaInput {
    pub run_id: String,
    /// Which PCA function this is, `0..num_pca`.
    pub index: usize,
    /// Key of its key list, from the partition stage.
    pub key_list: String,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaOutput {
    pub index: usize,
    pub basis: String,
    /// Keys of the projected-row shares, one per forest, in share order.
    pub shares: Vec<String>,
    pub images: usize,
    /// Share of the partition's variance the kept components explain.
    pub explained_variance_ratio: f32,
    /// Components kept: `--components`, or fewer when the images have fewer informative
    /// directions (rank below `--components`).
    pub components: usize,
}

pub async fn pca(ctx: &Ctx, input: PcaInput) -> Result<PcaOutput> {
    let PcaInput {
        run_id,
        index,
        key_list,
        params,
    } = input;
    params.check()?;
    if index >= params.num_pca {
        return Err(Error::InvalidArgument {
            name: "index",
            reason: format!("PCA function {index} of {}", params.num_pca),
        });
    }
    let layout = RunLayout::new(&run_id);
    let list: KeyList = objects::get(&ctx.store, &key_list).await?;
    // The partition stage planned this already; a served function checks against its own
    // machine's budget before it allocates.
    crate::memory::check_pca(
        index,
        list.items.len(),
        list.image_size.features(list.channels),
        params.components,
        !ctx.store.is_local(),
        ctx.limits.memory_budget,
        ctx.limits.concurrent_functions.clamp(1, params.num_pca),
    )?;
    let resize = params.resize.is_some();
    let (x, list, invalid) =
        match load_usable_images(ctx, "pca", list, resize, params.skip_invalid).await {
            Ok(loaded) => loaded,
            Err(e) => return Err(with_bad_test_images(ctx, e, &layout, resize).await),
        };
    if params.skip_invalid {
        // Validation lists them in the report; written even when empty, so a resumed run
        // that reuses this function's outputs still finds its list.
        let json = serde_json::to_vec_pretty(&invalid).map_err(|e| Error::Task {
            stage: "pca",
            reason: e.to_string(),
        })?;
        ctx.store.put(&layout.invalid(index), json.into()).await?;
    }
    let labels: Vec<u32> = list.items.iter().map(|i| i.label).collect();
    let n_shares = params.forests_of(index);
    let components = params.components;

    let (basis, shares) = blocking("pca", move || -> Result<_> {
        let (basis, z) = PcaParams::new(components)
            .fit_transform(&x)
            .map_err(|source| Error::Compute {
                stage: "pca",
                source,
            })?;
        Ok((basis, split_stratified(&z, &labels, n_shares)))
    })
    .await??;

    let explained_variance_ratio = basis.explained_variance_ratio();
    let kept = basis.n_components();
    let basis_key = layout.basis(index);
    let share_keys: Vec<String> = (0..n_shares).map(|j| layout.share(index, j)).collect();
    let basis_write = objects::put(&ctx.store, &basis_key, &basis);
    let share_writes = futures::future::try_join_all(
        share_keys
            .iter()
            .zip(&shares)
            .map(|(k, s)| objects::put(&ctx.store, k, s)),
    );
    futures::try_join!(basis_write, share_writes)?;
    Ok(PcaOutput {
        index,
        basis: basis_key,
        shares: share_keys,
        images: list.items.len(),
        explained_variance_ratio,
        components: kept,
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
