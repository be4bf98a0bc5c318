//! Packing images into tar shards, as WebDataset lays them out.

use crate::error::Error;
use crate::index::{Image, Index, Shard, valid_rel};

/// The size a shard closes at by default: 64 MiB, large enough that a request's round trip
/// is small next to its transfer, small enough that a few in flight fit in memory.
pub const DEFAULT_SHARD_SIZE: u64 = 64 << 20;

/// Bytes of a tar header block, and the unit entries are padded to.
const BLOCK: u64 = 512;

/// A shard ready to be written under its name in the pack folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedShard {
    /// Its name, e.g. `shard-000000.tar`.
    pub name: String,
    /// The whole tar file.
    pub bytes: Vec<u8>,
}

/// Packs images, given in sorted order, into shards of about a target size, and builds the
/// index of where each one went. Deterministic: the same images give the same bytes.
pub struct ShardWriter {
    target: u64,
    builder: tar::Builder<Vec<u8>>,
    /// Images in the shard being built.
    in_shard: usize,
    shards: Vec<Shard>,
    classes: Vec<String>,
    images: Vec<Image>,
}

impl std::fmt::Debug for ShardWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWriter")
            .field("target", &self.target)
            .field("shards", &self.shards.len())
            .field("images", &self.images.len())
            .finish_non_exhaustive()
    }
}

impl ShardWriter {
    /// A writer closing shards at about `target` bytes (at least one image per shard, so
    /// an image larger than `target` gets a shard of its own).
    pub fn new(target: u64) -> Self {
        Self {
            target,
            builder: new_builder(),
            in_shard: 0,
            shards: Vec::new(),
            classes: Vec::new(),
            images: Vec::new(),
        }
    }

    /// Adds the image at `rel` (its path below the prefix, `CLASS/NAME`) with its bytes;
    /// returns the shard this closed, if adding it would have taken the open one past the
    /// target size. `rel` must sort after the previous image's.
    pub fn add(&mut self, rel: &str, bytes: &[u8]) -> Result<Option<FinishedShard>, Error> {
        if let Some(previous) = self.images.last() {
            if previous.key.as_str() >= rel {
                return Err(Error::NotSorted {
                    previous: previous.key.clone(),
                    rel: rel.to_string(),
                });
            }
        }
        if !valid_rel(rel) {
            return Err(Error::NotInClass {
                rel: rel.to_string(),
            });
        }
        let length = bytes.len() as u64;
        let entry = BLOCK + padded(length);
        let closed = if self.in_shard > 0 && self.len() + entry + 2 * BLOCK > self.target {
            Some(self.close())
        } else {
            None
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(length);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        // Writes a GNU long-name entry first when `rel` does not fit the header.
        self.builder
            .append_data(&mut header, rel, bytes)
            .map_err(|_| Error::NotInClass {
                rel: rel.to_string(),
            })?;
        let offset = self.len() - padded(length);
        let class_name = rel.split('/').next().unwrap_or_default();
        if self.classes.last().map(String::as_str) != Some(class_name) {
            self.classes.push(class_name.to_string());
        }
        self.images.push(Image {
            key: rel.to_string(),
            class: (self.classes.len() - 1) as u32,
            shard: self.shards.len() as u32,
            offset,
            length,
            crc32: crc32fast::hash(bytes),
        });
        self.in_shard += 1;
        Ok(closed)
    }

    /// Closes the open shard, if it holds any image, and returns it with the index of
    /// every image added.
    pub fn finish(mut self) -> (Option<FinishedShard>, Index) {
        let last = (self.in_shard > 0).then(|| self.close());
        let index = Index {
            shards: self.shards,
            classes: self.classes,
            images: self.images,
        };
        (last, index)
    }

    /// Images added so far.
    pub fn images(&self) -> usize {
        self.images.len()
    }

    fn len(&self) -> u64 {
        self.builder.get_ref().len() as u64
    }

    fn close(&mut self) -> FinishedShard {
        let builder = std::mem::replace(&mut self.builder, new_builder());
        // Writing the end-of-archive blocks to a `Vec` cannot fail.
        let bytes = builder.into_inner().unwrap_or_default();
        let name = crate::shard_name(self.shards.len());
        self.shards.push(Shard {
            name: name.clone(),
            size: bytes.len() as u64,
        });
        self.in_shard = 0;
        FinishedShard { name, bytes }
    }
}

fn new_builder() -> tar::Builder<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    builder
}

/// `len` rounded up to whole tar blocks.
fn padded(len: u64) -> u64 {
    len.div_ceil(BLOCK) * BLOCK
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pack(images: &[(&str, Vec<u8>)], target: u64) -> (Vec<FinishedShard>, Index) {
        let mut writer = ShardWriter::new(target);
        let mut shards = Vec::new();
        for (rel, bytes) in images {
            shards.extend(writer.add(rel, bytes).unwrap());
        }
        let (last, index) = writer.finish();
        shards.extend(last);
        (shards, index)
    }

    fn images() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("bird/a.png", vec![1; 700]),
            ("cat/a.jpg", vec![2; 512]),
            ("cat/b.png", vec![3; 1]),
            // Past the 100 bytes of a tar header's name field: a GNU long-name entry.
            (
                "cat/a-name-long-enough-to-need-a-gnu-long-name-header-in-the-tar-file-because-it-is-over-a-hundred.png",
                vec![4; 3000],
            ),
            ("dog/x/deep.jpeg", vec![]),
        ]
    }

    /// Every image's range in its shard holds its bytes, and ordinary tar reads the shards
    /// back as the same files under the same names.
    #[test]
    fn ranges_hold_the_images_and_tar_reads_them_back() {
        let mut input = images();
        input.sort_by(|a, b| a.0.cmp(b.0));
        let (shards, index) = pack(&input, 4096);
        assert!(shards.len() >= 3, "{} shards", shards.len());
        assert_eq!(index.classes, ["bird", "cat", "dog"]);
        let listing: Vec<(String, u64)> = shards
            .iter()
            .map(|s| (s.name.clone(), s.bytes.len() as u64))
            .collect();
        index.validate(&listing).unwrap();
        let mut read_back = Vec::new();
        for (n, shard) in shards.iter().enumerate() {
            assert_eq!(shard.name, crate::shard_name(n));
            let mut archive = tar::Archive::new(&shard.bytes[..]);
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().to_string_lossy().into_owned();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                read_back.push((name, bytes));
            }
        }
        let want: Vec<(String, Vec<u8>)> = input
            .iter()
            .map(|(rel, b)| (rel.to_string(), b.clone()))
            .collect();
        assert_eq!(read_back, want);
        for ((rel, bytes), image) in input.iter().zip(&index.images) {
            assert_eq!(image.key, *rel);
            assert_eq!(index.class_of(image), rel.split('/').next().unwrap());
            let shard = &shards[image.shard as usize].bytes;
            let range = image.offset as usize..(image.offset + image.length) as usize;
            assert_eq!(&shard[range], &bytes[..], "{rel}");
            assert_eq!(image.crc32, crc32fast::hash(bytes));
        }
        // The same images pack to the same bytes.
        assert_eq!(pack(&input, 4096).0, shards);
    }

    #[test]
    fn shards_close_near_the_target_size() {
        let input: Vec<(String, Vec<u8>)> = (0..40)
            .map(|i| (format!("c{}/{i:03}.png", i % 2), vec![i as u8; 1000]))
            .collect();
        let mut sorted = input.clone();
        sorted.sort();
        let refs: Vec<(&str, Vec<u8>)> = sorted
            .iter()
            .map(|(r, b)| (r.as_str(), b.clone()))
            .collect();
        let (shards, index) = pack(&refs, 10_000);
        assert_eq!(index.images.len(), 40);
        for shard in &shards {
            assert!(shard.bytes.len() <= 10_000, "{}", shard.bytes.len());
        }
        // Each entry is 1536 bytes and the end of the archive 1024: five fit in 10,000.
        assert_eq!(shards.len(), 8);
        // One image larger than the target still gets a shard.
        let (shards, _) = pack(&[("a/big.png", vec![0; 20_000])], 10_000);
        assert_eq!(shards.len(), 1);
        assert!(pack(&[], 10).0.is_empty());
    }

    #[test]
    fn out_of_order_and_classless_images_are_refused() {
        let mut writer = ShardWriter::new(DEFAULT_SHARD_SIZE);
        writer.add("b/1.png", b"x").unwrap();
        assert!(matches!(
            writer.add("a/1.png", b"x"),
            Err(Error::NotSorted { .. })
        ));
        assert!(matches!(
            writer.add("b/1.png", b"x"),
            Err(Error::NotSorted { .. })
        ));
        for rel in ["top.png", "c//1.png", "c/../1.png"] {
            assert!(
                matches!(writer.add(rel, b"x"), Err(Error::NotInClass { .. })),
                "{rel}"
            );
        }
        assert_eq!(writer.images(), 1);
    }
}
