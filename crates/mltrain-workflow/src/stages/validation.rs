//! validation: predicts the held-out images with every (basis, forest) pair by soft vote,
//! scores the result, writes the report and then — only then — publishes the model.

use std::time::Instant;

use mltrain_core::ensemble::{Ensemble, Member};
use mltrain_core::forest::Forest;
use mltrain_core::pca::Pca;
use serde::{Deserialize, Serialize};

use super::{Ctx, blocking, load_usable_images};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::objects::{self, KeyList, Model};
use crate::params::Params;
use crate::report::{ClassReport, Report, StageTimes};

/// A trained forest and the PCA basis (index into `bases`) its rows were projected on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestRef {
    pub basis: usize,
    pub forest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationInput {
    pub run_id: String,
    pub params: Params,
    pub test_list: String,
    /// Basis keys, one per PCA function.
    pub bases: Vec<String>,
    pub forests: Vec<ForestRef>,
    pub train_images: usize,
    /// Times of the earlier stages, as the driver measured them.
    pub stages: StageTimes,
    /// Seconds from the driver's start to this stage's invocation.
    pub elapsed_seconds: f64,
    pub explained_variance_ratio: Vec<f32>,
    /// Components each PCA function kept.
    #[serde(default)]
    pub components: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationOutput {
    pub report: Report,
}

pub async fn validation(ctx: &Ctx, input: ValidationInput) -> Result<ValidationOutput> {
    let start = Instant::now();
    let ValidationInput {
        run_id,
        params,
        test_list,
        bases,
        forests,
        train_images,
        mut stages,
        elapsed_seconds,
        explained_variance_ratio,
        components,
    } = input;
    params.check()?;
    let layout = RunLayout::new(&run_id);
    let list: KeyList = objects::get(&ctx.store, &test_list).await?;
    let resize = params.resize.is_some();

    let load_bases =
        futures::future::try_join_all(bases.iter().map(|k| objects::get::<Pca>(&ctx.store, k)));
    let load_forests = futures::future::try_join_all(
        forests
            .iter()
            .map(|f| objects::get::<Forest>(&ctx.store, &f.forest)),
    );
    let (loaded, bases_loaded, forests_loaded, mut notes) = futures::try_join!(
        load_usable_images(ctx, "validation", list, resize, params.skip_invalid),
        load_bases,
        load_forests,
        gather_notes(ctx, &layout, &params)
    )?;
    let (x, list, invalid) = loaded;
    // The partition counted the training images the pca functions then left out.
    let train_images = train_images.saturating_sub(notes.invalid.len());
    notes.invalid.extend(invalid);

    let members = forests
        .iter()
        .zip(forests_loaded)
        .map(|(r, forest)| Member {
            basis: r.basis,
            forest,
        })
        .collect();
    let ensemble = Ensemble::new(bases_loaded, members).map_err(|source| Error::Compute {
        stage: "validation",
        source,
    })?;
    let truth: Vec<u32> = list.items.iter().map(|i| i.label).collect();
    let n_classes = list.classes.len();
    let (ensemble, evaluation) =
        blocking("validation", move || -> Result<_> {
            let predicted = ensemble.predict(&x).map_err(|source| Error::Compute {
                stage: "validation",
                source,
            })?;
            let evaluation = mltrain_core::metrics::evaluate(&truth, &predicted, n_classes)
                .map_err(|source| Error::Compute {
                    stage: "validation",
                    source,
                })?;
            Ok((ensemble, evaluation))
        })
        .await??;

    stages.validation = start.elapsed().as_secs_f64();
    let mut warnings = Vec::new();
    for (i, &kept) in components.iter().enumerate() {
        if kept < params.components {
            warnings.push(format!(
                "pca-{i} kept {kept} of {} components: its images have only {kept} informative directions",
                params.components
            ));
        }
    }
    let report = Report {
        run_id: run_id.clone(),
        accuracy: evaluation.accuracy,
        train_images,
        test_images: list.items.len(),
        classes: list.classes.clone(),
        per_class: list
            .classes
            .iter()
            .zip(&evaluation.per_class)
            .map(|(class, s)| ClassReport {
                class: class.clone(),
                precision: s.precision,
                recall: s.recall,
                support: s.support,
            })
            .collect(),
        confusion: evaluation.confusion,
        params: params.clone(),
        stages,
        total_seconds: elapsed_seconds + start.elapsed().as_secs_f64(),
        explained_variance_ratio,
        components,
        channels: list.channels,
        image_size: list.image_size,
        warnings,
        forests: forests.len(),
        model_key: layout.model(),
        report_key: layout.report(),
        data: notes,
    };
    let model = Model {
        run_id,
        classes: list.classes,
        image_size: list.image_size,
        channels: list.channels,
        resize,
        params,
        accuracy: evaluation.accuracy,
        ensemble,
    };
    let json = serde_json::to_vec_pretty(&report).map_err(|e| Error::Task {
        stage: "validation",
        reason: e.to_string(),
    })?;
    ctx.store.put(&report.report_key, json.into()).await?;
    // Publishing is the last write: a model exists only for a validated run.
    objects::put(&ctx.store, &report.model_key, &model).await?;
    Ok(ValidationOutput { report })
}

/// What partition noticed and the images the pca functions left out, as they wrote them.
/// A run started before these notes existed has none: that is no reason to fail.
async fn gather_notes(
    ctx: &Ctx,
    layout: &RunLayout,
    params: &Params,
) -> Result<crate::notes::DataNotes> {
    let read = |key: String| async move {
        match ctx.store.get(&key).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(mltrain_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::from(e)),
        }
    };
    let mut notes: crate::notes::DataNotes = match read(layout.partition_notes()).await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Default::default(),
    };
    if params.skip_invalid {
        for i in 0..params.num_pca {
            if let Some(bytes) = read(layout.invalid(i)).await? {
                let invalid: Vec<crate::notes::InvalidImage> =
                    serde_json::from_slice(&bytes).unwrap_or_default();
                notes.invalid.extend(invalid);
            }
        }
    }
    Ok(notes)
}
