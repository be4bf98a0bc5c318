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
    let server = S3Server::start();
    common::put_digits(&server.store(), "digits", 0..600).await;
    restart_mid_run(server, "digits").await;
}

/// The same on a packed prefix: the PCA functions' ranged reads of the shards meet the
/// dead server, and are retried like any other read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restart_mid_run_on_a_packed_prefix_is_carried_through() {
    let server = S3Server::start();
    let store = server.store();
    common::put_pictures(&store, "pictures", 40).await;
    let packed = common::pack(&store, "pictures", 64 << 10).await;
    assert!(packed.shards > 1, "{packed:?}");
    assert!(store.keys("pictures/disc").await.unwrap().is_empty());
    restart_mid_run(server, "pictures").await;
}

/// Runs `prefix` undisturbed, then again with the server restarted as PCA starts: the
/// second run publishes the same model.
async fn restart_mid_run(mut server: S3Server, prefix: &str) {
    let store = server.store();
    let params = Params {
        prefix: prefix.into(),
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
