//! `mltrain report`: a run's report page, written again from its report and every call
//! record, and where to find it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mltrain_store::Store;
use mltrain_workflow::layout::{RunLayout, valid_run_id};
use mltrain_workflow::{html, runs};

use crate::cli::{Global, ReportArgs};
use crate::exit::BadInput;

pub fn report(global: &Global, args: ReportArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let run_id = args.run_id.as_str();
    let key = RunLayout::new(run_id).report_html();
    let page = super::runtime()?.block_on(async {
        let report = existing_report(&store, run_id).await?;
        let calls = runs::calls(&store, run_id).await?;
        let page = html::render(&report, &calls);
        store.put(&key, page.clone().into()).await?;
        Ok::<_, anyhow::Error>(page)
    })?;
    let local = local_path(&store, &key);
    match &local {
        Some(path) => println!("{}", path.display()),
        None => println!("{}{key}", store.url()),
    }
    if args.open {
        let path = match local {
            Some(path) => path,
            // A browser opens files, not store keys: a copy it can open.
            None => {
                let path = std::env::temp_dir().join(format!("mltrain-{run_id}-report.html"));
                std::fs::write(&path, page)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                eprintln!("opening a copy: {}", path.display());
                path
            }
        };
        open_in_browser(&path)?;
    }
    Ok(())
}

/// The report of run `run_id`, or an error saying why there is none: no such run, or a run
/// that did not get through validation.
pub async fn existing_report(
    store: &Store,
    run_id: &str,
) -> Result<mltrain_workflow::report::Report> {
    if !valid_run_id(run_id) {
        return Err(BadInput(format!("`{run_id}` is not a run id")).into());
    }
    if let Some(report) = runs::report(store, run_id).await? {
        return Ok(report);
    }
    let dir = RunLayout::new(run_id).dir();
    if store.has_objects(&dir).await? {
        Err(BadInput(format!(
            "run {run_id} has no report: it did not get through validation (see `mltrain runs show {run_id}`)"
        ))
        .into())
    } else {
        Err(BadInput(format!(
            "no run `{run_id}` in {} (see `mltrain runs`)",
            store.url()
        ))
        .into())
    }
}

/// The file of `key` when the store is a local directory.
pub fn local_path(store: &Store, key: &str) -> Option<PathBuf> {
    let url = url::Url::parse(store.url()).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    Some(url.to_file_path().ok()?.join(key))
}

/// Hands `path` to the desktop's opener.
fn open_in_browser(path: &Path) -> Result<()> {
    let (program, args): (&str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("cmd", &["/C", "start", ""])
    } else {
        ("xdg-open", &[])
    };
    let status = std::process::Command::new(program)
        .args(args)
        .arg(path)
        .status()
        .with_context(|| format!("cannot start `{program}` to open {}", path.display()))?;
    if !status.success() {
        anyhow::bail!("`{program} {}` failed ({status})", path.display());
    }
    Ok(())
}
