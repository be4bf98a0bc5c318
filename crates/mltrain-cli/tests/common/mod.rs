//! What the CLI tests share: a temporary store and scratch directory, and image helpers.

#![allow(dead_code)] // each test file uses its own part of this

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

/// A temporary local store and scratch directory.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn store_url(&self) -> String {
        url::Url::from_directory_path(self.dir.path().join("store"))
            .unwrap()
            .to_string()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("mltrain").unwrap();
        cmd.env("MLTRAIN_STORE", self.store_url())
            .env_remove("S3_HOST");
        cmd
    }

    /// Writes `count` bundled digits after `skip` to `dir` and uploads them to `prefix`.
    pub fn digits(&self, dir: &str, skip: usize, count: usize, prefix: &str) {
        let out = self.path(dir);
        self.cmd()
            .args(["dataset", "mnist", "--out"])
            .arg(&out)
            .args(["--skip", &skip.to_string(), "--count", &count.to_string()])
            .assert()
            .success();
        self.upload(&out, prefix);
    }

    pub fn upload(&self, dir: &Path, prefix: &str) {
        self.cmd()
            .args(["s3", "upload-dir", "--host-path"])
            .arg(dir)
            .args(["--s3-path", prefix])
            .assert()
            .success();
    }

    pub fn published_models(&self) -> usize {
        let models = self.path("store/ml-training/models");
        std::fs::read_dir(models).map(|d| d.count()).unwrap_or(0)
    }

    /// Runs `mltrain run ARGS` expecting bad-input exit code 2, a message containing `needle`,
    /// and no published model.
    pub fn refuses(&self, args: &[&str], needle: &str) {
        self.cmd()
            .arg("run")
            .args(args)
            .assert()
            .code(2)
            .stderr(contains(needle))
            .stderr(contains("panicked").not());
        assert_eq!(
            self.published_models(),
            0,
            "a refused run published a model"
        );
    }
}

pub fn mltrain_png(w: u32, h: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    let mut enc = png_encoder(&mut out, w, h);
    enc.write_image_data(&pixels).unwrap();
    enc.finish().unwrap();
    out
}

pub fn png_encoder(out: &mut Vec<u8>, w: u32, h: u32) -> png::Writer<&mut Vec<u8>> {
    let mut enc = png::Encoder::new(out, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap()
}
