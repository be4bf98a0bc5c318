//! What the service tests share: a tiny data set, small parameters, a server state and the
//! local backend's report to compare against.
#![allow(dead_code, clippy::unwrap_used)]

use mltrain_serve::{AppState, Function, Runner, Secrets};
use mltrain_store::Store;
use mltrain_workflow::driver;
use mltrain_workflow::params::Params;
use mltrain_workflow::report::Report;
use mltrain_workflow::stages::Ctx;

/// Two classes of tiny PNGs, dark and bright, under `data/`.
pub async fn tiny_store() -> Store {
    let store = Store::from_url("memory://").unwrap();
    for i in 0..40u8 {
        let (class, level) = if i % 2 == 0 {
            ("dark", i)
        } else {
            ("bright", 200 + i)
        };
        let png = mltrain_dataset::encode_png(2, 2, &[level; 4]).unwrap();
        store
            .put(&format!("data/{class}/{i}.png"), png.into())
            .await
            .unwrap();
    }
    store
}

pub fn params() -> Params {
    Params {
        prefix: "data".into(),
        num_pca: 2,
        num_rf: 3,
        components: 1,
        trees: 5,
        min_samples_split: 2,
        ..Params::default()
    }
}

/// A server for every function, running them in-process over `store`.
pub fn state(store: Store) -> AppState {
    AppState {
        runner: Runner::local(Ctx::new(store)),
        functions: Function::ALL.to_vec(),
        secrets: Secrets::default(),
        sink: None,
    }
}

/// The report of the same run on the local backend, the reference for every transport.
pub async fn local_report(store: &Store, run_id: &str) -> Report {
    driver::run(
        &driver::Local {
            ctx: Ctx::new(store.clone()),
        },
        &params(),
        run_id,
        4,
        &driver::Quiet,
    )
    .await
    .unwrap()
}
