//! Progress bars for the driver, drawn on stderr only when it is a terminal.

use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mltrain_workflow::Error;
use mltrain_workflow::driver::Progress;
use mltrain_workflow::stage::StageId;

/// One bar per stage; hidden unless stderr is a terminal.
#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new(enabled: bool) -> Self {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            current: Mutex::new(None),
        }
    }

    /// A spinner for work with no count (e.g. writing the bundled data).
    pub fn counter(&self, message: &'static str, total: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(style());
        bar.set_message(message);
        bar
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress for Bars {
    fn stage_started(&self, stage: StageId, tasks: usize) {
        let bar = self.multi.add(ProgressBar::new(tasks as u64));
        bar.set_style(style());
        bar.set_message(stage.name());
        if let Ok(mut current) = self.current.lock() {
            *current = Some(bar);
        }
    }

    fn task_finished(&self, _stage: StageId) {
        if let Ok(current) = self.current.lock() {
            if let Some(bar) = current.as_ref() {
                bar.inc(1);
            }
        }
    }

    /// A note on stderr, whether or not bars are drawn: a retry is worth knowing about.
    fn retrying(&self, function: &str, attempt: u32, error: &Error) {
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            cause.push_str(": ");
            cause.push_str(&s.to_string());
            source = s.source();
        }
        self.multi
            .suspend(|| eprintln!("{function}: attempt {attempt} failed, retrying: {cause}"));
    }

    fn stage_finished(&self, _stage: StageId, _seconds: f64) {
        if let Ok(mut current) = self.current.lock() {
            if let Some(bar) = current.take() {
                bar.finish();
            }
        }
    }
}
