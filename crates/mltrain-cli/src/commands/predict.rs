//! `mltrain predict`: classify image files with a published model.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use mltrain_core::Matrix;
use mltrain_core::image::FeatureDecoder;
use mltrain_workflow::objects::Model;

use crate::cli::{Global, PredictArgs};
use crate::exit::BadInput;

pub fn predict(global: &Global, args: PredictArgs) -> Result<()> {
    let model = super::load_model(global, args.model.as_deref())?;

    let (paths, mut failures) = image_paths(&args.images);
    // The model's own preprocessing: every image is brought to the size it was trained on,
    // whatever its own size.
    let mut decoder = FeatureDecoder::new().resize(true).channels(model.channels);
    let size = model.image_size;
    let mut rows = Vec::with_capacity(paths.len() * size.features(model.channels));
    let mut decoded = Vec::with_capacity(paths.len());
    let mut row = vec![0.0; size.features(model.channels)];
    for path in paths {
        let result = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                decoder
                    .decode_features(&bytes, size, &mut row)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => {
                rows.extend_from_slice(&row);
                decoded.push(path);
            }
            Err(why) => failures.push((path, why)),
        }
    }

    let mut out = std::io::stdout().lock();
    if !decoded.is_empty() {
        let x = Matrix::from_vec(decoded.len(), size.features(model.channels), rows)
            .expect("one row of the model's size per image");
        let proba = model.ensemble.predict_proba(&x)?;
        for (path, p) in decoded.iter().zip(proba.iter_rows()) {
            print_prediction(&mut out, &model, path, p, args.json)?;
        }
    }
    out.flush()?;
    for (path, why) in &failures {
        eprintln!("error: {}: {why}", path.display());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(BadInput(format!(
            "{} of {} files could not be classified (named above)",
            failures.len(),
            failures.len() + decoded.len()
        ))
        .into())
    }
}

/// The images to classify: files as given, and the images below directories by the
/// ImageFolder rules (`mltrain_store::folder`). Directories that cannot be read go with
/// the failures.
fn image_paths(args: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut paths = Vec::new();
    let mut failures = Vec::new();
    for arg in args {
        if !arg.is_dir() {
            paths.push(arg.clone());
            continue;
        }
        match mltrain_store::folder::walk(arg) {
            Ok(walked) => {
                let mut skipped = 0;
                for found in walked.files {
                    if mltrain_store::folder::skip_reason(&found.rel).is_some() {
                        skipped += 1;
                    } else {
                        paths.push(found.path);
                    }
                }
                if skipped > 0 {
                    eprintln!(
                        "{}: skipped {skipped} files that are hidden or not .png, .jpg or .jpeg",
                        arg.display()
                    );
                }
            }
            Err(e) => failures.push((arg.clone(), e.to_string())),
        }
    }
    (paths, failures)
}

fn print_prediction(
    out: &mut impl Write,
    model: &Model,
    path: &Path,
    p: &[f32],
    json: bool,
) -> Result<()> {
    let best = mltrain_core::metrics::argmax(p);
    if json {
        let probabilities: serde_json::Map<String, serde_json::Value> = model
            .classes
            .iter()
            .zip(p)
            .map(|(class, &q)| (class.clone(), serde_json::json!(q)))
            .collect();
        let line = serde_json::json!({
            "path": path.display().to_string(),
            "label": model.classes[best],
            "probability": p[best],
            "probabilities": probabilities,
        });
        writeln!(out, "{line}")?;
    } else {
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
