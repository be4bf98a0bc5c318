//! The report page (`validation/report.html`) read back with an HTML parser: it parses,
//! has one heat-map cell per (true, predicted) class pair and one bar per function call,
//! keeps odd class names as text, and fetches nothing; and the runs of a store are listed,
//! told apart by how they ended, and deleted whole.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::collections::BTreeSet;

use mltrain_core::image::{Channels, ImageSize};
use mltrain_workflow::driver::{self, Local, Quiet};
use mltrain_workflow::html::{CallTime, render};
use mltrain_workflow::layout::RunLayout;
use mltrain_workflow::params::Params;
use mltrain_workflow::report::{ClassReport, Report, StageTimes};
use mltrain_workflow::runs::{self, Status};
use mltrain_workflow::stage::StageId;
use mltrain_workflow::stages::Ctx;
use scraper::{Html, Selector};

/// A report over `classes` whose confusion counts are all different: `(t + 1) * 7 + p`.
fn report(classes: &[String]) -> Report {
    let n = classes.len();
    let confusion: Vec<Vec<u64>> = (0..n)
        .map(|t| (0..n).map(|p| ((t + 1) * 7 + p) as u64).collect())
        .collect();
    Report {
        run_id: "20261127T190000.000Z-abcdef".into(),
        accuracy: 0.5,
        train_images: 100,
        test_images: confusion.iter().flatten().sum::<u64>() as usize,
        classes: classes.to_vec(),
        per_class: classes
            .iter()
            .map(|c| ClassReport {
                class: c.clone(),
                precision: 0.25,
                recall: 1.0,
                support: 3,
            })
            .collect(),
        confusion,
        params: Params::default(),
        stages: StageTimes::default(),
        total_seconds: 1.0,
        explained_variance_ratio: vec![0.5],
        components: vec![10],
        channels: Channels::Rgb,
        image_size: ImageSize::new(32, 32),
        warnings: vec!["a <warning> & more".into()],
        forests: 8,
        model_key: "ml-training/models/x.model".into(),
        report_key: "ml-training/outputs/x/validation/report.json".into(),
        data: Default::default(),
    }
}

/// Partition, `pca` PCA calls overlapping, `pca * 4` forests, validation.
fn calls(pca: usize) -> Vec<CallTime> {
    let call = |name: String, stage, started_unix_ms, seconds| CallTime {
        name,
        stage,
        started_unix_ms,
        seconds,
    };
    let mut calls = vec![call("partition".into(), StageId::Partition, 1_000, 0.05)];
    for i in 0..pca {
        calls.push(call(
            format!("pca-{i}"),
            StageId::Pca,
            1_050 + i as u64,
            0.2,
        ));
        for j in 0..4 {
            calls.push(call(
                format!("rf-{i}-{j}"),
                StageId::Rf,
                1_300 + 10 * j,
                0.1,
            ));
        }
    }
    calls.push(call("validation".into(), StageId::Validation, 1_500, 0.03));
    calls
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

/// Parses `page`, checks that the parser had nothing to mend and that nothing is fetched,
/// and checks one cell per class pair with the report's counts and one bar per call.
fn check_page(page: &str, report: &Report, calls: &BTreeSet<String>) -> Html {
    let doc = Html::parse_document(page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    for fetching in [
        "script",
        "link",
        "img",
        "iframe",
        "[src]",
        "[href]",
        "style[src]",
    ] {
        assert!(select(&doc, fetching).is_empty(), "the page has {fetching}");
    }
    assert!(!page.contains("url(") && !page.contains("@import"));

    let n = report.classes.len();
    let cells = select(&doc, "svg rect[data-true]");
    assert_eq!(cells.len(), n * n);
    let mut pairs = BTreeSet::new();
    for cell in &cells {
        let attr = |name| cell.value().attr(name).unwrap().parse::<usize>().unwrap();
        let (t, p) = (attr("data-true"), attr("data-predicted"));
        assert_eq!(attr("data-count") as u64, report.confusion[t][p]);
        pairs.insert((t, p));
    }
    assert_eq!(pairs.len(), n * n, "a class pair is drawn twice");

    let bars = select(&doc, "svg rect[data-call]");
    let names: BTreeSet<String> = bars
        .iter()
        .map(|b| b.value().attr("data-call").unwrap().to_string())
        .collect();
    assert_eq!(bars.len(), calls.len());
    assert_eq!(&names, calls);
    for bar in &bars {
        let stage = bar.value().attr("data-stage").unwrap();
        assert!(StageId::from_name(stage).is_some(), "{stage}");
    }
    doc
}

#[test]
fn the_page_has_a_cell_per_class_pair_and_a_bar_per_call() {
    let odd = r#"<b>&"quoted" 'x'"#;
    let classes: Vec<String> = ["cat", "dog", odd].map(String::from).to_vec();
    let report = report(&classes);
    let calls = calls(2);
    let page = render(&report, &calls);
    let names = calls.iter().map(|c| c.name.clone()).collect();
    let doc = check_page(&page, &report, &names);

    // Class names are text, whatever they hold: the parser reads them back as written.
    assert!(!page.contains("<b>&"));
    let text: String = doc.root_element().text().collect();
    assert!(text.contains(odd), "{text}");
    assert!(text.contains("a <warning> & more"));
    let rows = select(&doc, "table.classes tr");
    assert_eq!(rows.len(), 1 + classes.len());
    assert!(text.contains("50.00 %"));
}

#[test]
fn a_hundred_classes_fit_and_no_calls_leave_the_timeline_out() {
    let classes: Vec<String> = (0..100).map(|i| format!("class-{i:03}")).collect();
    let report = report(&classes);
    let page = render(&report, &[]);
    let doc = check_page(&page, &report, &BTreeSet::new());
    let width: f64 = select(&doc, "svg")[0]
        .value()
        .attr("width")
        .unwrap()
        .parse()
        .unwrap();
    assert!(width <= 1000.0, "{width}");
    let text: String = doc.root_element().text().collect();
    assert!(text.contains("class-099"), "the last class has no label");
    assert!(!page.contains("Timeline"));
}

#[tokio::test]
async fn a_run_writes_its_page_and_the_store_lists_deletes_its_runs() {
    let store = common::memory();
    common::put_digits(&store, "data", 0..300).await;
    let params = Params {
        prefix: "data".into(),
        num_pca: 2,
        num_rf: 4,
        trees: 5,
        ..Params::default()
    };
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let run = "20261127T190000.000Z-aaaaaa";
    let report = driver::run(&local, &params, run, 4, &Quiet).await.unwrap();
    let layout = RunLayout::new(run);

    // The page the run wrote: the calls recorded before validation, and validation itself.
    let page = store.get(&layout.report_html()).await.unwrap();
    let expected: BTreeSet<String> = [
        "partition",
        "pca-0",
        "pca-1",
        "rf-0-0",
        "rf-0-1",
        "rf-1-0",
        "rf-1-1",
        "validation",
    ]
    .map(String::from)
    .into();
    check_page(std::str::from_utf8(&page).unwrap(), &report, &expected);
    // Written again from the records, validation's own record included.
    let calls = runs::calls(&store, run).await.unwrap();
    let names: BTreeSet<String> = calls.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, expected);
    check_page(&render(&report, &calls), &report, &expected);

    // An older run that failed after partition, and one that stopped without a word.
    let failed = "20261127T180000.000Z-bbbbbb";
    let silent = "20261127T170000.000Z-cccccc";
    for id in [failed, silent] {
        let params_json = serde_json::to_vec(&params).unwrap();
        store
            .put(&RunLayout::new(id).params(), params_json.into())
            .await
            .unwrap();
    }
    runs::record_outcome(&store, failed, Status::Failed, "stage pca-0 failed: boom")
        .await
        .unwrap();
    // No parameters, no run: nothing is recorded for a run refused before it began.
    runs::record_outcome(
        &store,
        "20261127T160000.000Z-dddddd",
        Status::Failed,
        "refused",
    )
    .await
    .unwrap();
    let listed = runs::list(&store).await.unwrap();
    let seen: Vec<(&str, Status)> = listed
        .iter()
        .map(|r| (r.run_id.as_str(), r.status))
        .collect();
    assert_eq!(
        seen,
        [
            (run, Status::Published),
            (failed, Status::Failed),
            (silent, Status::Unfinished)
        ]
    );
    assert_eq!(listed[0].accuracy, Some(report.accuracy));
    assert_eq!(
        listed[0].model_key.as_deref(),
        Some(layout.model().as_str())
    );
    assert_eq!(
        listed[0].started.as_deref(),
        Some("2026-11-27T19:00:00.000Z")
    );
    assert_eq!(listed[0].params.as_ref(), Some(&params));
    assert_eq!(
        listed[1].message.as_deref(),
        Some("stage pca-0 failed: boom")
    );
    assert_eq!(listed[1].accuracy, None);

    // Deleting a run takes its outputs and its model, and nothing of the others.
    let objects = listed[0].objects;
    assert_eq!(runs::delete(&store, run).await.unwrap(), objects);
    assert!(!store.has_objects(&layout.dir()).await.unwrap());
    assert!(!store.exists(&layout.model()).await.unwrap());
    let left: Vec<String> = runs::list(&store)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(left, [failed, silent]);
}
