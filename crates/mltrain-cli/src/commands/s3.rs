//! `mltrain s3 ...`: the original workflow's storage commands, on any store.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use mltrain_store::{Packed, Upload};

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
                pack: true,
                shard_size,
                ..
            } => {
                let bar = Counter::new("packing");
                let packed = store
                    .upload_dir_packed(
                        &host_path,
                        &s3_path,
                        shard_size.unwrap_or(mltrain_pack::DEFAULT_SHARD_SIZE),
                        concurrency,
                        &|done, total| bar.show(done, total),
                    )
                    .await?;
                bar.finish();
                print_packed(
                    &mut std::io::stdout().lock(),
                    &packed,
                    &format!("from {}", host_path.display()),
                    s3_path.trim_matches('/'),
                )?;
                println!("store: {}", store.stats());
            }
            S3Command::Pack {
                s3_path,
                shard_size,
                concurrency,
            } => {
                let bar = Counter::new("packing");
                let packed = store
                    .pack_prefix(&s3_path, shard_size, concurrency, &|done, total| {
                        bar.show(done, total)
                    })
                    .await?;
                bar.finish();
                print_packed(
                    &mut std::io::stdout().lock(),
                    &packed,
                    "in place",
                    s3_path.trim_matches('/'),
                )?;
                println!("store: {}", store.stats());
            }
            S3Command::UploadDir {
                host_path,
                s3_path,
                concurrency,
                all_files,
                ..
            } => {
                let bar = Counter::new("uploading");
                let upload = store
                    .upload_dir(
                        &host_path,
                        &s3_path,
                        concurrency,
                        all_files,
                        &|done, total| bar.show(done, total),
                    )
                    .await?;
                bar.finish();
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

/// A bar on stderr (when it is a terminal) for work that reports `(done, total)` items.
struct Counter {
    _bars: Bars,
    bar: indicatif::ProgressBar,
}

impl Counter {
    fn new(message: &'static str) -> Self {
        let bars = Bars::new(std::io::stderr().is_terminal());
        let bar = bars.counter(message, 0);
        Self { _bars: bars, bar }
    }

    fn show(&self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The summary of a packed upload or conversion: shards, images, bytes, the loose images
/// deleted, and every file skipped with why.
fn print_packed(out: &mut impl Write, packed: &Packed, how: &str, to: &str) -> std::io::Result<()> {
    if packed.already_packed {
        writeln!(
            out,
            "{to} was already packed: {} images in {} shards ({} bytes)",
            packed.images, packed.shards, packed.bytes
        )?;
    } else {
        writeln!(
            out,
            "packed {} images {how} into {} shards ({} bytes) under {to}/{}",
            packed.images,
            packed.shards,
            packed.bytes,
            mltrain_pack::PACK_DIR
        )?;
    }
    if packed.deleted > 0 {
        writeln!(
            out,
            "deleted {} loose images now held by {}",
            packed.deleted,
            mltrain_pack::index_key(to)
        )?;
    }
    print_skipped(out, &packed.skipped)
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
    print_skipped(out, &upload.skipped)
}

/// Every file an upload passed over, with why: nothing is lost without a word.
fn print_skipped(
    out: &mut impl Write,
    skipped: &[(String, mltrain_store::folder::Skip)],
) -> std::io::Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    writeln!(out, "skipped {} files:", skipped.len())?;
    for (rel, why) in skipped {
        writeln!(out, "    {rel}: {}", why.describe())?;
    }
    Ok(())
}
