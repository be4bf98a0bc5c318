//! What can be wrong with images given to the packer, or with an index.

/// Why images cannot be packed, or why an index cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Images must come in sorted order, so the same folder always packs the same shards.
    #[error("image `{rel}` comes after `{previous}`: images are packed in sorted order")]
    NotSorted {
        /// The image given before.
        previous: String,
        /// The image given out of order.
        rel: String,
    },
    /// An image not inside a class folder (`CLASS/NAME`), or with an empty path segment.
    #[error("image `{rel}` is not in a class folder (CLASS/NAME)")]
    NotInClass {
        /// The image's path below the prefix.
        rel: String,
    },
    /// Not an index: not JSON, or not the index's shape.
    #[error("not a readable pack index: {reason}")]
    Damaged {
        /// What the JSON reader said.
        reason: String,
    },
    /// JSON, but not a pack index of mltrain's.
    #[error("not a pack index: its format is `{found}`, not `{}`", crate::FORMAT)]
    UnknownFormat {
        /// The `format` field found.
        found: String,
    },
    /// An index of a version this build does not read.
    #[error(
        "pack index version {version}, this build reads version {}",
        crate::VERSION
    )]
    UnknownVersion {
        /// The version found.
        version: u32,
    },
    /// The index's content does not match its checksum: it was damaged or edited.
    #[error(
        "pack index checksum mismatch (stated {stated:08x}, content {computed:08x}): the index is damaged"
    )]
    Checksum {
        /// The checksum the index states.
        stated: u32,
        /// The checksum of its content.
        computed: u32,
    },
    /// One image row of the index cannot be right.
    #[error("pack index entry for image `{image}`: {reason}")]
    BadImage {
        /// The image's key below the prefix (or its row number, if the key is the problem).
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// The index does not match the shards listed beside it: every problem, by name.
    #[error("pack index does not match its shards: {}", list(.problems))]
    Mismatch {
        /// Each problem found.
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One way an index does not match the shards listed beside it ([`crate::Index::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The index names a shard that is not there.
    #[error("shard `{shard}` is in the index but missing")]
    MissingShard {
        /// The shard's name.
        shard: String,
    },
    /// A shard is there but not of the size the index says.
    #[error("shard `{shard}` is {listed} bytes, the index says {indexed}")]
    ShardSize {
        /// The shard's name.
        shard: String,
        /// Its size in the index.
        indexed: u64,
        /// Its size as listed.
        listed: u64,
    },
    /// A shard file the index does not know: written by another packing, or left over.
    #[error("shard `{shard}` is not in the index")]
    ExtraShard {
        /// The shard's name.
        shard: String,
    },
    /// An image's bytes would run past the end of its shard.
    #[error("image `{image}` ends at byte {end} of shard `{shard}`, which has {size}")]
    PastEnd {
        /// The image's key below the prefix.
        image: String,
        /// Its shard's name.
        shard: String,
        /// Where its bytes end.
        end: u64,
        /// The shard's size as listed.
        size: u64,
    },
}
