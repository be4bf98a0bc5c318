//! One file per subcommand.

mod dataset;
mod predict;
mod run;
mod s3;

use anyhow::{Context, Result};
use mltrain_store::Store;

use crate::cli::{Cli, Command, Global};

pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run::run(&cli.global, args),
        Command::Dataset(cmd) => dataset::dataset(cmd),
        Command::S3(cmd) => s3::s3(&cli.global, cmd),
        Command::Predict(args) => predict::predict(&cli.global, args),
    }
}

/// The store of `--store`, `$MLTRAIN_STORE`, or the default directory in the user's data dir.
pub fn open_store(global: &Global) -> Result<Store> {
    let url = match &global.store {
        Some(url) => url.clone(),
        None => {
            let dir = dirs::data_dir()
                .context("no data directory for the default store (set --store or MLTRAIN_STORE)")?
                .join("mltrain")
                .join("store");
            url::Url::from_directory_path(&dir)
                .map_err(|()| {
                    anyhow::anyhow!(
                        "default store directory `{}` is not absolute",
                        dir.display()
                    )
                })?
                .to_string()
        }
    };
    Ok(Store::from_url(&url)?)
}

/// A multi-threaded runtime for the async store and workflow.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
