//! Stage input JSON, as it arrives in a CloudEvent's data or a job file, through serde and
//! the checks a stage makes before it touches the store: `params.check()`, then the stage's
//! own index and run-id checks, then the keys and forest seeds it derives from them.
//!
//! Every input is tried as each of the four stage inputs; real payloads in the corpus each
//! fit one of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrain_workflow::layout::{RunLayout, valid_run_id};
use mltrain_workflow::params::Params;
use mltrain_workflow::stages::{PartitionInput, PcaInput, RfInput, ValidationInput};

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<PartitionInput>(data) {
        if checked(&input.params) && valid_run_id(&input.run_id) {
            let layout = RunLayout::new(&input.run_id);
            let _ = (layout.partition(0), layout.test_list());
        }
        round_trip(&input);
    }
    if let Ok(input) = serde_json::from_slice::<PcaInput>(data) {
        if checked(&input.params) && input.index < input.params.num_pca {
            let p = &input.params;
            let shares = p.forests_of(input.index);
            assert!(shares >= 1, "PCA function {} feeds no forest", input.index);
            let layout = RunLayout::new(&input.run_id);
            let _ = (
                layout.basis(input.index),
                layout.share(input.index, shares - 1),
            );
        }
        round_trip(&input);
    }
    if let Ok(input) = serde_json::from_slice::<RfInput>(data) {
        let p = &input.params;
        if checked(p)
            && input.pca_index < p.num_pca
            && input.share_index < p.forests_of(input.pca_index)
        {
            let forest = p.forest_index(input.pca_index, input.share_index);
            assert!(forest < p.num_rf, "forest {forest} of {}", p.num_rf);
            p.forest_params(forest)
                .check()
                .expect("checked params give valid forest params");
            let _ = RunLayout::new(&input.run_id).forest(input.pca_index, input.share_index);
        }
        round_trip(&input);
    }
    if let Ok(input) = serde_json::from_slice::<ValidationInput>(data) {
        if checked(&input.params) {
            let layout = RunLayout::new(&input.run_id);
            let _ = (layout.model(), layout.report());
        }
        round_trip(&input);
    }
});

/// `params.check()`, plus what a passing check promises the stages.
fn checked(params: &Params) -> bool {
    if params.check().is_err() {
        return false;
    }
    assert!(params.num_pca >= 1 && params.num_rf >= params.num_pca);
    let total: usize = (0..params.num_pca.min(64))
        .map(|i| params.forests_of(i))
        .sum();
    assert!(total <= params.num_rf);
    true
}

/// What parsed serialises again, and that serialisation parses.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) {
    let json = serde_json::to_vec(value).expect("a parsed input serialises");
    serde_json::from_slice::<T>(&json).expect("a serialised input parses");
}
