//! A packed prefix's index (`PREFIX/.pack/index.json`) through `mltrain_pack::Index::decode`,
//! then checked against a listing of its own shards. Each input is tried as it is, and, if
//! it is a JSON object, with its checksum made right, so mutations get past the checksum.
//!
//! What decodes re-encodes to an index that decodes to the same; validating it against the
//! shards it names, at their sizes, fails only on ranges past a shard's end, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrain_pack::{Error, Index, Problem};

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(data) {
        let content = serde_json::json!([value["shards"], value["classes"], value["images"]]);
        if let (Ok(bytes), Some(object)) = (serde_json::to_vec(&content), value.as_object_mut()) {
            object.insert("checksum".into(), crc32fast::hash(&bytes).into());
            check(&serde_json::to_vec(&value).unwrap_or_default());
        }
    }
});

fn check(data: &[u8]) {
    let Ok(index) = Index::decode(data) else {
        return;
    };
    let again = Index::decode(&index.encode()).expect("re-encoded index decodes");
    assert_eq!(again, index);
    let listing: Vec<(String, u64)> = index
        .shards
        .iter()
        .map(|s| (s.name.clone(), s.size))
        .collect();
    if let Err(Error::Mismatch { problems }) = index.validate(&listing) {
        assert!(
            problems
                .iter()
                .all(|p| matches!(p, Problem::PastEnd { .. })),
            "{problems:?}"
        );
    }
}
