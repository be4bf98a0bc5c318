//! The run report as one page to look at: `validation/report.html`, beside `report.json`.
//!
//! [`render`] is a pure function from a [`Report`] and the run's calls ([`CallTime`], one per
//! call record) to a self-contained HTML page: inline CSS and SVG, no script, nothing
//! fetched. It shows the accuracy and counts, the confusion matrix as a heat map, each
//! class's precision and recall, and a timeline with one bar per function call.
//!
//! Every confusion cell is a `<rect>` with `data-true`, `data-predicted` and `data-count`,
//! and every call bar a `<rect>` with `data-call`, `data-stage`, `data-start` and
//! `data-seconds`, so tests (and scripts) can read the page back.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::stage::StageId;

/// One function call of a run, as its record (`<run>/calls/<name>.json`) timed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallTime {
    /// The call's name: `partition`, `pca-3`, `rf-0-1`, `validation`.
    pub name: String,
    /// The stage it belongs to.
    pub stage: StageId,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// How long it took, in seconds.
    pub seconds: f64,
}

/// The times a call record holds, without its output (whose type depends on the stage).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RecordTimes {
    /// When the call started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// How long it took, in seconds.
    pub seconds: f64,
}

impl CallTime {
    /// The call `name` as record `bytes` (JSON) timed it; `None` when the name is not a
    /// call's or the record does not read.
    pub fn from_record(name: &str, bytes: &[u8]) -> Option<Self> {
        let stage = StageId::from_name(name.split('-').next().unwrap_or(name))?;
        let times: RecordTimes = serde_json::from_slice(bytes).ok()?;
        Some(Self {
            name: name.to_string(),
            stage,
            started_unix_ms: times.started_unix_ms,
            seconds: times.seconds,
        })
    }
}

/// Width of the page's figures, in SVG user units (pixels at 100 %).
const WIDTH: f64 = 1000.0;

/// The report page of `report`, with a timeline of `calls` (any order; an empty slice
/// leaves the timeline out).
pub fn render(report: &Report, calls: &[CallTime]) -> String {
    let mut html = String::with_capacity(16 * 1024 + 64 * report.classes.len().pow(2));
    // Writing to a String cannot fail.
    let _ = write_page(&mut html, report, calls);
    html
}

fn write_page(out: &mut String, r: &Report, calls: &[CallTime]) -> std::fmt::Result {
    let id = esc(&r.run_id);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mltrain run {id}</title><style>{STYLE}</style></head><body>\n\
         <h1>mltrain run <code>{id}</code></h1>\n"
    )?;
    write_summary(out, r)?;
    writeln!(
        out,
        "<h2>Confusion matrix</h2>\n<p class=\"note\">Rows: true class; columns: predicted \
         class. A cell's shade is its share of the row (the true class's test images): \
         blue on the diagonal (right), orange off it (wrong).</p>"
    )?;
    write_confusion(out, r)?;
    writeln!(out, "<h2>Precision and recall per class</h2>")?;
    write_per_class(out, r)?;
    if !calls.is_empty() {
        writeln!(out, "<h2>Timeline of the function calls</h2>")?;
        write_timeline(out, calls)?;
    }
    writeln!(
        out,
        "<p class=\"note\">Written by mltrain from <code>{}</code>.</p>\n</body></html>",
        esc(&r.report_key)
    )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;\
color:#1b1f24;max-width:1060px}h1{font-size:22px}h1 code{font-size:18px}\
h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de;padding-bottom:4px}\
.big{font-size:40px;font-weight:600}.facts{border-collapse:collapse}\
.facts td{padding:2px 14px 2px 0;vertical-align:top}.facts td:first-child{color:#57606a}\
.note{color:#57606a;font-size:13px}.warn{color:#9a6700}\
table.classes{border-collapse:collapse;font-size:13px}\
table.classes th,table.classes td{padding:2px 8px;text-align:right}\
table.classes th:first-child,table.classes td:first-child,table.classes .pr{text-align:left}\
table.classes tr:nth-child(even){background:#f6f8fa}\
.bar{display:inline-block;height:10px;background:#0969da;vertical-align:middle;margin-right:6px}\
.bar.r{background:#1a7f37}.pr{width:130px}svg text{font-family:inherit}";

fn write_summary(out: &mut String, r: &Report) -> std::fmt::Result {
    let p = &r.params;
    writeln!(
        out,
        "<p><span class=\"big\">{:.2} %</span> accuracy: {} of {} test images right</p>",
        100.0 * r.accuracy,
        r.confusion
            .iter()
            .enumerate()
            .map(|(i, row)| row.get(i).copied().unwrap_or(0))
            .sum::<u64>(),
        r.test_images
    )?;
    out.push_str("<table class=\"facts\">\n");
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(out, "<tr><td>{name}</td><td>{value}</td></tr>");
    };
    fact(
        "data",
        format!(
            "<code>{}</code>: {} training images, {} test images, {} classes, {} {}",
            esc(&p.prefix),
            r.train_images,
            r.test_images,
            r.classes.len(),
            r.image_size,
            r.channels
        ),
    );
    fact(
        "model",
        format!(
            "{} PCA functions ({} components asked), {} forests of {} trees, depth {}, \
             min samples split {}, seed {}",
            p.num_pca, p.components, r.forests, p.trees, p.max_depth, p.min_samples_split, p.seed
        ),
    );
    fact(
        "time",
        format!(
            "{:.3} s in all: partition {:.3} s, pca {:.3} s, rf {:.3} s, validation {:.3} s",
            r.total_seconds, r.stages.partition, r.stages.pca, r.stages.rf, r.stages.validation
        ),
    );
    fact("published", format!("<code>{}</code>", esc(&r.model_key)));
    for w in r.warnings.iter().chain(&r.data.warnings) {
        fact("warning", format!("<span class=\"warn\">{}</span>", esc(w)));
    }
    if r.data.skipped_files() > 0 || !r.data.invalid.is_empty() {
        fact(
            "skipped",
            format!(
                "{} files that are not images, {} images that do not decode",
                r.data.skipped_files(),
                r.data.invalid.len()
            ),
        );
    }
    out.push_str("</table>\n");
    Ok(())
}

/// A class name for a label: at most `max` characters, the rest as an ellipsis (the full
/// name is in the cell's tooltip).
fn label(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        esc(name)
    } else {
        let cut: String = name.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", esc(&cut))
    }
}

fn write_confusion(out: &mut String, r: &Report) -> std::fmt::Result {
    let n = r.classes.len().max(1);
    // Cells shrink with the class count so that 100 labelled classes still fit the page's
    // width; past about 110 the labels go, and each cell's tooltip names its classes.
    let cell = (800.0 / n as f64).clamp(5.0, 44.0);
    let font = (cell * 0.45).clamp(6.0, 12.0);
    let longest = r
        .classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(1);
    let chars = longest.min(18);
    let left = 24.0 + font * 0.62 * chars as f64;
    // Column labels are turned 60°, so they take about their length times sin 60° upwards.
    let top = 24.0 + font * 0.62 * chars as f64 * 0.87;
    let side = cell * n as f64;
    let (width, height) = (left + side + 20.0, top + side + 20.0);
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"confusion matrix\" \
         font-size=\"{font:.1}\">"
    )?;
    let show_labels = cell >= 7.0;
    for (i, class) in r.classes.iter().enumerate() {
        if !show_labels {
            break;
        }
        let y = top + cell * (i as f64 + 0.5);
        let x = left + cell * (i as f64 + 0.5);
        writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\
             <text transform=\"translate({x:.1},{:.1}) rotate(-60)\" dominant-baseline=\"middle\">{}</text>",
            left - 6.0,
            label(class, chars),
            top - 6.0,
            label(class, chars),
        )?;
    }
    for (t, row) in r.confusion.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            let (x, y) = (left + cell * p as f64, top + cell * t as f64);
            let fill = shade(share, t == p);
            let name = |i: usize| r.classes.get(i).map_or("?", String::as_str);
            write!(
                out,
                "<rect class=\"cell\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" \
                 fill=\"{fill}\" stroke=\"#fff\" stroke-width=\"{:.1}\" data-true=\"{t}\" \
                 data-predicted=\"{p}\" data-count=\"{count}\"><title>true {}, predicted {}: {count} \
                 ({:.1} % of the true class)</title></rect>",
                (cell * 0.04).min(1.0),
                esc(name(t)),
                esc(name(p)),
                100.0 * share
            )?;
            if cell >= 22.0 && count > 0 {
                let colour = if share > 0.5 { "#fff" } else { "#1b1f24" };
                write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" dominant-baseline=\"middle\" \
                     fill=\"{colour}\">{count}</text>",
                    x + cell / 2.0,
                    y + cell / 2.0
                )?;
            }
            out.push('\n');
        }
    }
    writeln!(out, "</svg>")?;
    if !show_labels {
        writeln!(
            out,
            "<p class=\"note\">{} classes: too many to label; hover a cell for its classes.</p>",
            r.classes.len()
        )?;
    }
    Ok(())
}

/// White to blue (right) or white to orange (wrong) by the share of the row.
fn shade(share: f64, diagonal: bool) -> String {
    let to = if diagonal {
        (9.0, 105.0, 218.0)
    } else {
        (219.0, 109.0, 40.0)
    };
    let s = share.clamp(0.0, 1.0).sqrt(); // a few errors should still show
    let mix = |c: f64| (255.0 + (c - 255.0) * s).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(to.0), mix(to.1), mix(to.2))
}

fn write_per_class(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(
        out,
        "<table class=\"classes\"><tr><th>class</th><th>test images</th>\
         <th class=\"pr\">precision</th><th class=\"pr\">recall</th></tr>"
    )?;
    for c in &r.per_class {
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"pr\"><span class=\"bar\" style=\"width:{:.0}px\"></span>{:.3}</td>\
             <td class=\"pr\"><span class=\"bar r\" style=\"width:{:.0}px\"></span>{:.3}</td></tr>",
            esc(&c.class),
            c.support,
            70.0 * c.precision.clamp(0.0, 1.0),
            c.precision,
            70.0 * c.recall.clamp(0.0, 1.0),
            c.recall
        )?;
    }
    writeln!(out, "</table>")
}

fn stage_colour(stage: StageId) -> &'static str {
    match stage {
        StageId::Partition => "#8250df",
        StageId::Pca => "#0969da",
        StageId::Rf => "#1a7f37",
        StageId::Validation => "#bc4c00",
    }
}

fn write_timeline(out: &mut String, calls: &[CallTime]) -> std::fmt::Result {
    let mut calls: Vec<&CallTime> = calls.iter().collect();
    calls.sort_by(|a, b| {
        (a.started_unix_ms, a.stage, &a.name).cmp(&(b.started_unix_ms, b.stage, &b.name))
    });
    let t0 = calls.iter().map(|c| c.started_unix_ms).min().unwrap_or(0);
    let start = |c: &CallTime| (c.started_unix_ms - t0) as f64 / 1000.0;
    let end = calls
        .iter()
        .map(|c| start(c) + c.seconds.max(0.0))
        .fold(0.0, f64::max)
        .max(1e-3);

    // How well each stage's calls overlapped: their summed time over the stage's span.
    writeln!(out, "<table class=\"facts\">")?;
    for stage in StageId::ALL {
        let of: Vec<&&CallTime> = calls.iter().filter(|c| c.stage == stage).collect();
        if of.is_empty() {
            continue;
        }
        let first = of.iter().map(|c| start(c)).fold(f64::INFINITY, f64::min);
        let last = of
            .iter()
            .map(|c| start(c) + c.seconds.max(0.0))
            .fold(0.0, f64::max);
        let busy: f64 = of.iter().map(|c| c.seconds.max(0.0)).sum();
        let span = (last - first).max(1e-9);
        writeln!(
            out,
            "<tr><td><span class=\"bar\" style=\"width:10px;background:{}\"></span>{stage}</td>\
             <td>{} call{}, {busy:.3} s of calls from {first:.3} s to {last:.3} s: \
             {:.2} running at once on average</td></tr>",
            stage_colour(stage),
            of.len(),
            if of.len() == 1 { "" } else { "s" },
            busy / span
        )?;
    }
    writeln!(out, "</table>")?;

    let n = calls.len();
    let row = (720.0 / n as f64).clamp(2.0, 18.0);
    let label_width = if row >= 9.0 { 80.0 } else { 10.0 };
    let plot = WIDTH - label_width - 20.0;
    let top = 10.0;
    let height = top + row * n as f64 + 36.0;
    let x_of = |seconds: f64| label_width + plot * seconds / end;
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\" role=\"img\" aria-label=\"timeline\" font-size=\"11\">"
    )?;
    let step = tick_step(end);
    let mut k = 0;
    while k as f64 * step <= end * (1.0 + 1e-9) {
        let t = k as f64 * step;
        let x = x_of(t);
        writeln!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" stroke=\"#d0d7de\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
            top + row * n as f64,
            top + row * n as f64 + 14.0,
            tick_label(t, step)
        )?;
        k += 1;
    }
    writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#57606a\">seconds since the first call started</text>",
        label_width + plot / 2.0,
        top + row * n as f64 + 30.0
    )?;
    for (i, c) in calls.iter().enumerate() {
        let y = top + row * i as f64;
        let x = x_of(start(c));
        // A call of a millisecond still gets a visible sliver.
        let w = (plot * c.seconds.max(0.0) / end).max(1.0);
        if row >= 9.0 {
            writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>",
                label_width - 6.0,
                y + row / 2.0,
                esc(&c.name)
            )?;
        }
        writeln!(
            out,
            "<rect class=\"call\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{w:.2}\" height=\"{:.2}\" rx=\"2\" \
             fill=\"{}\" data-call=\"{}\" data-stage=\"{}\" data-start=\"{:.3}\" data-seconds=\"{:.3}\">\
             <title>{}: {:.3} s, from {:.3} s</title></rect>",
            y + row * 0.1,
            row * 0.8,
            stage_colour(c.stage),
            esc(&c.name),
            c.stage,
            start(c),
            c.seconds,
            esc(&c.name),
            c.seconds,
            start(c)
        )?;
    }
    writeln!(out, "</svg>")
}

/// A round step (1, 2 or 5 times a power of ten) giving 5 to 10 ticks over `0..end`.
fn tick_step(end: f64) -> f64 {
    let raw = end / 8.0;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        // The tolerance keeps a power of ten computed a hair low from skipping its step.
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

fn tick_label(t: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{t:.decimals$}")
}

/// `s` with the characters HTML gives a meaning to escaped, for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_reads_as_markup() {
        assert_eq!(
            esc(r#"<a & "b" 'c'>"#),
            "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;"
        );
        assert_eq!(label("abcdefgh", 5), "abcd…");
        assert_eq!(label("a<b", 5), "a&lt;b");
    }

    #[test]
    fn ticks_are_round_and_cover_the_axis() {
        for (end, step) in [
            (0.35, 0.05),
            (1.0, 0.2),
            (7.9, 1.0),
            (120.0, 20.0),
            (0.004, 0.0005),
        ] {
            let got = tick_step(end);
            assert!((got - step).abs() < step * 1e-9, "{end}: {got}");
            assert!((5.0..=10.0).contains(&(end / got).ceil()), "{end}: {got}");
        }
        assert_eq!(tick_label(0.4, 0.2), "0.4");
        assert_eq!(tick_label(20.0, 20.0), "20");
    }

    #[test]
    fn shades_run_from_white() {
        assert_eq!(shade(0.0, true), "#ffffff");
        assert_eq!(shade(1.0, true), "#0969da");
        assert_eq!(shade(1.0, false), "#db6d28");
    }

    #[test]
    fn calls_read_their_stage_and_times_from_records() {
        let json = br#"{"output":{"anything":1},"started_unix_ms":1000,"seconds":0.25}"#;
        let call = CallTime::from_record("rf-0-1", json).unwrap();
        assert_eq!(call.stage, StageId::Rf);
        assert_eq!((call.started_unix_ms, call.seconds), (1000, 0.25));
        assert!(CallTime::from_record("driver", json).is_none());
        assert!(CallTime::from_record("pca-0", b"{}").is_none());
    }
}
