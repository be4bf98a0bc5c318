//! The S3 server restarted in the middle of a run: retries carry the run through, and the
//! model is the one an undisturbed run publishes.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::sync::mpsc;
use std::time::Duration;

use mltrain_store::test_server::S3Server;
use mltrain_workflow::driver::{self, Local, Options, Progress, Quiet};
use mltrain_workflow::objects;
use mltrain_workflow::params::Params;
use mltrain_workflow::stage::StageId;
use mltrain_workflow::stages::Ctx;

/// Stops the store when the PCA stage starts, and lets the stage go on only once the
/// server is down: partition has written to the store, and the PCA functions' first reads
/// meet a dead server.
struct RestartAtPca {
    stop: mpsc::Sender<()>,
    stopped: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Progress for RestartAtPca {
    fn stage_started(&self, stage: StageId, _tasks: usize) {
        if stage == StageId::Pca {
            self.stop.send(()).unwrap();
            self.stopped
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30))
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restart_mid_run_is_carried_through_by_retries() {
    let mut server = S3Server::start();
    let store = server.store();
    common::put_digits(&store, "digits", 0..600).await;
    let params = Params {
        prefix: "digits".into(),
        num_pca: 2,
        num_rf: 4,
        trees: 20,
        ..Params::default()
    };
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let clean = driver::run(&local, &params, "undisturbed", 4, &Quiet)
        .await
        .unwrap();

    let (stop, stop_rx) = mpsc::channel();
    let (stopped_tx, stopped) = mpsc::channel();
    let restarter = std::thread::spawn(move || {
        stop_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the run reached PCA");
        server.restart(Duration::from_millis(500), || stopped_tx.send(()).unwrap());
        server
    });
    let options = Options {
        concurrency: 4,
        ..Options::default()
    };
    let hook = RestartAtPca {
        stop,
        stopped: std::sync::Mutex::new(stopped),
    };
    let report = driver::run_with(&local, &params, "restarted", &options, &hook)
        .await
        .unwrap();
    let _server = restarter.join().unwrap();

    assert_eq!(report.accuracy, clean.accuracy);
    let a = objects::load_model(&store, &clean.model_key).await.unwrap();
    let b = objects::load_model(&store, &report.model_key)
        .await
        .unwrap();
    assert_eq!(a.ensemble, b.ensemble);
}
