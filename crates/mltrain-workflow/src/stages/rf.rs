//! rf: trains one random forest on one share of projected rows.

use mltrain_core::forest::Forest;
use serde::{Deserialize, Serialize};

use super::{Computed, Env, Objects, read};
#[cfg(feature = "io")]
use super::{Ctx, Fetched, objects_of};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::objects::{self, Rows};
use crate::params::Params;
#[cfg(feature = "io")]
use crate::stage::Gathered;

/// What one forest call takes: which share of projected rows to train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfInput {
    /// The run whose objects it reads and writes.
    pub run_id: String,
    /// The PCA function whose share it trains on, `0..num_pca`.
    pub pca_index: usize,
    /// Which of that function's shares, `0..forests_of(pca_index)`; with `pca_index` it fixes
    /// the forest's global index, hence its seed.
    pub share_index: usize,
    /// Key of the projected-row share, from the PCA stage.
    pub share: String,
    /// Classes of the run, so the forest votes over all of them, even those its share lacks.
    pub n_classes: usize,
    /// The run's parameters: the forest ones, the seed and the fan-out matter here.
    pub params: Params,
}

/// What one forest call returns: where its forest is, and which basis it goes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfOutput {
    /// As in the input: the PCA function whose basis the forest's rows were projected on.
    pub pca_index: usize,
    /// As in the input: which of that function's shares the forest was trained on.
    pub share_index: usize,
    /// Key of the trained forest, `<run dir>/rf-<pca_index>-<share_index>`.
    pub forest: String,
}

#[cfg(feature = "io")]
/// The forest stage's shell: hands the share to [`compute`].
pub(crate) async fn gather(ctx: &Ctx, input: &RfInput) -> Result<Gathered<RfInput>> {
    input.check()?;
    let keys = vec![input.share.clone()];
    let objects = objects_of(ctx, &keys, &[], &[], Fetched::new()).await?;
    Ok(Gathered {
        job: input.clone(),
        keys,
        objects,
    })
}

impl RfInput {
    /// Refuses parameters out of range and a forest the fan-out does not have.
    fn check(&self) -> Result<()> {
        let params = &self.params;
        params.check()?;
        if self.pca_index >= params.num_pca || self.share_index >= params.forests_of(self.pca_index)
        {
            return Err(Error::InvalidArgument {
                name: "index",
                reason: format!(
                    "forest {} of PCA function {} does not exist with NUM_PCA={} NUM_RF={}",
                    self.share_index, self.pca_index, params.num_pca, params.num_rf
                ),
            });
        }
        Ok(())
    }
}

/// The forest stage's compute: trains one forest, with that forest's own seed, on the
/// share `input` names; writes the forest.
pub(crate) fn compute(
    _env: &Env,
    input: RfInput,
    objects: &dyn Objects,
) -> Result<Computed<RfOutput>> {
    input.check()?;
    let rows: Rows = read(objects, &input.share)?;
    let RfInput {
        run_id,
        pca_index,
        share_index,
        n_classes,
        params,
        ..
    } = input;
    let forest_params = params.forest_params(params.forest_index(pca_index, share_index));
    let forest: Forest = forest_params
        .fit(&rows.features, &rows.labels, n_classes)
        .map_err(|source| Error::Compute {
            stage: "rf",
            source,
        })?;
    let key = RunLayout::new(&run_id).forest(pca_index, share_index);
    Ok(Computed {
        writes: vec![objects::encode(&key, &forest)?],
        output: RfOutput {
            pca_index,
            share_index,
            forest: key,
        },
    })
}
