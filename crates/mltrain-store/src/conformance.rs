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
    ranges(store, &format!("{root}/ranges")).await;
    pack_in_place(store, &format!("{root}/pack")).await;
}

/// Ranged reads return exactly the bytes asked for, in the order asked, near and far
/// ranges alike (coalesced or not), and the size of an object is its length.
pub async fn ranges(store: &Store, root: &str) {
    let key = format!("{root}/blob");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    store.put(&key, body.clone().into()).await.expect("put");
    let asked = [
        2_900_000..2_999_999,
        0..1,
        10..5000,
        5000..5001,
        1_500_000..1_600_000,
    ];
    let got = store.get_ranges(&key, &asked).await.expect("get_ranges");
    assert_eq!(got.len(), asked.len());
    for (range, bytes) in asked.iter().zip(&got) {
        assert_eq!(
            &bytes[..],
            &body[range.start as usize..range.end as usize],
            "{range:?}"
        );
    }
    assert_eq!(store.size(&key).await.expect("size"), body.len() as u64);
    assert!(matches!(
        store
            .get_ranges(&format!("{root}/none"), std::slice::from_ref(&(0..1)))
            .await,
        Err(Error::NotFound { .. })
    ));
}

/// A per-image prefix packed in place: shards and an index under `.pack/`, the loose images
/// gone only once the index holds them, every image's range holding its bytes, and the
/// index checked against the listing of its shards.
pub async fn pack_in_place(store: &Store, root: &str) {
    let images: Vec<(String, Vec<u8>)> = (0..30u8)
        .map(|i| {
            (
                format!("c{}/{i:02}.png", i % 3),
                vec![i; 700 + 97 * i as usize],
            )
        })
        .collect();
    for (rel, bytes) in &images {
        store
            .put(&format!("{root}/{rel}"), bytes.clone().into())
            .await
            .expect("put");
    }
    store
        .put(&format!("{root}/README.txt"), Bytes::from_static(b"kept"))
        .await
        .expect("put");
    let packed = store
        .pack_prefix(root, 8 << 10, 4, &|_, _| {})
        .await
        .expect("pack");
    assert_eq!((packed.images, packed.deleted), (30, 30));
    assert!(packed.shards > 2, "{packed:?}");
    let keys = store.keys(root).await.expect("keys");
    assert_eq!(keys.len(), 1 + 1 + packed.shards, "{keys:?}");
    assert!(keys.contains(&format!("{root}/README.txt")));
    let index = store.read_pack(root).await.expect("read").expect("packed");
    let by_rel: std::collections::HashMap<&str, &Vec<u8>> =
        images.iter().map(|(rel, b)| (rel.as_str(), b)).collect();
    assert_eq!(index.images.len(), images.len());
    for image in &index.images {
        let rel = &image.key;
        let bytes = by_rel[rel.as_str()];
        let shard = mltrain_pack::shard_key(root, index.shard_of(image));
        let got = store
            .get_ranges(
                &shard,
                std::slice::from_ref(&(image.offset..image.offset + image.length)),
            )
            .await
            .expect("range");
        assert_eq!(&got[0][..], &bytes[..], "{rel}");
    }
    // Run again: already packed, nothing left to delete.
    let again = store
        .pack_prefix(root, 8 << 10, 4, &|_, _| {})
        .await
        .expect("again");
    assert!(again.already_packed && again.deleted == 0, "{again:?}");
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
