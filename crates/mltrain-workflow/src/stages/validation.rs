//! validation: predicts the held-out images with every (basis, forest) pair by soft vote,
//! scores the result, writes the report (`report.json`, and `report.html` to look at) and
//! then — only then — publishes the model.

use std::time::Instant;

use mltrain_core::ensemble::{Ensemble, Member};
use mltrain_core::forest::Forest;
use mltrain_core::pca::Pca;
use serde::{Deserialize, Serialize};

use super::{Computed, Env, Objects, decode_usable_images, read};
#[cfg(feature = "io")]
use super::{Ctx, Fetched, get_kept, keys_of, objects_of};
use crate::error::{Error, Result};
use crate::html::CallTime;
use crate::layout::RunLayout;
use crate::objects::{self, KeyList, Model};
use crate::params::Params;
use crate::report::{ClassReport, Report, StageTimes};
#[cfg(feature = "io")]
use crate::stage::Gathered;
use crate::stage::StageId;

/// A trained forest and the PCA basis (index into `bases`) its rows were projected on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestRef {
    /// Index into [`ValidationInput::bases`]: the PCA function that projected its rows.
    pub basis: usize,
    /// Key of the trained forest, as [`RfOutput::forest`](crate::stages::RfOutput::forest)
    /// gives it.
    pub forest: String,
}

/// What the validation call takes: every basis and forest of the run, and its times so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationInput {
    /// The run whose objects it reads and writes.
    pub run_id: String,
    /// The run's parameters; with `skip_invalid` the call also gathers the images the PCA
    /// functions left out.
    pub params: Params,
    /// Key of the test set's key list, from the partition stage.
    pub test_list: String,
    /// Basis keys, one per PCA function.
    pub bases: Vec<String>,
    /// Every forest of the run, in (PCA index, share index) order.
    pub forests: Vec<ForestRef>,
    /// Training images as the partition dealt them; the call subtracts those the PCA
    /// functions left out with `--skip-invalid`.
    pub train_images: usize,
    /// Times of the earlier stages, as the driver measured them.
    pub stages: StageTimes,
    /// Seconds from the driver's start to this stage's invocation.
    pub elapsed_seconds: f64,
    /// Share of its partition's variance each PCA function's basis explains, in index order.
    pub explained_variance_ratio: Vec<f32>,
    /// Components each PCA function kept.
    #[serde(default)]
    pub components: Vec<usize>,
}

/// What the validation call returns; the model it publishes is only written to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationOutput {
    /// The run's report, as also written at its `report_key`.
    pub report: Report,
}

#[cfg(feature = "io")]
/// The validation stage's shell: reads the test list, and hands it, the test images, the
/// bases, the forests and the data notes to [`compute`].
pub(crate) async fn gather(
    ctx: &Ctx,
    input: &ValidationInput,
) -> Result<Gathered<ValidationInput>> {
    let start = Instant::now();
    input.params.check()?;
    let layout = RunLayout::new(&input.run_id);
    let mut read = Fetched::new();
    let list: KeyList = get_kept(ctx, &input.test_list, &mut read).await?;
    let mut keys = vec![input.test_list.clone()];
    keys.extend(input.bases.iter().cloned());
    keys.extend(input.forests.iter().map(|f| f.forest.clone()));
    keys.extend(note_keys(&layout, &input.params));
    keys.extend(call_names(input).iter().map(|name| layout.record(name)));
    keys.extend(keys_of(&list));
    let objects = objects_of(ctx, &keys, &list.shards, &list.items, read).await?;
    let mut job = input.clone();
    // The compute adds its own time to the call's.
    job.stages.validation = start.elapsed().as_secs_f64();
    Ok(Gathered { job, keys, objects })
}

#[cfg(feature = "io")]
/// The notes validation gathers into the report: partition's, and with `--skip-invalid`
/// each PCA function's list of images left out. Runs started before a note existed lack
/// it, which is no reason to fail.
fn note_keys(layout: &RunLayout, params: &Params) -> Vec<String> {
    let mut keys = vec![layout.partition_notes()];
    if params.skip_invalid {
        keys.extend((0..params.num_pca).map(|i| layout.invalid(i)));
    }
    keys
}

/// The calls recorded before validation, by name: partition, every PCA function and every
/// forest (in the input's (PCA index, share index) order).
fn call_names(input: &ValidationInput) -> Vec<String> {
    let mut names = vec!["partition".to_string()];
    names.extend((0..input.bases.len()).map(|i| format!("pca-{i}")));
    let mut shares = vec![0usize; input.bases.len()];
    for f in &input.forests {
        let share = shares.get(f.basis).copied().unwrap_or(0);
        if let Some(s) = shares.get_mut(f.basis) {
            *s += 1;
        }
        names.push(format!("rf-{}-{share}", f.basis));
    }
    names
}

/// The validation stage's compute: predicts the test images by soft vote of every (basis,
/// forest) pair, scores the result, and writes the report and then, last, the model. The
/// input's `stages.validation` is the time the call spent before its compute.
pub(crate) fn compute(
    env: &Env,
    input: ValidationInput,
    objects: &dyn Objects,
) -> Result<Computed<ValidationOutput>> {
    let start = Instant::now();
    let shell_seconds = input.stages.validation;
    let seconds = || shell_seconds + start.elapsed().as_secs_f64();
    input.params.check()?;
    let layout = RunLayout::new(&input.run_id);
    let list: KeyList = read(objects, &input.test_list)?;
    let bases = input
        .bases
        .iter()
        .map(|key| read::<Pca>(objects, key))
        .collect::<Result<Vec<_>>>()?;
    let forests = input
        .forests
        .iter()
        .map(|f| read::<Forest>(objects, &f.forest))
        .collect::<Result<Vec<_>>>()?;
    let mut notes = gather_notes(objects, &layout, &input.params)?;
    let mut calls = recorded_calls(objects, &layout, &call_names(&input))?;
    let ValidationInput {
        run_id,
        params,
        forests: forest_refs,
        train_images,
        mut stages,
        elapsed_seconds,
        explained_variance_ratio,
        components,
        ..
    } = input;
    let resize = params.resize.is_some();
    let (x, list, invalid) = decode_usable_images(env, list, objects, resize, params.skip_invalid)?;
    // The partition counted the training images the pca functions then left out.
    let train_images = train_images.saturating_sub(notes.invalid.len());
    notes.invalid.extend(invalid);

    let members = forest_refs
        .iter()
        .zip(forests)
        .map(|(r, forest)| Member {
            basis: r.basis,
            forest,
        })
        .collect();
    let compute_error = |source| Error::Compute {
        stage: "validation",
        source,
    };
    let ensemble = Ensemble::new(bases, members).map_err(compute_error)?;
    let truth: Vec<u32> = list.items.iter().map(|i| i.label).collect();
    let predicted = ensemble.predict(&x).map_err(compute_error)?;
    let evaluation = mltrain_core::metrics::evaluate(&truth, &predicted, list.classes.len())
        .map_err(compute_error)?;

    stages.validation = seconds();
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
        total_seconds: elapsed_seconds + seconds(),
        explained_variance_ratio,
        components,
        channels: list.channels,
        image_size: list.image_size,
        warnings,
        forests: forest_refs.len(),
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
    // This call's own record is written after its compute: its bar is the time it measured
    // itself, up to its scores, as `report.stages.validation` is.
    let seconds = report.stages.validation;
    calls.push(CallTime {
        name: "validation".into(),
        stage: StageId::Validation,
        started_unix_ms: crate::stage::unix_ms().saturating_sub((seconds * 1000.0) as u64),
        seconds,
    });
    let html = crate::html::render(&report, &calls);
    // Publishing is the last write: a model exists only for a validated run.
    let writes = vec![
        (report.report_key.clone(), json.into()),
        (layout.report_html(), html.into()),
        objects::encode(&report.model_key, &model)?,
    ];
    Ok(Computed {
        output: ValidationOutput { report },
        writes,
    })
}

/// The recorded calls among `names`, for the report's timeline. A record that is missing
/// or does not read (a host that hands over only the objects it must) leaves its bar out,
/// rather than failing a validated run.
fn recorded_calls(
    objects: &dyn Objects,
    layout: &RunLayout,
    names: &[String],
) -> Result<Vec<CallTime>> {
    let mut calls = Vec::with_capacity(names.len() + 1);
    for name in names {
        match objects.get(&layout.record(name)) {
            Ok(bytes) => calls.extend(CallTime::from_record(name, &bytes)),
            Err(Error::Store(mltrain_store::Error::NotFound { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(calls)
}

/// What partition noticed and the images the pca functions left out, as they wrote them.
fn gather_notes(
    objects: &dyn Objects,
    layout: &RunLayout,
    params: &Params,
) -> Result<crate::notes::DataNotes> {
    let read = |key: String| match objects.get(&key) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Error::Store(mltrain_store::Error::NotFound { .. })) => Ok(None),
        Err(e) => Err(e),
    };
    let mut notes: crate::notes::DataNotes = match read(layout.partition_notes())? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Default::default(),
    };
    if params.skip_invalid {
        for i in 0..params.num_pca {
            if let Some(bytes) = read(layout.invalid(i))? {
                let invalid: Vec<crate::notes::InvalidImage> =
                    serde_json::from_slice(&bytes).unwrap_or_default();
                notes.invalid.extend(invalid);
            }
        }
    }
    Ok(notes)
}
