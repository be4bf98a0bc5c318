//! The index of a packed prefix: which shard holds each image, at which bytes.
//!
//! On the wire it is one JSON object, compact at a million images because each image is a
//! row of an array rather than an object with named fields:
//!
//! ```text
//! {"format":"mltrain-pack","version":1,"checksum":3735928559,
//!  "shards":[["shard-000000.tar",67109376],...],
//!  "classes":["cat","dog"],
//!  "images":[["cat/001.png",0,0,512,1234,2882400001],...]}
//! ```
//!
//! A shard row is `[name, bytes]`; an image row is `[key, class, shard, offset, length,
//! crc32]`, class and shard indexing their tables. `checksum` is the CRC-32 of the compact
//! JSON of `[shards, classes, images]`, so any change to the content is detected, whatever
//! the whitespace.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Problem};

/// The `format` field of every index.
pub const FORMAT: &str = "mltrain-pack";
/// The index layout this build writes and reads.
pub const VERSION: u32 = 1;

/// A packed prefix's index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Every shard, in order: an image's `shard` indexes this list.
    pub shards: Vec<Shard>,
    /// Class names, sorted: an image's `class` indexes this list.
    pub classes: Vec<String>,
    /// Every image, sorted by key.
    pub images: Vec<Image>,
}

/// One shard of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Its name inside the pack folder, e.g. `shard-000000.tar`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One image of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its path below the prefix, e.g. `cat/001.png`: its tar entry's name.
    pub key: String,
    /// Its class, the first segment of its key: an index into [`Index::classes`].
    pub class: u32,
    /// Its shard: an index into [`Index::shards`].
    pub shard: u32,
    /// Where its bytes start in the shard.
    pub offset: u64,
    /// How many bytes it has.
    pub length: u64,
    /// CRC-32 (IEEE) of its bytes.
    pub crc32: u32,
}

type ImageRow = (String, u32, u32, u64, u64, u32);

#[derive(Serialize)]
struct WireOut<'a> {
    format: &'a str,
    version: u32,
    checksum: u32,
    shards: &'a [(String, u64)],
    classes: &'a [String],
    images: &'a [ImageRow],
}

/// Read first, so that a newer or foreign index is named as such, not as a damaged one.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Deserialize)]
struct WireIn {
    checksum: u32,
    shards: Vec<(String, u64)>,
    classes: Vec<String>,
    images: Vec<ImageRow>,
}

fn checksum(shards: &[(String, u64)], classes: &[String], images: &[ImageRow]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    // Serialising into the hasher: no copy of a million rows' JSON.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), &(shards, classes, images));
    hasher.finalize()
}

struct HashWriter<'a>(&'a mut crc32fast::Hasher);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Index {
    /// The index as JSON, with its checksum.
    pub fn encode(&self) -> Vec<u8> {
        let shards: Vec<(String, u64)> = self
            .shards
            .iter()
            .map(|s| (s.name.clone(), s.size))
            .collect();
        let images: Vec<ImageRow> = self
            .images
            .iter()
            .map(|i| (i.key.clone(), i.class, i.shard, i.offset, i.length, i.crc32))
            .collect();
        let wire = WireOut {
            format: FORMAT,
            version: VERSION,
            checksum: checksum(&shards, &self.classes, &images),
            shards: &shards,
            classes: &self.classes,
            images: &images,
        };
        // Plain strings and numbers: serialising them cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads an index, refusing a foreign format, an unknown version, a damaged content
    /// (checksum) and rows that cannot be right (a shard or class out of range, a key not
    /// in its class's folder, keys out of order or repeated, a range that overflows).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let damaged = |e: serde_json::Error| Error::Damaged {
            reason: e.to_string(),
        };
        let header: Header = serde_json::from_slice(bytes).map_err(damaged)?;
        if header.format != FORMAT {
            return Err(Error::UnknownFormat {
                found: header.format,
            });
        }
        if header.version != VERSION {
            return Err(Error::UnknownVersion {
                version: header.version,
            });
        }
        let wire: WireIn = serde_json::from_slice(bytes).map_err(damaged)?;
        let computed = checksum(&wire.shards, &wire.classes, &wire.images);
        if computed != wire.checksum {
            return Err(Error::Checksum {
                stated: wire.checksum,
                computed,
            });
        }
        let index = Index {
            shards: wire
                .shards
                .into_iter()
                .map(|(name, size)| Shard { name, size })
                .collect(),
            classes: wire.classes,
            images: wire
                .images
                .into_iter()
                .map(|(key, class, shard, offset, length, crc32)| Image {
                    key,
                    class,
                    shard,
                    offset,
                    length,
                    crc32,
                })
                .collect(),
        };
        index.check()?;
        Ok(index)
    }

    /// The rules [`decode`](Self::decode) holds an index to beyond its checksum.
    fn check(&self) -> Result<(), Error> {
        let bad = |image: &str, reason: String| Error::BadImage {
            image: image.to_string(),
            reason,
        };
        let mut names = BTreeSet::new();
        for shard in &self.shards {
            if !crate::is_shard_name(&shard.name) || !names.insert(shard.name.as_str()) {
                return Err(Error::Damaged {
                    reason: format!("shard name `{}` is invalid or repeated", shard.name),
                });
            }
        }
        if !self.classes.windows(2).all(|w| w[0] < w[1]) {
            return Err(Error::Damaged {
                reason: "class names are not sorted and distinct".into(),
            });
        }
        let mut previous: Option<&str> = None;
        for image in &self.images {
            let key = image.key.as_str();
            let Some(class) = self.classes.get(image.class as usize) else {
                return Err(bad(key, format!("class {} out of range", image.class)));
            };
            if self.shards.get(image.shard as usize).is_none() {
                return Err(bad(key, format!("shard {} out of range", image.shard)));
            }
            if !valid_rel(key) || key.split('/').next() != Some(class.as_str()) {
                return Err(bad(
                    key,
                    format!("key is not a path in its class folder `{class}`"),
                ));
            }
            if previous.is_some_and(|p| p >= key) {
                return Err(bad(key, "keys are not sorted and distinct".into()));
            }
            if image.offset.checked_add(image.length).is_none() {
                return Err(bad(key, "its byte range overflows".into()));
            }
            previous = Some(key);
        }
        Ok(())
    }

    /// Checks the index against a listing of its pack folder (`(name, size)` of each object
    /// in it): every shard it names is there with its size, every image's range ends within
    /// its shard, and no shard is there that it does not name. Other objects of the folder
    /// (the index itself) are not shards. Names every problem at once.
    pub fn validate(&self, listing: &[(String, u64)]) -> Result<(), Error> {
        let listed: BTreeMap<&str, u64> = listing
            .iter()
            .filter(|(name, _)| crate::is_shard_name(name))
            .map(|(name, size)| (name.as_str(), *size))
            .collect();
        let mut problems = Vec::new();
        let mut known = BTreeSet::new();
        for shard in &self.shards {
            known.insert(shard.name.as_str());
            match listed.get(shard.name.as_str()) {
                None => problems.push(Problem::MissingShard {
                    shard: shard.name.clone(),
                }),
                Some(&size) if size != shard.size => problems.push(Problem::ShardSize {
                    shard: shard.name.clone(),
                    indexed: shard.size,
                    listed: size,
                }),
                Some(_) => {}
            }
        }
        for name in listed.keys() {
            if !known.contains(name) {
                problems.push(Problem::ExtraShard {
                    shard: name.to_string(),
                });
            }
        }
        for image in &self.images {
            let shard = &self.shards[image.shard as usize];
            let Some(&size) = listed.get(shard.name.as_str()) else {
                continue;
            };
            let end = image.offset.saturating_add(image.length);
            if end > size {
                problems.push(Problem::PastEnd {
                    image: image.key.clone(),
                    shard: shard.name.clone(),
                    end,
                    size,
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Mismatch { problems })
        }
    }

    /// The class name of `image`.
    pub fn class_of(&self, image: &Image) -> &str {
        &self.classes[image.class as usize]
    }

    /// The shard name of `image`.
    pub fn shard_of(&self, image: &Image) -> &str {
        &self.shards[image.shard as usize].name
    }
}

/// A relative path in a class folder, `CLASS/.../NAME`, without empty, `.` or `..`
/// segments: one that is safe to join to a prefix, and to extract.
pub(crate) fn valid_rel(rel: &str) -> bool {
    rel.contains('/')
        && rel
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Index {
        Index {
            shards: vec![
                Shard {
                    name: "shard-000000.tar".into(),
                    size: 4096,
                },
                Shard {
                    name: "shard-000001.tar".into(),
                    size: 2048,
                },
            ],
            classes: vec!["cat".into(), "dog".into()],
            images: vec![
                Image {
                    key: "cat/1.png".into(),
                    class: 0,
                    shard: 0,
                    offset: 512,
                    length: 100,
                    crc32: 7,
                },
                Image {
                    key: "dog/1.jpg".into(),
                    class: 1,
                    shard: 1,
                    offset: 512,
                    length: 1000,
                    crc32: 8,
                },
            ],
        }
    }

    fn listing() -> Vec<(String, u64)> {
        vec![
            ("index.json".into(), 300),
            ("shard-000000.tar".into(), 4096),
            ("shard-000001.tar".into(), 2048),
        ]
    }

    #[test]
    fn round_trips_and_validates() {
        let index = sample();
        let bytes = index.encode();
        assert_eq!(Index::decode(&bytes).unwrap(), index);
        index.validate(&listing()).unwrap();
        // Whitespace is not content.
        let pretty = serde_json::to_vec_pretty(
            &serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        )
        .unwrap();
        assert_eq!(Index::decode(&pretty).unwrap(), index);
    }

    #[test]
    fn a_changed_content_fails_its_checksum() {
        let text = String::from_utf8(sample().encode()).unwrap();
        let edited = text.replace("1000", "1001");
        assert_ne!(edited, text);
        assert!(
            matches!(
                Index::decode(edited.as_bytes()),
                Err(Error::Checksum { .. })
            ),
            "{edited}"
        );
    }

    #[test]
    fn damaged_foreign_and_newer_indexes_are_named() {
        let bytes = sample().encode();
        assert!(matches!(
            Index::decode(&bytes[..bytes.len() / 2]),
            Err(Error::Damaged { .. })
        ));
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value["version"] = 2.into();
        assert_eq!(
            Index::decode(&serde_json::to_vec(&value).unwrap()),
            Err(Error::UnknownVersion { version: 2 })
        );
        value["format"] = "webdataset".into();
        assert!(matches!(
            Index::decode(&serde_json::to_vec(&value).unwrap()),
            Err(Error::UnknownFormat { found }) if found == "webdataset"
        ));
    }

    /// Rows that cannot be right are refused even when the checksum matches (an index
    /// written by another tool, or by a bug).
    #[test]
    fn impossible_rows_are_named() {
        type Damage = fn(&mut Index);
        let cases: [(&str, Damage); 5] = [
            ("shard 9 out of range", |i| i.images[0].shard = 9),
            ("class 5 out of range", |i| i.images[1].class = 5),
            ("class folder `cat`", |i| {
                i.images[0].key = "dog/0.png".into()
            }),
            ("not sorted", |i| i.images.swap(0, 1)),
            ("overflows", |i| i.images[1].offset = u64::MAX),
        ];
        for (want, damage) in cases {
            let mut index = sample();
            damage(&mut index);
            let err = Index::decode(&index.encode()).unwrap_err();
            assert!(
                matches!(err, Error::BadImage { .. }) && err.to_string().contains(want),
                "{want}: {err}"
            );
        }
        let mut index = sample();
        index.shards[1].name = "../../etc/passwd".into();
        assert!(matches!(
            Index::decode(&index.encode()),
            Err(Error::Damaged { .. })
        ));
    }

    #[test]
    fn validation_names_every_mismatch() {
        let index = sample();
        let mut listed = listing();
        listed.retain(|(name, _)| name != "shard-000001.tar");
        listed.push(("shard-000002.tar".into(), 10));
        listed[1].1 = 4000;
        let Err(Error::Mismatch { problems }) = index.validate(&listed) else {
            panic!("validated against a wrong listing");
        };
        assert_eq!(
            problems,
            [
                Problem::ShardSize {
                    shard: "shard-000000.tar".into(),
                    indexed: 4096,
                    listed: 4000
                },
                Problem::MissingShard {
                    shard: "shard-000001.tar".into()
                },
                Problem::ExtraShard {
                    shard: "shard-000002.tar".into()
                },
            ]
        );
        // A range past the end of a shard whose size agrees with the index.
        let mut index = sample();
        index.images[1].length = 1600;
        let err = index.validate(&listing()).unwrap_err();
        assert_eq!(
            err,
            Error::Mismatch {
                problems: vec![Problem::PastEnd {
                    image: "dog/1.jpg".into(),
                    shard: "shard-000001.tar".into(),
                    end: 2112,
                    size: 2048
                }]
            }
        );
        assert!(err.to_string().contains("dog/1.jpg"), "{err}");
    }
}
