//! `mltrain export`: write a published model in a format other runtimes read.

use anyhow::{Context, Result};

use crate::cli::{ExportArgs, ExportFormat, Global};

pub fn export(global: &Global, args: ExportArgs) -> Result<()> {
    let model = super::load_model(global, args.model.as_deref())?;
    let bytes = match args.format {
        ExportFormat::Onnx => mltrain_onnx::export(&mltrain_onnx::Model {
            name: &model.run_id,
            ensemble: &model.ensemble,
            classes: &model.classes,
            image_size: model.image_size,
            channels: model.channels,
        })
        .with_context(|| format!("cannot export the model of run {}", model.run_id))?,
    };
    // Written beside the target and renamed over it, so a reader never sees half a file.
    let output = &args.output;
    let partial = output.with_extension("onnx.partial");
    if let Err(e) =
        std::fs::write(&partial, &bytes).and_then(|()| std::fs::rename(&partial, output))
    {
        // Nothing half-written is left behind either; the error says what went wrong.
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("cannot write `{}`", output.display()));
    }
    let e = &model.ensemble;
    let trees: usize = e.members().iter().map(|m| m.forest.n_trees()).sum();
    println!(
        "wrote {} ({} bytes): run {}, {} PCA bases, {} forests of {trees} trees in all, \
         {} classes; input `{}` float32 [N, {}] ({} {} images, levels 0-255)",
        output.display(),
        bytes.len(),
        model.run_id,
        e.bases().len(),
        e.members().len(),
        model.classes.len(),
        mltrain_onnx::INPUT,
        e.n_features(),
        model.image_size,
        model.channels,
    );
    Ok(())
}
