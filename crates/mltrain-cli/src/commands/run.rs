//! `mltrain run`: the driver.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use mltrain_store::Store;
use mltrain_workflow::driver;
use mltrain_workflow::params::{DEFAULT_PREFIX, Params, TestSplit};
use mltrain_workflow::report::Report;
use mltrain_workflow::runs::{self, Status};

use crate::cli::{BackendKind, Global, RunArgs};
use crate::exit::{BadInput, Interrupted};
use crate::progress::Bars;
use mltrain_workflow::notes::DataNotes;

/// Digits in the default data set, "mnist-images-2k".
const DEFAULT_DIGITS: usize = 2000;

pub fn run(global: &Global, args: RunArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let params = Params {
        prefix: args.prefix.trim_matches('/').to_string(),
        num_pca: args.num_pca,
        num_rf: args.num_rf,
        skip_invalid: args.skip_invalid,
        test: match args.test.clone() {
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
    if let Some(run_id) = &args.resume {
        refuse_options_resume_cannot_apply(&args.given, run_id)?;
    }
    let backend = super::run_backend(&args, &store)?;
    let bars = Bars::new(!args.json && std::io::stderr().is_terminal());
    let run_id = mltrain_workflow::layout::new_run_id();

    let options = driver::Options {
        concurrency: args.concurrency,
        attempts: args.attempts.max(1),
        ..driver::Options::default()
    };
    let resume_command = resume_command(global, &args, args.resume.as_deref().unwrap_or(&run_id));

    // One thread drives the stages: their CPU work runs on rayon's and the runtime's
    // blocking threads, and idle async workers would only compete with them for the cores.
    // Blocking threads beyond one per core would too: a run otherwise starts one per file
    // operation in flight. Blocking tasks never wait on each other, so a queue for them
    // cannot deadlock.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(cores)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let work = async {
        store.check_bucket().await?;
        if let Some(run_id) = &args.resume {
            // This attempt's ending replaces the last one's (the driver refuses a bad id).
            if mltrain_workflow::layout::valid_run_id(run_id) {
                runs::clear_outcome(&store, run_id).await?;
            }
            // The run's own parameters (recorded by its partition stage) apply, not these.
            let result = driver::resume(&backend, &store, run_id, &options, &bars).await;
            return match result {
                Ok(report) => Ok(report),
                Err(e) => {
                    let e = failed(e, &format!("resuming run {run_id}"), &resume_command);
                    Err(record_failure(&store, run_id, e).await)
                }
            };
        }
        if params.prefix == DEFAULT_PREFIX {
            seed_default_data(&store, &bars).await?;
        }
        match driver::run_with(&backend, &params, &run_id, &options, &bars).await {
            Ok(report) => Ok(report),
            Err(e) => {
                let e = failed(e, &format!("run {run_id}"), &resume_command);
                Err(record_failure(&store, &run_id, e).await)
            }
        }
    };
    let report = rt.block_on(async {
        tokio::select! {
            report = work => report,
            _ = tokio::signal::ctrl_c() => {
                let id = args.resume.as_deref().unwrap_or(&run_id);
                Err(interrupted(&store, id, &resume_command).await)
            }
        }
    });
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            // Stages still running on blocking threads must not hold the exit up.
            rt.shutdown_background();
            return Err(e);
        }
    };
    // Every task has finished: let the worker threads go with the process instead of
    // joining them (half a millisecond of a 2k run).
    rt.shutdown_background();

    let mut out = std::io::stdout().lock();
    if args.json {
        // The report as validation wrote it, and what this process asked of the store (with
        // the in-process backend, every stage's requests).
        let mut json = serde_json::to_value(&report)?;
        json["store_stats"] = serde_json::to_value(store.stats())?;
        writeln!(out, "{json}")?;
    } else {
        print_summary(&mut out, &report, store.url())?;
    }
    print_notes(&report.data);
    Ok(())
}

/// The options --resume may take: they change how the run is carried out, not its model.
const RESUMABLE: &[&str] = &[
    "store",
    "resume",
    "json",
    "concurrency",
    "attempts",
    "backend",
    "function_url",
    "functions_url",
    "module",
    "wasm_memory",
    "wasm_timeout",
    "timeout",
    "memory_budget",
];

/// Refuses, naming it, any option given with --resume that would change the run's model:
/// a resumed run keeps the parameters it was started with, so it cannot apply them.
fn refuse_options_resume_cannot_apply(given: &[String], run_id: &str) -> Result<()> {
    let refused: Vec<String> = given
        .iter()
        .filter(|id| !RESUMABLE.contains(&id.as_str()))
        .map(|id| match id.as_str() {
            "prefix" | "num_pca" | "num_rf" => id.to_uppercase(),
            other => format!("--{}", other.replace('_', "-")),
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(BadInput(format!(
        "{} cannot be used with --resume: run {run_id} keeps the parameters it was started with \
         ({}); start a new run to change {}",
        refused.join(", "),
        mltrain_workflow::layout::RunLayout::new(run_id).params(),
        if refused.len() == 1 { "it" } else { "them" }
    ))
    .into())
}

/// The command that finishes this run: the same store and backend, and `--resume ID`.
fn resume_command(global: &Global, args: &RunArgs, run_id: &str) -> String {
    let mut words = vec!["mltrain".to_string()];
    if let Some(store) = &global.store {
        words.extend(["--store".into(), shell_quote(store)]);
    }
    words.extend(["run".into(), "--resume".into(), run_id.to_string()]);
    if args.backend == BackendKind::Http {
        words.extend(["--backend".into(), "http".into()]);
        if let Some(base) = &args.http.functions_url {
            words.extend(["--functions-url".into(), shell_quote(base)]);
        }
        for spec in &args.http.function_url {
            words.extend(["--function-url".into(), shell_quote(spec)]);
        }
    }
    if args.backend == BackendKind::Wasm {
        words.extend(["--backend".into(), "wasm".into()]);
        if let Some(module) = &args.wasm.module {
            words.extend([
                "--module".into(),
                shell_quote(&module.display().to_string()),
            ]);
        }
    }
    if args.json {
        words.push("--json".into());
    }
    words.join(" ")
}

/// `word`, quoted for a POSIX shell when it needs to be.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The error of a failed run, saying whether resuming can help: it can when the machinery
/// failed (a store, a transport, a crashed function), not when the input is bad, since a
/// resumed run keeps its input.
fn failed(e: mltrain_workflow::Error, what: &str, resume_command: &str) -> anyhow::Error {
    let advice = if e.is_bad_input() {
        match e.bad_images() {
            true => "fix or remove the images, or pass --skip-invalid, and start a new run (resuming keeps the same input)".to_string(),
            false => "fix the input and start a new run (resuming keeps the same input)".to_string(),
        }
    } else {
        format!("once the cause is fixed, finish it with: {resume_command}")
    };
    anyhow::Error::new(e).context(format!("{what} failed; nothing was published; {advice}"))
}

/// What Ctrl-C prints: the run id and the exact command that finishes the run, if the run
/// got far enough to be resumed.
async fn interrupted(store: &Store, run_id: &str, resume_command: &str) -> anyhow::Error {
    let params = mltrain_workflow::layout::RunLayout::new(run_id).params();
    // A slow store must not keep an interrupted process waiting long.
    let recorded = tokio::time::timeout(std::time::Duration::from_secs(3), store.exists(&params))
        .await
        .map_or(true, |r| r.unwrap_or(true));
    if recorded {
        record_outcome(store, run_id, Status::Interrupted, "interrupted (Ctrl-C)").await;
    }
    let message = if recorded {
        format!(
            "interrupted: run {run_id} stopped; nothing was published\nfinish it with: {resume_command}"
        )
    } else {
        format!(
            "interrupted: run {run_id} stopped before it recorded its parameters; nothing was published, and there is nothing to resume: start it again"
        )
    };
    Interrupted(message).into()
}

/// Records in the store that run `run_id` failed with `e` (for `mltrain runs`), and
/// returns `e`.
async fn record_failure(store: &Store, run_id: &str, e: anyhow::Error) -> anyhow::Error {
    record_outcome(store, run_id, Status::Failed, &format!("{e:#}")).await;
    e
}

/// Records how the run ended, at best: the store may be what failed, and a slow one must
/// not hold the exit up long.
async fn record_outcome(store: &Store, run_id: &str, status: Status, message: &str) {
    let write = runs::record_outcome(store, run_id, status, message);
    match tokio::time::timeout(std::time::Duration::from_secs(3), write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: cannot record that run {run_id} {status}: {e}"),
        Err(_) => eprintln!(
            "warning: cannot record that run {run_id} {status}: the store did not answer in 3 s"
        ),
    }
}

/// Skipped files, left-out images and warnings, on stderr (stdout may be the JSON report).
fn print_notes(notes: &DataNotes) {
    for skipped in &notes.skipped {
        let shown: Vec<&str> = skipped.keys.iter().take(5).map(String::as_str).collect();
        let more = skipped.count - shown.len();
        eprintln!(
            "skipped {} file{}, {}: {}{}",
            skipped.count,
            if skipped.count == 1 { "" } else { "s" },
            skipped.reason,
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more (see the report)")
            } else {
                String::new()
            }
        );
    }
    if !notes.invalid.is_empty() {
        eprintln!(
            "left out {} not decode (--skip-invalid):",
            counted(notes.invalid.len(), "image that does", "images that do")
        );
        for bad in notes
            .invalid
            .iter()
            .take(mltrain_workflow::notes::LISTED_KEYS)
        {
            eprintln!("    `{}`: {}", bad.key, bad.reason);
        }
        if notes.invalid.len() > mltrain_workflow::notes::LISTED_KEYS {
            eprintln!(
                "    ... and {} more (see the report)",
                notes.invalid.len() - mltrain_workflow::notes::LISTED_KEYS
            );
        }
    }
    for warning in &notes.warnings {
        eprintln!("warning: {warning}");
    }
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

pub(crate) fn print_summary(out: &mut impl Write, r: &Report, store: &str) -> std::io::Result<()> {
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
    if r.data.skipped_files() > 0 || !r.data.invalid.is_empty() {
        writeln!(
            out,
            "skipped    {}, {} not decode",
            counted(
                r.data.skipped_files(),
                "file that is not an image",
                "files that are not images"
            ),
            counted(r.data.invalid.len(), "image that does", "images that do")
        )?;
    }
    writeln!(out, "model      {}", r.model_key)?;
    writeln!(out, "report     {}", r.report_key)?;
    writeln!(out, "store      {store}")
}

/// `n` and the singular or plural phrase that goes with it.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn resume_commands_quote_what_a_shell_would_split() {
        assert_eq!(shell_quote("file:///tmp/store/"), "file:///tmp/store/");
        assert_eq!(shell_quote("/my data/store"), "'/my data/store'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn resume_names_every_option_it_refuses() {
        let given = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            refuse_options_resume_cannot_apply(&given(&["resume", "json", "attempts"]), "r")
                .is_ok()
        );
        let err =
            refuse_options_resume_cannot_apply(&given(&["resume", "num_pca", "max_depth"]), "r")
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("NUM_PCA, --max-depth cannot be used with --resume"),
            "{err}"
        );
    }
}
