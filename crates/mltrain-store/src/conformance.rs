//! The checks every storage backend must pass: memory, a local directory and a real S3
//! server run the same ones (`tests/conformance.rs`).
//!
//! Each check works below its own prefix, so they can share a bucket, and panics with a
//! message naming what broke. [`all`] runs them in turn below `root`.

use bytes::Bytes;

use crate::{Error, Store};

/// Runs every check below `root` (which should be empty or unused).
pub async fn all(store: &Store, root: &str) {
    put_then_get(store, &format!("{root}/put-get")).await;
    overwrite(store, &format!("{root}/overwrite")).await;
    missing_key(store, &format!("{root}/missing")).await;
    list_with_prefix(store, &format!("{root}/list")).await;
    delete_prefix(store, &format!("{root}/delete")).await;
    delete_one(store, &format!("{root}/delete-one")).await;
    large_object(store, &format!("{root}/large")).await;
    many_keys(store, &format!("{root}/many")).await;
    get_many_keeps_order(store, &format!("{root}/get-many")).await;
}

/// What is written is what is read, byte for byte, including an empty object.
pub async fn put_then_get(store: &Store, root: &str) {
    let body = Bytes::from_static(b"\x00\x01binary\xffbytes");
    store
        .put(&format!("{root}/a.bin"), body.clone())
        .await
        .expect("put");
    assert_eq!(
        store.get(&format!("{root}/a.bin")).await.expect("get"),
        body
    );
    store
        .put(&format!("{root}/empty"), Bytes::new())
        .await
        .expect("put empty");
    assert!(
        store
            .get(&format!("{root}/empty"))
            .await
            .expect("get empty")
            .is_empty()
    );
    assert!(
        store
            .exists(&format!("{root}/a.bin"))
            .await
            .expect("exists")
    );
}

/// A second put under a key replaces the first, even with a shorter body.
pub async fn overwrite(store: &Store, root: &str) {
    let key = format!("{root}/k");
    store
        .put(&key, Bytes::from_static(b"first, longer"))
        .await
        .expect("put");
    store
        .put(&key, Bytes::from_static(b"second"))
        .await
        .expect("overwrite");
    assert_eq!(&store.get(&key).await.expect("get")[..], b"second");
    let listed = store.list(root).await.expect("list");
    assert_eq!(listed.len(), 1, "an overwrite left two objects: {listed:?}");
    assert_eq!(listed[0].size, 6);
}

/// A missing key is `NotFound` naming the key, and `exists` says false.
pub async fn missing_key(store: &Store, root: &str) {
    let key = format!("{root}/nothing-here");
    match store.get(&key).await {
        Err(Error::NotFound { key: k }) => assert_eq!(k, key),
        other => panic!("get of a missing key gave {other:?}"),
    }
    assert!(!store.exists(&key).await.expect("exists"));
    assert!(store.list(&key).await.expect("list").is_empty());
}

/// Listing is by folder (`a/b` does not list `a/bc`), recursive, sorted, with sizes.
pub async fn list_with_prefix(store: &Store, root: &str) {
    for (key, body) in [
        ("p/b/2", "22"),
        ("p/a/1", "1"),
        ("p/a/deep/3", "333"),
        ("pq/x", "x"),
        ("q/y", "y"),
    ] {
        store
            .put(&format!("{root}/{key}"), Bytes::from(body))
            .await
            .expect("put");
    }
    let listed = store.list(&format!("{root}/p")).await.expect("list");
    let got: Vec<(String, u64)> = listed.into_iter().map(|o| (o.key, o.size)).collect();
    let want: Vec<(String, u64)> = [("p/a/1", 1), ("p/a/deep/3", 3), ("p/b/2", 2)]
        .iter()
        .map(|(k, n)| (format!("{root}/{k}"), *n))
        .collect();
    assert_eq!(got, want);
    // A trailing slash means the same folder.
    assert_eq!(
        store.list(&format!("{root}/p/")).await.expect("list").len(),
        3
    );
    assert_eq!(store.list(root).await.expect("list").len(), 5);
    // `keys` (which a local store answers from its directory) lists the same keys.
    for prefix in ["p", "p/", "p/a", "pq", "nothing", "p/a/1"] {
        let prefix = format!("{root}/{prefix}");
        let listed: Vec<String> = store
            .list(&prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(store.keys(&prefix).await.expect("keys"), listed, "{prefix}");
    }
}

/// Deleting a prefix deletes exactly the objects below it.
pub async fn delete_prefix(store: &Store, root: &str) {
    for key in ["d/1", "d/sub/2", "dd/keep", "keep"] {
        store
            .put(&format!("{root}/{key}"), Bytes::from_static(b"x"))
            .await
            .expect("put");
    }
    assert_eq!(
        store
            .delete_prefix(&format!("{root}/d"))
            .await
            .expect("delete"),
        2
    );
    let left = store.keys(root).await.expect("keys");
    assert_eq!(left, [format!("{root}/dd/keep"), format!("{root}/keep")]);
    assert_eq!(
        store
            .delete_prefix(&format!("{root}/d"))
            .await
            .expect("delete again"),
        0
    );
}

/// Deleting one key deletes that object only, and deleting a missing one is no error.
pub async fn delete_one(store: &Store, root: &str) {
    for key in ["a", "a.b", "b/a"] {
        store
            .put(&format!("{root}/{key}"), Bytes::from_static(b"x"))
            .await
            .expect("put");
    }
    store.delete(&format!("{root}/a")).await.expect("delete");
    let left = store.keys(root).await.expect("keys");
    assert_eq!(left, [format!("{root}/a.b"), format!("{root}/b/a")]);
    store
        .delete(&format!("{root}/a"))
        .await
        .expect("delete a missing key");
}

/// An object larger than one network buffer or multipart threshold survives intact.
pub async fn large_object(store: &Store, root: &str) {
    let body: Vec<u8> = (0..(12u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let key = format!("{root}/big");
    store
        .put(&key, Bytes::from(body.clone()))
        .await
        .expect("put large");
    let back = store.get(&key).await.expect("get large");
    assert_eq!(back.len(), body.len());
    assert!(back[..] == body[..], "large object came back different");
    assert_eq!(
        store.list(root).await.expect("list")[0].size,
        body.len() as u64
    );
}

/// More keys than one S3 listing page (1000) or delete batch: nothing dropped or doubled.
pub async fn many_keys(store: &Store, root: &str) {
    const N: usize = 1234;
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter((0..N).map(|i| {
        let key = format!("{root}/{:02}/{i:05}", i % 7);
        async move { store.put(&key, Bytes::from(i.to_string())).await }
    }))
    .buffer_unordered(32)
    .try_collect::<()>()
    .await
    .expect("put many");
    let listed = store.list(root).await.expect("list many");
    assert_eq!(listed.len(), N);
    assert!(listed.windows(2).all(|w| w[0].key < w[1].key), "not sorted");
    let keys = store.keys(root).await.expect("keys many");
    assert!(keys.iter().eq(listed.iter().map(|o| &o.key)), "keys differ");
    assert_eq!(store.delete_prefix(root).await.expect("delete many"), N);
    assert!(
        store
            .list(root)
            .await
            .expect("list after delete")
            .is_empty()
    );
}

/// `get_many` returns bodies in the order of the keys asked for; where the store has a
/// direct reader ([`Store::local_reader`]), it reads the same bodies and misses the same keys.
pub async fn get_many_keeps_order(store: &Store, root: &str) {
    let keys: Vec<String> = (0..50).rev().map(|i| format!("{root}/{i}")).collect();
    for key in &keys {
        store.put(key, Bytes::from(key.clone())).await.expect("put");
    }
    let bodies = store.get_many(&keys, 8).await.expect("get many");
    for (key, body) in keys.iter().zip(&bodies) {
        assert_eq!(&body[..], key.as_bytes());
    }
    if let Some(reader) = store.local_reader(&keys) {
        for (key, body) in keys.iter().zip(&bodies) {
            assert_eq!(&reader.read(key).expect("direct read"), body);
        }
        let missing = format!("{root}/missing");
        assert!(
            matches!(reader.read(&missing), Err(Error::NotFound { key }) if key == missing),
            "a direct read of a missing key is NotFound"
        );
    }
}
