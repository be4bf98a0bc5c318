//! `mltrain dataset mnist`: ImageFolder trees from the bundled digits or IDX files.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use mltrain_dataset::{BUNDLED_TRAIN, Digits};

use crate::cli::{DatasetCommand, MnistArgs};
use crate::exit::BadInput;
use crate::progress::Bars;

pub fn dataset(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Mnist(args) => mnist(args),
    }
}

fn mnist(args: MnistArgs) -> Result<()> {
    let digits = match &args.idx {
        Some(paths) => {
            let read = |p: &std::path::PathBuf| {
                std::fs::read(p).with_context(|| format!("cannot read `{}`", p.display()))
            };
            let (images, labels) = (read(&paths[0])?, read(&paths[1])?);
            mltrain_dataset::read_idx(&images, &labels)?
        }
        None => mltrain_dataset::bundled_mnist()?,
    };
    let (digits, skip, count, what) = match args.augment {
        Some(n) => {
            // Only digits reserved for training are distorted: the test digits stay unseen.
            let sources: Vec<usize> = if args.idx.is_some() {
                (0..digits.len()).collect()
            } else {
                BUNDLED_TRAIN.collect()
            };
            (
                mltrain_dataset::augment(&digits, &sources, n, args.seed),
                0,
                n,
                "augmented digits",
            )
        }
        None => {
            if args.skip > digits.len() {
                return Err(BadInput(format!(
                    "--skip {} is past the {} digits available",
                    args.skip,
                    digits.len()
                ))
                .into());
            }
            let count = args.count.unwrap_or(digits.len() - args.skip);
            (digits, args.skip, count, "digits")
        }
    };
    write(&digits, skip, count, &args.out)?;
    println!("wrote {count} {what} to {}", args.out.display());
    Ok(())
}

fn write(digits: &Digits, skip: usize, count: usize, out: &std::path::Path) -> Result<()> {
    let bars = Bars::new(std::io::stderr().is_terminal());
    let bar = bars.counter("writing", count as u64);
    mltrain_dataset::write_image_folder(digits, skip, count, out, &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    Ok(())
}
