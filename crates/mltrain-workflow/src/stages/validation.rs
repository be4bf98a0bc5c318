//! validation: predicts the held-out images with every (basis, forest) pair by soft vote,
//! scores the result, writes the report (`report.json`, and `report.html` to look at) and
//! then — only then — publishes the model.

use std::time::Instant;

use mltrain_core::ensemble::{Ensemble, Member};
use mltrain_core::forest::Forest;
use mltrain_core::pca::Pca;
use serde::{Deserialize, Serialize};

use super::{Computed, Env, Objects, decode_usable_images, read, without};
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

/// The validation compute's job: its input and, when a host ran the prediction in parts
/// ([`ValidationPart`]), what they predicted. Without `predicted` its JSON is the input's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationJob {
    /// The call's input.
    #[serde(flatten)]
    pub input: ValidationInput,
    /// The classes the parts predicted, all of them joined in test-list order: the compute
    /// then scores them, and neither decodes nor predicts the test images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Predicted>,
}

/// One part of validation's prediction: the test list's rows `rows`, predicted by every
/// (basis, forest) pair of the run as the whole compute predicts them. A host whose
/// computes run on one core each (the WebAssembly backend) runs the parts side by side,
/// then the compute with what they predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationPart {
    /// The validation call's input.
    pub input: ValidationInput,
    /// Rows of the test list, from [`part_rows`].
    pub rows: std::ops::Range<usize>,
}

/// What parts of validation's prediction found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Predicted {
    /// The class predicted for each image kept, in test-list order.
    pub classes: Vec<u32>,
    /// The images left out with `--skip-invalid`, in test-list order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<crate::notes::InvalidImage>,
}

impl Predicted {
    /// The parts' findings as one, for parts given in row order.
    pub fn join(parts: impl IntoIterator<Item = Predicted>) -> Self {
        parts.into_iter().fold(Self::default(), |mut all, part| {
            all.classes.extend(part.classes);
            all.invalid.extend(part.invalid);
            all
        })
    }
}

/// The rows of each of at most `parts` parts of a test list of `rows` images of `features`
/// values: whole blocks of the projection
/// ([`Pca::transform_block_rows`]), as even as blocks allow, so that the parts project and
/// predict bit for bit as one compute. Fewer parts when there are fewer blocks; none for
/// an empty list.
pub fn part_rows(rows: usize, features: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let block = Pca::transform_block_rows(features);
    let blocks = rows.div_ceil(block);
    let parts = parts.clamp(1, blocks.max(1));
    (0..parts)
        .map(|i| {
            (blocks * i / parts * block).min(rows)..(blocks * (i + 1) / parts * block).min(rows)
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// The compute of one part of validation's prediction: decodes the part's test images
/// (leaving out those that do not decode, with `--skip-invalid`) and predicts them.
pub(crate) fn predict_part(
    env: &Env,
    part: ValidationPart,
    objects: &dyn Objects,
) -> Result<Predicted> {
    let ValidationPart { input, rows } = part;
    input.params.check()?;
    let mut list: KeyList = read(objects, &input.test_list)?;
    if rows.end > list.items.len() || rows.start > rows.end {
        return Err(Error::InvalidArgument {
            name: "rows",
            reason: format!(
                "{rows:?} is not within the test list's {} images",
                list.items.len()
            ),
        });
    }
    list.items = list.items.drain(rows).collect();
    let ensemble = read_ensemble(objects, &input)?;
    let resize = input.params.resize.is_some();
    let (x, _, invalid) =
        decode_usable_images(env, list, objects, resize, input.params.skip_invalid)?;
    let classes = ensemble.predict(&x).map_err(|source| Error::Compute {
        stage: "validation",
        source,
    })?;
    Ok(Predicted { classes, invalid })
}

/// The run's bases and forests as one ensemble.
fn read_ensemble(objects: &dyn Objects, input: &ValidationInput) -> Result<Ensemble> {
    let bases = input
        .bases
        .iter()
        .map(|key| read::<Pca>(objects, key))
        .collect::<Result<Vec<_>>>()?;
    let members = input
        .forests
        .iter()
        .map(|f| {
            Ok(Member {
                basis: f.basis,
                forest: read::<Forest>(objects, &f.forest)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ensemble::new(bases, members).map_err(|source| Error::Compute {
        stage: "validation",
        source,
    })
}

#[cfg(feature = "io")]
/// The validation stage's shell: reads the test list, and hands it, the test images, the
/// bases, the forests and the data notes to [`compute`].
pub(crate) async fn gather(ctx: &Ctx, input: &ValidationInput) -> Result<Gathered<ValidationJob>> {
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
    let job = ValidationJob {
        input: job,
        predicted: None,
    };
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
/// forest) pair (or takes what the parts predicted), scores the result, and writes the
/// report and then, last, the model. The input's `stages.validation` is the time the call
/// spent before its compute.
pub(crate) fn compute(
    env: &Env,
    job: ValidationJob,
    objects: &dyn Objects,
) -> Result<Computed<ValidationOutput>> {
    let start = Instant::now();
    let ValidationJob { input, predicted } = job;
    let shell_seconds = input.stages.validation;
    let seconds = || shell_seconds + start.elapsed().as_secs_f64();
    input.params.check()?;
    let layout = RunLayout::new(&input.run_id);
    let list: KeyList = read(objects, &input.test_list)?;
    let ensemble = read_ensemble(objects, &input)?;
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
    let compute_error = |source| Error::Compute {
        stage: "validation",
        source,
    };
    let (list, predicted, invalid) = match predicted {
        Some(Predicted { classes, invalid }) => {
            (kept(list, &invalid, classes.len())?, classes, invalid)
        }
        None => {
            let (x, list, invalid) =
                decode_usable_images(env, list, objects, resize, params.skip_invalid)?;
            let predicted = ensemble.predict(&x).map_err(compute_error)?;
            (list, predicted, invalid)
        }
    };
    // The partition counted the training images the pca functions then left out.
    let train_images = train_images.saturating_sub(notes.invalid.len());
    notes.invalid.extend(invalid);

    let truth: Vec<u32> = list.items.iter().map(|i| i.label).collect();
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

/// The test list without the images the parts left out, which must leave one image for
/// each of the `classes` predicted.
fn kept(list: KeyList, invalid: &[crate::notes::InvalidImage], classes: usize) -> Result<KeyList> {
    let list = without(list, invalid.iter().map(|i| i.key.as_str()));
    if list.items.len() != classes {
        return Err(Error::InvalidArgument {
            name: "predicted",
            reason: format!(
                "{classes} classes predicted for the test list's {} images kept",
                list.items.len()
            ),
        });
    }
    Ok(list)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts cover every row once, in order, each starting on a projection block, as
    /// evenly as blocks allow; a list of one block, or none, is one part, or none.
    #[test]
    fn parts_are_whole_blocks_of_the_projection() {
        let block = Pca::transform_block_rows(784);
        assert_eq!(block, 512);
        assert_eq!(part_rows(2000, 784, 2), [0..1024, 1024..2000]);
        assert_eq!(part_rows(2000, 784, 3), [0..512, 512..1024, 1024..2000]);
        assert_eq!(
            part_rows(2000, 784, 16),
            [0..512, 512..1024, 1024..1536, 1536..2000]
        );
        let whole = |rows: usize, parts: usize| {
            let got = part_rows(rows, 784, parts);
            got.len() == 1 && got[0] == (0..rows)
        };
        assert!(whole(512, 2));
        assert!(whole(10, 0));
        assert!(part_rows(0, 784, 2).is_empty());
        for (rows, features, parts) in [(450, 12_288, 3), (10_000, 65_536, 7), (513, 784, 2)] {
            let block = Pca::transform_block_rows(features);
            let got = part_rows(rows, features, parts);
            assert!(got.len() <= parts);
            assert_eq!(got.first().map(|r| r.start), Some(0));
            assert_eq!(got.last().map(|r| r.end), Some(rows));
            for pair in got.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(pair[1].start % block, 0, "{got:?}");
            }
        }
    }

    /// The parts' findings join in row order.
    #[test]
    fn predictions_join_in_row_order() {
        let bad = |key: &str| crate::notes::InvalidImage {
            key: key.into(),
            reason: "junk".into(),
        };
        let joined = Predicted::join([
            Predicted {
                classes: vec![1, 2],
                invalid: vec![bad("a")],
            },
            Predicted::default(),
            Predicted {
                classes: vec![0],
                invalid: vec![bad("b")],
            },
        ]);
        assert_eq!(joined.classes, [1, 2, 0]);
        assert_eq!(joined.invalid, [bad("a"), bad("b")]);
    }
}
