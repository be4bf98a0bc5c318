//! `mltrain run`: the driver.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use mltrain_store::Store;
use mltrain_workflow::driver;
use mltrain_workflow::params::{DEFAULT_PREFIX, Params, TestSplit};
use mltrain_workflow::report::Report;

use crate::cli::{Global, RunArgs};
use crate::progress::Bars;

/// Digits in the default data set, "mnist-images-2k".
const DEFAULT_DIGITS: usize = 2000;

pub fn run(global: &Global, args: RunArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let params = Params {
        prefix: args.prefix.trim_matches('/').to_string(),
        num_pca: args.num_pca,
        num_rf: args.num_rf,
        test: match args.test {
            Some(prefix) => TestSplit::Prefix(prefix.trim_matches('/').to_string()),
            None => TestSplit::Holdout(args.holdout),
        },
        components: args.components,
        trees: args.trees,
        max_depth: args.max_depth,
        min_samples_split: args.min_samples_split,
        seed: args.seed,
        resize: args.resize,
        channels: args.channels.into(),
    };
    params.check()?;
    let backend = super::backend(
        args.backend,
        &args.http,
        &store,
        args.concurrency,
        args.memory_budget,
    )?;
    let bars = Bars::new(!args.json && std::io::stderr().is_terminal());
    let run_id = mltrain_workflow::layout::new_run_id();

    let options = driver::Options {
        concurrency: args.concurrency,
        ..driver::Options::default()
    };

    // One thread drives the stages: their CPU work runs on rayon's and the runtime's
    // blocking threads, and idle async workers would only compete with them for the cores
    // (1–3 ms of a 60–70 ms 2k run, measured side by side). Blocking threads beyond one per
    // core would too: a 2k run otherwise starts about 15 of them, one per file operation
    // in flight (1–2 ms less CPU with one per core). Blocking tasks never wait on each
    // other, so a queue for them cannot deadlock.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(cores)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        if let Some(run_id) = &args.resume {
            // The run's own parameters (recorded by its partition stage) apply, not these.
            return driver::resume(&backend, &store, run_id, &options, &bars)
                .await
                .context(format!(
                    "resuming run {run_id} failed; nothing was published"
                ));
        }
        if params.prefix == DEFAULT_PREFIX {
            seed_default_data(&store, &bars).await?;
        }
        driver::run_with(&backend, &params, &run_id, &options, &bars)
            .await
            .context(format!(
                "run {run_id} failed; nothing was published (finish it with --resume {run_id})"
            ))
    })?;
    // Every task has finished: let the worker threads go with the process instead of
    // joining them (half a millisecond of a 2k run).
    rt.shutdown_background();

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        print_summary(&mut out, &report, store.url())?;
    }
    Ok(())
}

/// Writes the bundled "mnist-images-2k" digits to the default prefix if it is empty, so that
/// `mltrain run` works on a fresh machine.
async fn seed_default_data(store: &Store, bars: &Bars) -> Result<()> {
    if store.has_objects(DEFAULT_PREFIX).await? {
        return Ok(());
    }
    eprintln!(
        "{DEFAULT_PREFIX} is empty in {}: writing {DEFAULT_DIGITS} bundled MNIST digits there",
        store.url()
    );
    let digits = mltrain_dataset::bundled_mnist()?;
    let bar = bars.counter("writing", DEFAULT_DIGITS as u64);
    let mut objects = Vec::with_capacity(DEFAULT_DIGITS);
    for i in 0..DEFAULT_DIGITS {
        let png = mltrain_dataset::encode_png(digits.width, digits.height, digits.image(i))?;
        objects.push((
            format!("{DEFAULT_PREFIX}/{}/{i:05}.png", digits.label(i)),
            png,
        ));
    }
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(objects.into_iter().map(|(key, png)| {
        let bar = bar.clone();
        async move {
            store.put(&key, png.into()).await?;
            bar.inc(1);
            Ok::<_, mltrain_store::Error>(())
        }
    }))
    .buffer_unordered(mltrain_store::DEFAULT_CONCURRENCY)
    .try_collect::<()>()
    .await?;
    bar.finish_and_clear();
    Ok(())
}

fn print_summary(out: &mut impl Write, r: &Report, store: &str) -> std::io::Result<()> {
    writeln!(out, "run        {}", r.run_id)?;
    writeln!(
        out,
        "accuracy   {:.4}  ({} test images, {} training images, {} classes, {} forests)",
        r.accuracy,
        r.test_images,
        r.train_images,
        r.classes.len(),
        r.forests
    )?;
    writeln!(out, "images     {} {}", r.image_size, r.channels)?;
    for warning in &r.warnings {
        writeln!(out, "warning    {warning}")?;
    }
    writeln!(
        out,
        "stages     partition {:.3}s  pca {:.3}s  rf {:.3}s  validation {:.3}s",
        r.stages.partition, r.stages.pca, r.stages.rf, r.stages.validation
    )?;
    writeln!(out, "total      {:.3}s", r.total_seconds)?;
    writeln!(out, "model      {}", r.model_key)?;
    writeln!(out, "report     {}", r.report_key)?;
    writeln!(out, "store      {store}")
}
