//! `mltrain predict`: classify image files with a published model.

use anyhow::{Context, Result};
use mltrain_core::Matrix;
use mltrain_core::image::FeatureDecoder;
use mltrain_workflow::layout::MODELS;

use crate::cli::{Global, PredictArgs};
use crate::exit::BadInput;

pub fn predict(global: &Global, args: PredictArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let model = super::runtime()?.block_on(async {
        let key = match args.model {
            Some(key) => key,
            None => latest_model(&store).await?,
        };
        mltrain_workflow::objects::load_model(&store, &key)
            .await
            .with_context(|| format!("cannot load model `{key}`"))
    })?;

    let size = model.image_size;
    let mut x = Matrix::zeros(args.images.len(), size.features(model.channels));
    let mut decoder = FeatureDecoder::new()
        .resize(model.resize)
        .channels(model.channels);
    for (i, path) in args.images.iter().enumerate() {
        let bytes = std::fs::read(path)
            .map_err(|e| BadInput(format!("cannot read `{}`: {e}", path.display())))?;
        decoder
            .decode_features(&bytes, size, x.row_mut(i))
            .map_err(|e| BadInput(format!("image `{}`: {e}", path.display())))?;
    }
    let proba = model.ensemble.predict_proba(&x)?;
    let mut out = std::io::stdout().lock();
    for (path, p) in args.images.iter().zip(proba.iter_rows()) {
        let best = mltrain_core::metrics::argmax(p);
        use std::io::Write;
        writeln!(
            out,
            "{}\t{}\t{:.4}",
            path.display(),
            model.classes[best],
            p[best]
        )?;
    }
    Ok(())
}

/// Run ids start with their UTC start time, so the greatest key is the latest model.
async fn latest_model(store: &mltrain_store::Store) -> Result<String> {
    let models = store.list(MODELS).await?;
    models
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with(".model"))
        .max()
        .ok_or_else(|| {
            BadInput(format!(
                "no published model under {MODELS} in {}: run `mltrain run` first",
                store.url()
            ))
            .into()
        })
}
