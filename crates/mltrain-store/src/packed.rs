//! The packed layout's I/O ([`mltrain_pack`] holds its format): a packed upload, the
//! in-place conversion of a per-image prefix, and reading a prefix's index.
//!
//! Shards are written first, the index last: its presence says every shard it names has
//! landed. Loose images are deleted only once an index holding them, byte for byte, is
//! written and its shards are listed, so an interrupted conversion loses nothing and a
//! re-run finishes it.

use std::collections::HashMap;
use std::path::Path;
use std::pin::pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use mltrain_pack::{FinishedShard, Index, ShardWriter};

use crate::client::{Store, select_files};
use crate::error::{Error, Result};
use crate::folder::{self, Skip};

/// Shards being written at once: memory holds these and the one being filled, so at most
/// `(SHARDS_IN_FLIGHT + 1) × shard size` of shard bytes (320 MiB at the 64 MiB default).
pub const SHARDS_IN_FLIGHT: usize = 4;

/// What a packed upload ([`Store::upload_dir_packed`]) or a conversion
/// ([`Store::pack_prefix`]) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// Shards the prefix's index names.
    pub shards: usize,
    /// Images the index holds.
    pub images: usize,
    /// Bytes of all its shards.
    pub bytes: u64,
    /// Files passed over, with why (by path below the folder or prefix), sorted.
    pub skipped: Vec<(String, Skip)>,
    /// Loose images deleted once the index held them (a conversion only).
    pub deleted: usize,
    /// Whether the prefix was packed already (a conversion then only finishes deleting).
    pub already_packed: bool,
}

impl Packed {
    fn of(index: &Index) -> Self {
        Self {
            shards: index.shards.len(),
            images: index.images.len(),
            bytes: index.shards.iter().map(|s| s.size).sum(),
            ..Self::default()
        }
    }
}

impl Store {
    /// Uploads the images below `dir` (the files [`Store::upload_dir`] takes, and the same
    /// skip report) packed into shards of about `shard_size` bytes under `prefix/.pack/`,
    /// then their index. Files are read `concurrency` at a time, in sorted order; calls
    /// `progress(images_packed, images_total)`. An index already there is deleted first,
    /// so that an interrupted upload never leaves an index over shards it does not describe.
    pub async fn upload_dir_packed(
        &self,
        dir: &Path,
        prefix: &str,
        shard_size: u64,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Packed> {
        self.check_bucket().await?;
        let prefix = prefix.trim_matches('/');
        let (files, skipped) = select_files(dir, false).await?;
        check_class_folders(prefix, files.iter().map(|f| f.rel.as_str()))?;
        self.delete(&mltrain_pack::index_key(prefix)).await?;
        let total = files.len();
        let reads = futures::stream::iter(files.into_iter().map(|found| async move {
            match tokio::fs::read(&found.path).await {
                Ok(bytes) => Ok((found.rel, Bytes::from(bytes))),
                Err(source) => Err(Error::Io {
                    path: found.path,
                    source,
                }),
            }
        }))
        .buffered(concurrency.max(1));
        let index = self
            .write_pack(prefix, reads, shard_size, total, progress)
            .await?;
        Ok(Packed {
            skipped,
            ..Packed::of(&index)
        })
    }

    /// Converts the per-image prefix `prefix` to the packed layout in place: lists its
    /// images by the ImageFolder rule, fetches them `concurrency` at a time, writes the
    /// shards, then the index, checks them, and only then deletes the loose images the
    /// index holds. Other files stay where they are.
    ///
    /// On a prefix already packed it finishes an interrupted conversion: loose images that
    /// the index holds with the same bytes are deleted. Any other loose image is refused
    /// ([`Error::Repack`]) and nothing is deleted: packing it would mean rewriting shards
    /// the index needs.
    pub async fn pack_prefix(
        &self,
        prefix: &str,
        shard_size: u64,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Packed> {
        self.check_bucket().await?;
        let prefix = prefix.trim_matches('/');
        let pack_dir = mltrain_pack::pack_dir(prefix);
        let mut loose = Vec::new();
        let mut skipped = Vec::new();
        for key in self.keys(prefix).await? {
            if key.starts_with(&format!("{pack_dir}/")) {
                continue;
            }
            let rel = relative(prefix, &key).to_string();
            match folder::skip_reason(&rel) {
                Some(why) => skipped.push((rel, why)),
                None => loose.push((key, rel)),
            }
        }
        if let Some(index) = self.pack_index(prefix).await? {
            self.check_pack(prefix, &index).await?;
            let keys: Vec<String> = loose.iter().map(|(key, _)| key.clone()).collect();
            let bodies = self.get_many(&keys, concurrency).await?;
            let held: HashMap<&str, &mltrain_pack::Image> =
                index.images.iter().map(|i| (i.key.as_str(), i)).collect();
            let differ: Vec<String> = loose
                .iter()
                .zip(&bodies)
                .filter(|((_, rel), bytes)| {
                    !held.get(rel.as_str()).is_some_and(|image| {
                        image.length == bytes.len() as u64 && image.crc32 == crc32fast::hash(bytes)
                    })
                })
                .map(|((key, _), _)| key.clone())
                .collect();
            if !differ.is_empty() {
                return Err(Error::Repack {
                    prefix: prefix.to_string(),
                    images: differ,
                });
            }
            let deleted = self.delete_keys(&keys, concurrency).await?;
            return Ok(Packed {
                skipped,
                deleted,
                already_packed: true,
                ..Packed::of(&index)
            });
        }
        if loose.is_empty() {
            return Err(Error::NotFound {
                key: format!("{prefix}/<class>/<image>"),
            });
        }
        check_class_folders(prefix, loose.iter().map(|(_, rel)| rel.as_str()))?;
        let total = loose.len();
        let store = self.clone();
        let fetches = loose.iter().cloned().map(move |(key, rel)| {
            let store = store.clone();
            async move { Ok::<_, Error>((rel, store.get(&key).await?)) }
        });
        let reads = futures::stream::iter(fetches).buffered(concurrency.max(1));
        let index = self
            .write_pack(prefix, reads, shard_size, total, progress)
            .await?;
        // What the loose images are deleted on the strength of: the index read back, and
        // its shards listed with their sizes.
        let written = self.pack_index(prefix).await?.unwrap_or_default();
        self.check_pack(prefix, &written).await?;
        let held: std::collections::HashSet<&str> =
            written.images.iter().map(|i| i.key.as_str()).collect();
        let keys: Vec<String> = loose
            .iter()
            .filter(|(_, rel)| held.contains(rel.as_str()))
            .map(|(key, _)| key.clone())
            .collect();
        let deleted = self.delete_keys(&keys, concurrency).await?;
        Ok(Packed {
            skipped,
            deleted,
            ..Packed::of(&index)
        })
    }

    /// The index of `prefix` if it is packed (`None` if it has no index), decoded but not
    /// yet checked against its shards ([`Store::check_pack`]).
    pub async fn pack_index(&self, prefix: &str) -> Result<Option<Index>> {
        let key = mltrain_pack::index_key(prefix);
        let bytes = match self.get(&key).await {
            Ok(bytes) => bytes,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Index::decode(&bytes)
            .map(Some)
            .map_err(|source| Error::Pack { key, source })
    }

    /// Checks `index` against one listing of `prefix/.pack/`: every shard it names there
    /// with its size, no range past a shard's end, no shard it does not name.
    pub async fn check_pack(&self, prefix: &str, index: &Index) -> Result<()> {
        let listing = self.list_pack(prefix).await?;
        validate_pack(prefix, index, &listing)
    }

    /// `(name, size)` of every object under `prefix/.pack/`.
    async fn list_pack(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let pack_dir = mltrain_pack::pack_dir(prefix);
        Ok(self
            .list(&pack_dir)
            .await?
            .into_iter()
            .map(|o| (relative(&pack_dir, &o.key).to_string(), o.size))
            .collect())
    }

    /// The index of `prefix` checked against its shards, or `None` if it is not packed.
    /// The index is read and its folder listed at once: one round trip, not two.
    pub async fn read_pack(&self, prefix: &str) -> Result<Option<Index>> {
        let (index, listing) = futures::join!(self.pack_index(prefix), self.list_pack(prefix));
        let Some(index) = index? else {
            return Ok(None);
        };
        validate_pack(prefix, &index, &listing?)?;
        Ok(Some(index))
    }

    /// Packs `images` (`(path below prefix, bytes)`, sorted) into shards written with
    /// [`SHARDS_IN_FLIGHT`] at once while the next fills, then writes the index and deletes
    /// shards of an earlier packing that it does not name.
    async fn write_pack(
        &self,
        prefix: &str,
        images: impl Stream<Item = Result<(String, Bytes)>>,
        shard_size: u64,
        total: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Index> {
        let index_key = mltrain_pack::index_key(prefix);
        let pack_error = |source| Error::Pack {
            key: index_key.clone(),
            source,
        };
        let mut writer = ShardWriter::new(shard_size);
        let mut puts = tokio::task::JoinSet::new();
        let mut images = pin!(images);
        progress(0, total);
        while let Some(image) = images.next().await {
            let (rel, bytes) = image?;
            if let Some(shard) = writer.add(&rel, &bytes).map_err(pack_error)? {
                while puts.len() >= SHARDS_IN_FLIGHT {
                    join_one(&mut puts).await?;
                }
                puts.spawn(self.clone().put_shard(prefix.to_string(), shard));
            }
            progress(writer.images(), total);
        }
        let (last, index) = writer.finish();
        if let Some(shard) = last {
            puts.spawn(self.clone().put_shard(prefix.to_string(), shard));
        }
        while !puts.is_empty() {
            join_one(&mut puts).await?;
        }
        self.put(&index_key, Bytes::from(index.encode())).await?;
        let pack_dir = mltrain_pack::pack_dir(prefix);
        let named: std::collections::HashSet<&str> =
            index.shards.iter().map(|s| s.name.as_str()).collect();
        for object in self.list(&pack_dir).await? {
            let name = relative(&pack_dir, &object.key);
            if mltrain_pack::is_shard_name(name) && !named.contains(name) {
                self.delete(&object.key).await?;
            }
        }
        Ok(index)
    }

    async fn put_shard(self, prefix: String, shard: FinishedShard) -> Result<()> {
        let key = mltrain_pack::shard_key(&prefix, &shard.name);
        self.put(&key, Bytes::from(shard.bytes)).await
    }

    /// Deletes `keys`, `concurrency` at a time; returns how many.
    async fn delete_keys(&self, keys: &[String], concurrency: usize) -> Result<usize> {
        let store = self.clone();
        let deletes = keys.iter().cloned().map(move |key| {
            let store = store.clone();
            async move { store.delete(&key).await }
        });
        let mut stream = futures::stream::iter(deletes).buffer_unordered(concurrency.max(1));
        let mut n = 0;
        while let Some(done) = stream.next().await {
            done?;
            n += 1;
        }
        Ok(n)
    }
}

async fn join_one(puts: &mut tokio::task::JoinSet<Result<()>>) -> Result<()> {
    match puts.join_next().await {
        Some(Ok(put)) => put,
        Some(Err(e)) => Err(Error::Backend {
            op: "write",
            key: "a shard".into(),
            source: Box::new(e),
        }),
        None => Ok(()),
    }
}

/// Refuses, before anything is written, an image outside a class folder: the packed
/// layout, like the workflow, needs `CLASS/NAME`.
fn check_class_folders<'a>(prefix: &str, mut rels: impl Iterator<Item = &'a str>) -> Result<()> {
    match rels.find(|rel| !rel.contains('/')) {
        Some(rel) => Err(Error::Pack {
            key: mltrain_pack::index_key(prefix),
            source: mltrain_pack::Error::NotInClass {
                rel: rel.to_string(),
            },
        }),
        None => Ok(()),
    }
}

/// `index` checked against the listing of its shards' folder.
fn validate_pack(prefix: &str, index: &Index, listing: &[(String, u64)]) -> Result<()> {
    index.validate(listing).map_err(|source| Error::Pack {
        key: mltrain_pack::index_key(prefix),
        source,
    })
}

/// `key` below `prefix`, without the prefix and its `/`.
fn relative<'a>(prefix: &str, key: &'a str) -> &'a str {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return key;
    }
    key.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn memory() -> Store {
        Store::from_url("memory://").unwrap()
    }

    async fn put_images(store: &Store, prefix: &str, n: u8) {
        for i in 0..n {
            let key = format!("{prefix}/c{}/{i:02}.png", i % 2);
            store.put(&key, vec![i; 3000].into()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_packed_upload_takes_the_images_and_reports_the_rest() {
        let src = tempfile::tempdir().unwrap();
        for rel in [
            "a/1.png",
            "a/2.JPG",
            "b/x/3.jpeg",
            "b/.hidden.png",
            "notes.txt",
        ] {
            let path = src.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, rel.repeat(400)).unwrap();
        }
        let store = memory();
        let calls = std::sync::Mutex::new(Vec::new());
        let packed = store
            .upload_dir_packed(src.path(), "/up/", 4096, 4, &|done, total| {
                calls.lock().unwrap().push((done, total))
            })
            .await
            .unwrap();
        assert_eq!((packed.images, packed.shards, packed.deleted), (3, 3, 0));
        assert_eq!(
            packed.skipped,
            [
                ("b/.hidden.png".to_string(), Skip::Hidden),
                ("notes.txt".to_string(), Skip::NotImage)
            ]
        );
        assert_eq!(calls.lock().unwrap().last(), Some(&(3, 3)));
        let index = store.read_pack("up").await.unwrap().unwrap();
        let keys: Vec<&str> = index.images.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["a/1.png", "a/2.JPG", "b/x/3.jpeg"]);
        assert_eq!(
            packed.bytes,
            index.shards.iter().map(|s| s.size).sum::<u64>()
        );
        // Only the pack folder was written.
        assert!(
            store
                .keys("up")
                .await
                .unwrap()
                .iter()
                .all(|k| k.starts_with("up/.pack/"))
        );

        // Packed again with fewer images: the shards it no longer names are gone.
        std::fs::remove_file(src.path().join("b/x/3.jpeg")).unwrap();
        let again = store
            .upload_dir_packed(src.path(), "up", 4096, 4, &|_, _| {})
            .await
            .unwrap();
        assert_eq!((again.images, again.shards), (2, 2));
        store.read_pack("up").await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_image_outside_a_class_folder_is_refused_before_anything_is_written() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a")).unwrap();
        std::fs::write(src.path().join("a/1.png"), b"1").unwrap();
        std::fs::write(src.path().join("top.png"), b"2").unwrap();
        let store = memory();
        let err = store
            .upload_dir_packed(src.path(), "up", 4096, 4, &|_, _| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains("top.png"), "{err}");
        assert!(store.keys("").await.unwrap().is_empty());
    }

    /// Interrupted before its index was written, a conversion left shards (one of them
    /// beyond what the data needs) and every loose image: running it again finishes.
    #[tokio::test]
    async fn a_conversion_interrupted_before_its_index_is_run_again() {
        let store = memory();
        put_images(&store, "p", 10).await;
        let stray = mltrain_pack::shard_key("p", &mltrain_pack::shard_name(40));
        store.put(&stray, vec![0; 1024].into()).await.unwrap();
        let packed = store.pack_prefix("p", 8192, 4, &|_, _| {}).await.unwrap();
        assert_eq!((packed.images, packed.deleted), (10, 10));
        assert!(!store.exists(&stray).await.unwrap());
        let index = store.read_pack("p").await.unwrap().unwrap();
        assert_eq!(index.images.len(), 10);
    }

    /// Interrupted while deleting: the index holds every image, some loose ones are left.
    /// Running it again deletes those, and only those the index holds byte for byte.
    #[tokio::test]
    async fn a_conversion_interrupted_while_deleting_is_finished_safely() {
        let store = memory();
        put_images(&store, "p", 10).await;
        let loose = store.keys("p").await.unwrap();
        store.pack_prefix("p", 8192, 4, &|_, _| {}).await.unwrap();
        // Put back three, as if their deletion had not happened.
        for key in &loose[..3] {
            let i: u8 = key.rsplit('/').next().unwrap()[..2].parse().unwrap();
            store.put(key, vec![i; 3000].into()).await.unwrap();
        }
        let finished = store.pack_prefix("p", 8192, 4, &|_, _| {}).await.unwrap();
        assert!(finished.already_packed);
        assert_eq!((finished.deleted, finished.images), (3, 10));
        assert!(store.keys("p/c0").await.unwrap().is_empty());

        // A loose image that is not what the index holds, and a new one: refused, and
        // nothing deleted.
        store
            .put(&loose[0], b"changed".to_vec().into())
            .await
            .unwrap();
        store
            .put("p/c1/new.png", b"new".to_vec().into())
            .await
            .unwrap();
        let err = store
            .pack_prefix("p", 8192, 4, &|_, _| {})
            .await
            .unwrap_err();
        let Error::Repack { images, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(
            images.contains(&loose[0]) && images.contains(&"p/c1/new.png".to_string()),
            "{err}"
        );
        assert!(store.exists(&loose[0]).await.unwrap());
        assert!(store.exists("p/c1/new.png").await.unwrap());
    }
}
