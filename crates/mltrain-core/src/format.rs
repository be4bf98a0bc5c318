//! The envelope of every object mltrain stores: a header naming the object's kind and format
//! version, a CRC-32 of the payload, then the payload (postcard-encoded serde data).
//!
//! ```text
//! offset  size  field
//! 0       4     magic "MLTR"
//! 4       4     kind tag, e.g. "PCAB" (PCA basis), "FRST" (forest)
//! 8       2     format version (little endian)
//! 10      2     reserved, zero
//! 12      8     payload length (little endian)
//! 20      4     CRC-32 (IEEE) of the payload
//! 24      ...   payload
//! ```
//!
//! A truncated, corrupted or foreign object, or one of another kind or version, is refused
//! with [`Error::Format`]: it is never silently used.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"MLTR";
const HEADER_LEN: usize = 24;

/// The version of the payload layouts this build writes and reads, but for key lists
/// ([`KEY_LIST_VERSION`]). Version 3 records the images' channels in key lists and models,
/// and the run's `skip_invalid` in the parameters a model records; version 2 stores a
/// forest's trees as byte strings; version 1 stored them as serde sequences of numbers.
pub const FORMAT_VERSION: u16 = 3;

/// The version of the key-list layout: 4 adds where a packed image's bytes are (shard,
/// range, checksum). Its own number, so that published models of version 3 stay readable.
pub const KEY_LIST_VERSION: u16 = 4;

/// What an object holds; the tag is stored in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A partition's list of image keys and labels.
    KeyList,
    /// A fitted PCA basis.
    PcaBasis,
    /// Projected rows and labels, one forest's share.
    Rows,
    /// A trained random forest.
    Forest,
    /// A published ensemble model.
    Model,
}

impl Kind {
    fn tag(self) -> &'static [u8; 4] {
        match self {
            Kind::KeyList => b"KEYS",
            Kind::PcaBasis => b"PCAB",
            Kind::Rows => b"ROWS",
            Kind::Forest => b"FRST",
            Kind::Model => b"MODL",
        }
    }

    /// The payload layout version this build writes and reads for this kind.
    pub fn version(self) -> u16 {
        match self {
            Kind::KeyList => KEY_LIST_VERSION,
            _ => FORMAT_VERSION,
        }
    }

    /// Human name, used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::KeyList => "key list",
            Kind::PcaBasis => "PCA basis",
            Kind::Rows => "projected rows",
            Kind::Forest => "forest",
            Kind::Model => "model",
        }
    }
}

/// Encodes `value` as an object of `kind`.
///
/// The payload is serialised once to size it and once into place behind the header: a model
/// is megabytes, and growing a buffer by doubling, then copying it behind the header, costs
/// more (copies and fresh pages) than the sizing pass.
pub fn encode<T: Serialize>(kind: Kind, value: &T) -> Result<Vec<u8>> {
    let cannot = |e: postcard::Error| Error::Format {
        kind: kind.name(),
        reason: format!("cannot encode: {e}"),
    };
    let len = postcard::experimental::serialized_size(value).map_err(cannot)?;
    let mut out = vec![0; HEADER_LEN + len];
    let (header, payload) = out.split_at_mut(HEADER_LEN);
    let written = postcard::to_slice(value, payload).map_err(cannot)?.len();
    debug_assert_eq!(written, len);
    header[..4].copy_from_slice(MAGIC);
    header[4..8].copy_from_slice(kind.tag());
    header[8..10].copy_from_slice(&kind.version().to_le_bytes());
    header[12..20].copy_from_slice(&(len as u64).to_le_bytes());
    header[20..24].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    Ok(out)
}

/// Decodes an object of `kind`, checking magic, kind, version, length and checksum first.
pub fn decode<T: DeserializeOwned>(kind: Kind, bytes: &[u8]) -> Result<T> {
    let fail = |reason: String| Error::Format {
        kind: kind.name(),
        reason,
    };
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(fail(
            "not an mltrain object (bad magic or too short)".into(),
        ));
    }
    let tag = &bytes[4..8];
    if tag != kind.tag() {
        return Err(fail(format!(
            "holds a `{}` object",
            String::from_utf8_lossy(tag)
        )));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != kind.version() {
        return Err(fail(format!(
            "format version {version}, this build reads version {}",
            kind.version()
        )));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(fail(format!(
            "truncated or padded: header says {len} payload bytes, found {}",
            payload.len()
        )));
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap_or_default());
    if crc32fast::hash(payload) != crc {
        return Err(fail("checksum mismatch: the object is corrupted".into()));
    }
    postcard::from_bytes(payload).map_err(|e| fail(format!("cannot decode payload: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let value = (vec![1.5f32, -2.0], String::from("seven"));
        let bytes = encode(Kind::Rows, &value).unwrap();
        assert_eq!(&bytes[..8], b"MLTRROWS");
        let back: (Vec<f32>, String) = decode(Kind::Rows, &bytes).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn refuses_damaged_or_foreign_objects() {
        let bytes = encode(Kind::Forest, &vec![7u32; 100]).unwrap();
        let check = |b: &[u8], needle: &str| {
            let err = decode::<Vec<u32>>(Kind::Forest, b).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        };
        check(&bytes[..bytes.len() - 1], "truncated");
        check(&bytes[..10], "bad magic");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        check(&flipped, "checksum");
        let mut future = bytes.clone();
        future[8] = 9;
        check(&future, "format version 9");
        // Key lists have a version of their own: one of the general version is refused.
        let mut list = encode(Kind::KeyList, &vec![7u32]).unwrap();
        assert_eq!(decode::<Vec<u32>>(Kind::KeyList, &list).unwrap(), [7]);
        list[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let err = decode::<Vec<u32>>(Kind::KeyList, &list).unwrap_err();
        assert!(err.to_string().contains("format version 3"), "{err}");
        check(b"{\"json\": true, \"padding\": 1234}", "bad magic");
        let err = decode::<Vec<u32>>(Kind::Model, &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid model object") && err.contains("FRST"),
            "{err}"
        );
    }
}
