//! `mltrain runs`: the runs of a store, newest first; one run's summary; deleting runs.

use std::io::Write;

use anyhow::Result;
use mltrain_store::Store;
use mltrain_workflow::runs::{self, RunInfo, Status};

use crate::cli::{Global, RunsArgs, RunsCommand};
use crate::exit::BadInput;

pub fn runs(global: &Global, args: RunsArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let rt = super::runtime()?;
    let listed = rt.block_on(runs::list(&store))?;
    let mut out = std::io::stdout().lock();
    match args.command {
        None if args.json => writeln!(out, "{}", serde_json::to_string_pretty(&listed)?)?,
        None => print_list(&mut out, &listed, store.url())?,
        Some(RunsCommand::Show { run_id, json }) => {
            let run = find(&listed, &[run_id], &store)?.remove(0);
            rt.block_on(show(&mut out, &store, run, json))?;
        }
        Some(RunsCommand::Rm { run_ids }) => {
            let doomed = find(&listed, &run_ids, &store)?;
            rt.block_on(delete(&mut out, &store, &doomed, false))?;
        }
        Some(RunsCommand::Gc {
            keep,
            unfinished,
            dry_run,
        }) => {
            let doomed = collectable(&listed, keep, unfinished);
            let kept = listed
                .iter()
                .filter(|r| r.status == Status::Published)
                .count()
                .min(keep);
            rt.block_on(delete(&mut out, &store, &doomed, dry_run))?;
            writeln!(
                out,
                "kept the newest {kept} published run{}; {} {} run{}",
                plural(kept),
                if dry_run { "would delete" } else { "deleted" },
                doomed.len(),
                plural(doomed.len())
            )?;
        }
    }
    Ok(())
}

/// The runs `ids` name, in that order; refuses, naming every one, ids that are not runs of
/// the store (before anything is deleted).
fn find(listed: &[RunInfo], ids: &[String], store: &Store) -> Result<Vec<RunInfo>> {
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !listed.iter().any(|r| &r.run_id == *id))
        .map(|id| format!("`{id}`"))
        .collect();
    if !unknown.is_empty() {
        return Err(BadInput(format!(
            "no run {} in {} (see `mltrain runs`); nothing was deleted",
            unknown.join(", "),
            store.url()
        ))
        .into());
    }
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(run) = listed.iter().find(|r| &r.run_id == id) {
            if !found.iter().any(|f: &RunInfo| f.run_id == run.run_id) {
                found.push(run.clone());
            }
        }
    }
    Ok(found)
}

/// What `gc --keep N` deletes from `listed` (newest first): published runs after the
/// newest `keep`, failed and interrupted runs, and unfinished ones only if asked, since
/// one may still be running.
fn collectable(listed: &[RunInfo], keep: usize, unfinished: bool) -> Vec<RunInfo> {
    let mut published = 0;
    listed
        .iter()
        .filter(|r| match r.status {
            Status::Published => {
                published += 1;
                published > keep
            }
            Status::Failed | Status::Interrupted => true,
            Status::Unfinished => unfinished,
        })
        .cloned()
        .collect()
}

async fn delete(
    out: &mut impl Write,
    store: &Store,
    runs: &[RunInfo],
    dry_run: bool,
) -> Result<()> {
    for run in runs {
        if dry_run {
            writeln!(
                out,
                "would delete run {} ({}, {} object{})",
                run.run_id,
                run.status,
                run.objects,
                plural(run.objects)
            )?;
            continue;
        }
        let n = runs::delete(store, &run.run_id).await?;
        // A directory store keeps the run's emptied folders; a deleted run leaves nothing.
        let dir = mltrain_workflow::layout::RunLayout::new(&run.run_id).dir();
        if let Some(path) = super::report::local_path(store, &dir) {
            remove_empty_dirs(&path);
        }
        writeln!(
            out,
            "deleted run {} ({}, {n} object{})",
            run.run_id,
            run.status,
            plural(n)
        )?;
    }
    Ok(())
}

/// Removes `dir` and the folders below it that hold no file; `remove_dir` refuses any
/// that still does (a file written since), which is then kept.
fn remove_empty_dirs(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

async fn show(out: &mut impl Write, store: &Store, run: RunInfo, json: bool) -> Result<()> {
    let report = runs::report(store, &run.run_id).await?;
    if json {
        match &report {
            Some(report) => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
            None => writeln!(out, "{}", serde_json::to_string_pretty(&run)?)?,
        }
        return Ok(());
    }
    match &report {
        Some(report) => super::run::print_summary(out, report, store.url())?,
        None => {
            writeln!(out, "run        {}", run.run_id)?;
            if let Some(p) = &run.params {
                writeln!(out, "data       {}", p.prefix)?;
                writeln!(out, "params     {}", params(p))?;
            }
            let mut calls = runs::calls(store, &run.run_id).await?;
            calls.sort_by(|a, b| (a.stage, &a.name).cmp(&(b.stage, &b.name)));
            let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
            let expected = run.params.as_ref().map_or(String::new(), |p| {
                format!(" of {}", 2 + p.num_pca + p.num_rf)
            });
            writeln!(
                out,
                "calls      {}{expected} recorded{}{}",
                names.len(),
                if names.is_empty() { "" } else { ": " },
                names.join(", ")
            )?;
        }
    }
    writeln!(out, "status     {}", run.status)?;
    if let Some(started) = &run.started {
        writeln!(out, "started    {started}")?;
    }
    if let Some(message) = &run.message {
        writeln!(out, "why        {message}")?;
    }
    if run.status == Status::Unfinished {
        writeln!(
            out,
            "note       no model and no recorded outcome: killed, driven by a served driver, or still running"
        )?;
    }
    Ok(())
}

/// The parameters a list line shows: what sets one run apart from another.
fn params(p: &mltrain_workflow::params::Params) -> String {
    format!(
        "pca {} rf {} components {} trees {} depth {} seed {}",
        p.num_pca, p.num_rf, p.components, p.trees, p.max_depth, p.seed
    )
}

fn print_list(out: &mut impl Write, listed: &[RunInfo], store: &str) -> std::io::Result<()> {
    if listed.is_empty() {
        eprintln!("no runs in {store}");
        return Ok(());
    }
    let rows: Vec<[String; 7]> = listed
        .iter()
        .map(|r| {
            [
                r.run_id.clone(),
                r.started.clone().unwrap_or_else(|| "-".into()),
                r.status.to_string(),
                r.accuracy.map_or("-".into(), |a| format!("{a:.4}")),
                r.params.as_ref().map_or("-".into(), |p| p.prefix.clone()),
                r.params.as_ref().map_or("-".into(), params),
                r.model_key.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = [
        "RUN",
        "STARTED (UTC)",
        "STATUS",
        "ACCURACY",
        "DATA",
        "PARAMETERS",
        "MODEL",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        text
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn run(id: &str, status: Status) -> RunInfo {
        RunInfo {
            run_id: id.into(),
            started: None,
            status,
            params: None,
            accuracy: None,
            model_key: None,
            message: None,
            objects: 1,
            bytes: 1,
        }
    }

    #[test]
    fn gc_keeps_the_newest_published_and_unfinished_runs() {
        use Status::*;
        let listed = [
            run("6", Unfinished),
            run("5", Published),
            run("4", Failed),
            run("3", Published),
            run("2", Interrupted),
            run("1", Published),
        ];
        let ids = |runs: Vec<RunInfo>| runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>();
        assert_eq!(ids(collectable(&listed, 1, false)), ["4", "3", "2", "1"]);
        assert_eq!(ids(collectable(&listed, 3, false)), ["4", "2"]);
        assert_eq!(
            ids(collectable(&listed, 0, true)),
            ["6", "5", "4", "3", "2", "1"]
        );
    }
}
