//! `mltrain s3 ...`: the original workflow's storage commands, on any store.

use std::io::IsTerminal;

use anyhow::Result;

use crate::cli::{Global, S3Command};
use crate::progress::Bars;

pub fn s3(global: &Global, cmd: S3Command) -> Result<()> {
    let store = super::open_store(global)?;
    super::runtime()?.block_on(async {
        match cmd {
            S3Command::UploadDir {
                host_path,
                s3_path,
                concurrency,
            } => {
                let bars = Bars::new(std::io::stderr().is_terminal());
                let bar = bars.counter("uploading", 0);
                let n = store
                    .upload_dir(&host_path, &s3_path, concurrency, &|done, total| {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    })
                    .await?;
                bar.finish_and_clear();
                println!(
                    "uploaded {n} files from {} to {}",
                    host_path.display(),
                    s3_path.trim_matches('/')
                );
            }
            S3Command::ClearDir { prefix } => {
                let n = store.delete_prefix(&prefix).await?;
                println!("deleted {n} objects under {}", prefix.trim_matches('/'));
            }
            S3Command::Ls { prefix } => {
                let mut out = std::io::stdout().lock();
                for object in store.list(&prefix).await? {
                    use std::io::Write;
                    writeln!(out, "{:>10}  {}", object.size, object.key)?;
                }
            }
        }
        Ok(())
    })
}
