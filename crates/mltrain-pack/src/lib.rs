//! The packed data layout: a prefix's images in a few large tar shards plus one index, so
//! that a store with a cost per request (S3) serves a data set in a handful of requests.
//!
//! A shard is an ordinary tar file laid out as WebDataset lays out its shards: each image
//! is one entry named by its path below the prefix (`cat/001.png`), so `tar -x` gives the
//! ImageFolder back and WebDataset reads samples keyed `cat/001`. [`ShardWriter`] packs
//! images, given in sorted order, into shards of about a target size and builds the
//! [`Index`]: per image its key, class, shard, byte range and CRC-32; per shard its name
//! and size. The index is JSON ([`Index::encode`], [`Index::decode`]), checksummed over its
//! content, and [`Index::validate`] checks it against a listing of the shards before any of
//! them is read. Where the objects live is [`index_key`] and [`shard_key`]: a hidden folder
//! `.pack/` below the prefix, which the ImageFolder listing skips.
//!
//! Nothing here does I/O: callers hand in bytes and listings, and write what comes out.
//! Without the default `write` feature the crate holds only the index and the errors.
//!
//! ```
//! use mltrain_pack::{Index, ShardWriter};
//!
//! let mut writer = ShardWriter::new(1 << 20);
//! let mut shards = Vec::new();
//! for (rel, bytes) in [("cat/1.png", &b"meow"[..]), ("dog/1.png", &b"woof"[..])] {
//!     shards.extend(writer.add(rel, bytes).unwrap());
//! }
//! let (last, index) = writer.finish();
//! shards.extend(last);
//! let listing: Vec<(String, u64)> =
//!     shards.iter().map(|s| (s.name.clone(), s.bytes.len() as u64)).collect();
//! index.validate(&listing).unwrap();
//! let image = &index.images[1];
//! let range = image.offset as usize..(image.offset + image.length) as usize;
//! assert_eq!(&shards[0].bytes[range], b"woof");
//! assert_eq!(Index::decode(&index.encode()).unwrap(), index);
//! ```

mod error;
mod index;
#[cfg(feature = "write")]
mod writer;

pub use error::{Error, Problem};
pub use index::{FORMAT, Image, Index, Shard, VERSION};
#[cfg(feature = "write")]
pub use writer::{DEFAULT_SHARD_SIZE, FinishedShard, ShardWriter};

/// The hidden folder below a prefix that holds its index and shards.
pub const PACK_DIR: &str = ".pack";
/// The index's name inside [`PACK_DIR`].
pub const INDEX_NAME: &str = "index.json";

/// The name of shard number `n` inside [`PACK_DIR`]: `shard-000042.tar`.
pub fn shard_name(n: usize) -> String {
    format!("shard-{n:06}.tar")
}

/// Whether `name` (inside [`PACK_DIR`]) is one a packer writes as a shard.
pub fn is_shard_name(name: &str) -> bool {
    name.strip_prefix("shard-")
        .and_then(|rest| rest.strip_suffix(".tar"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The folder of a prefix's packed objects: `PREFIX/.pack`.
pub fn pack_dir(prefix: &str) -> String {
    join(prefix, PACK_DIR)
}

/// The key of a prefix's index: `PREFIX/.pack/index.json`.
pub fn index_key(prefix: &str) -> String {
    join(&pack_dir(prefix), INDEX_NAME)
}

/// The key of a prefix's shard named `name`: `PREFIX/.pack/shard-000000.tar`.
pub fn shard_key(prefix: &str, name: &str) -> String {
    join(&pack_dir(prefix), name)
}

/// The key an image of a packed prefix stands for, `PREFIX/cat/001.png`, as if it were
/// stored on its own: a packed prefix's images are listed, dealt and named by it.
pub fn image_key(prefix: &str, rel: &str) -> String {
    join(prefix, rel)
}

fn join(prefix: &str, name: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_in_a_hidden_folder_below_the_prefix() {
        assert_eq!(index_key("data/pets/"), "data/pets/.pack/index.json");
        assert_eq!(index_key(""), ".pack/index.json");
        assert_eq!(
            shard_key("/data", &shard_name(3)),
            "data/.pack/shard-000003.tar"
        );
        assert_eq!(image_key("data/", "cat/1.png"), "data/cat/1.png");
        assert!(is_shard_name("shard-000003.tar"));
        for name in [
            "index.json",
            "shard-.tar",
            "shard-12a.tar",
            "shard-1.tar.tmp",
        ] {
            assert!(!is_shard_name(name), "{name}");
        }
    }
}
