//! What the report page adds to a run's validation call, measured alone: reading the call
//! records as the compute does (a `file://` store's files), rendering the page, and
//! writing it through a `file://` store as a new object, as a run does. For BENCHMARKS.md;
//! whole runs are too noisy on a shared machine to show a millisecond.
//!
//! ```sh
//! cargo run --release -p mltrain-workflow --example report_cost -- STORE_DIR RUN_ID
//! ```

use std::time::Instant;

use mltrain_workflow::html::{CallTime, render};
use mltrain_workflow::layout::RunLayout;
use mltrain_workflow::report::Report;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(run_id)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: report_cost STORE_DIR RUN_ID");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(dir);
    let layout = RunLayout::new(run_id);
    let read = |key: &str| std::fs::read(dir.join(key)).expect("the run's object reads");
    let report: Report = serde_json::from_slice(&read(&layout.report())).expect("a report");
    let mut names = vec!["partition".to_string()];
    names.extend((0..report.params.num_pca).map(|i| format!("pca-{i}")));
    for i in 0..report.params.num_pca {
        names.extend((0..report.params.forests_of(i)).map(|j| format!("rf-{i}-{j}")));
    }
    let scratch = std::env::temp_dir().join(format!("report-cost-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let store = mltrain_store::Store::from_url(&format!("file://{}", scratch.display()))
        .expect("a scratch store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let rounds = 2000;
    let (mut reading, mut rendering, mut writing) = (vec![], vec![], vec![]);
    let mut bytes = 0;
    for round in 0..rounds {
        let t = Instant::now();
        let calls: Vec<CallTime> = names
            .iter()
            .filter_map(|n| CallTime::from_record(n, &read(&layout.record(n))))
            .collect();
        reading.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let page = render(&report, &calls);
        rendering.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        // A new key each round: a run writes its page once, never over an old one.
        let key = format!("run-{round}/validation/report.html");
        rt.block_on(store.put(&key, page.clone().into()))
            .expect("the page writes");
        writing.push(t.elapsed().as_secs_f64());
        bytes = page.len();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1e6
    };
    println!(
        "{} records, {} classes, a page of {bytes} bytes; medians of {rounds}: reading {:.0} µs, \
         rendering {:.0} µs, writing {:.0} µs",
        names.len(),
        report.classes.len(),
        median(&mut reading),
        median(&mut rendering),
        median(&mut writing)
    );
}
