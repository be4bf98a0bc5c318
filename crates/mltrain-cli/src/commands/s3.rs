//! `mltrain s3 ...`: the original workflow's storage commands, on any store.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use mltrain_store::Upload;

use crate::cli::{Global, S3Command};
use crate::progress::Bars;

pub fn s3(global: &Global, cmd: S3Command) -> Result<()> {
    let store = super::open_store(global)?;
    super::runtime()?.block_on(async {
        store.check_bucket().await?;
        match cmd {
            S3Command::UploadDir {
                host_path,
                s3_path,
                concurrency,
                all_files,
            } => {
                let bars = Bars::new(std::io::stderr().is_terminal());
                let bar = bars.counter("uploading", 0);
                let upload = store
                    .upload_dir(
                        &host_path,
                        &s3_path,
                        concurrency,
                        all_files,
                        &|done, total| {
                            bar.set_length(total as u64);
                            bar.set_position(done as u64);
                        },
                    )
                    .await?;
                bar.finish_and_clear();
                let what = if all_files { "files" } else { "images" };
                print_upload(
                    &mut std::io::stdout().lock(),
                    &upload,
                    what,
                    &host_path.display().to_string(),
                    s3_path.trim_matches('/'),
                )?;
                println!("store: {}", store.stats());
            }
            S3Command::ClearDir { prefix } => {
                let n = store.delete_prefix(&prefix).await?;
                println!("deleted {n} objects under {}", prefix.trim_matches('/'));
            }
            S3Command::Ls { prefix } => {
                let mut out = std::io::stdout().lock();
                for object in store.list(&prefix).await? {
                    writeln!(out, "{:>10}  {}", object.size, object.key)?;
                }
            }
        }
        Ok(())
    })
}

/// The summary of an upload: how many, and every file skipped with why, so that nothing is
/// lost without a word.
fn print_upload(
    out: &mut impl Write,
    upload: &Upload,
    what: &str,
    from: &str,
    to: &str,
) -> std::io::Result<()> {
    writeln!(
        out,
        "uploaded {} {what} from {from} to {to}",
        upload.uploaded
    )?;
    if upload.skipped.is_empty() {
        return Ok(());
    }
    writeln!(out, "skipped {} files:", upload.skipped.len())?;
    for (rel, why) in &upload.skipped {
        writeln!(out, "    {rel}: {}", why.describe())?;
    }
    Ok(())
}
