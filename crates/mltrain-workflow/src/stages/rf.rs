//! rf: trains one random forest on one share of projected rows.

use mltrain_core::forest::Forest;
use serde::{Deserialize, Serialize};

use super::{Ctx, blocking};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::objects::{self, Rows};
use crate::params::Params;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfInput {
    pub run_id: String,
    pub pca_index: usize,
    pub share_index: usize,
    /// Key of the projected-row share, from the PCA stage.
    pub share: String,
    pub n_classes: usize,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfOutput {
    pub pca_index: usize,
    pub share_index: usize,
    pub forest: String,
}

pub async fn rf(ctx: &Ctx, input: RfInput) -> Result<RfOutput> {
    let RfInput {
        run_id,
        pca_index,
        share_index,
        share,
        n_classes,
        params,
    } = input;
    params.check()?;
    if pca_index >= params.num_pca || share_index >= params.forests_of(pca_index) {
        return Err(Error::InvalidArgument {
            name: "index",
            reason: format!(
                "forest {share_index} of PCA function {pca_index} does not exist with NUM_PCA={} NUM_RF={}",
                params.num_pca, params.num_rf
            ),
        });
    }
    let rows: Rows = objects::get(&ctx.store, &share).await?;
    let forest_params = params.forest_params(params.forest_index(pca_index, share_index));
    let forest: Forest = blocking("rf", move || {
        forest_params.fit(&rows.features, &rows.labels, n_classes)
    })
    .await?
    .map_err(|source| Error::Compute {
        stage: "rf",
        source,
    })?;
    let key = RunLayout::new(&run_id).forest(pca_index, share_index);
    objects::put(&ctx.store, &key, &forest).await?;
    Ok(RfOutput {
        pca_index,
        share_index,
        forest: key,
    })
}
