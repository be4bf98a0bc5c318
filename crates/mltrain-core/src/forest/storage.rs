//! The byte format of a forest: trees as byte strings of little-endian records, and the
//! checks a stored forest passes before it is used.

use serde::{Deserialize, Serialize};

use super::Forest;
use super::tree::{LEAF, Node, Tree};
use crate::error::{Error, Result};

/// The size of one stored [`Node`].
const NODE_BYTES: usize = 12;

/// A tree is stored as its [`TreeData`]: the records are converted in bulk, as serde's one
/// call per number is slow on a model of half a million numbers.
impl Serialize for Tree {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut nodes = Vec::with_capacity(self.nodes.len() * NODE_BYTES);
        for n in &self.nodes {
            nodes.extend_from_slice(&n.feature.to_le_bytes());
            nodes.extend_from_slice(&n.threshold.to_le_bytes());
            nodes.extend_from_slice(&n.next.to_le_bytes());
        }
        let values = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        TreeData { nodes, values }.serialize(serializer)
    }
}

/// A tree as stored, before its records are checked: two byte strings, the nodes as 12-byte
/// records (feature, threshold, next; each little-endian, [`u32::MAX`] as the feature of a
/// leaf) in depth-first preorder, and the leaves' class distributions as little-endian
/// `f32`s. Public only as `unchecked::TreeData`, with the `unchecked` feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TreeData {
    /// The node records; a tree needs whole ones, at least one.
    #[serde(with = "serde_bytes")]
    pub nodes: Vec<u8>,
    /// `n_classes` values per leaf; a tree needs whole ones.
    #[serde(with = "serde_bytes")]
    pub values: Vec<u8>,
}

impl TryFrom<TreeData> for Tree {
    type Error = Error;

    /// Only the record sizes are checked here; what the nodes point at is checked with the
    /// forest ([`ForestData`]).
    fn try_from(data: TreeData) -> Result<Self> {
        if data.nodes.len() % NODE_BYTES != 0 || data.values.len() % 4 != 0 {
            return Err(Error::Format {
                kind: "forest",
                reason: format!(
                    "a tree of {} node bytes and {} value bytes: not whole nodes and values",
                    data.nodes.len(),
                    data.values.len()
                ),
            });
        }
        let word = |b: &[u8]| [b[0], b[1], b[2], b[3]];
        let nodes = data
            .nodes
            .chunks_exact(NODE_BYTES)
            .map(|r| Node {
                feature: u32::from_le_bytes(word(&r[0..4])),
                threshold: f32::from_le_bytes(word(&r[4..8])),
                next: u32::from_le_bytes(word(&r[8..12])),
            })
            .collect();
        let values = data
            .values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(word(b)))
            .collect();
        Ok(Tree { nodes, values })
    }
}

/// What a stored [`Forest`] deserialises into before its invariants are checked, so a
/// corrupted model is an error when read instead of a panic or a loop when predicting.
///
/// Its trees are the crate's own trees when read (their records checked), and [`TreeData`]
/// to write a forest whose records were never checked. Public only as
/// `unchecked::ForestData`, with the `unchecked` feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForestData<T> {
    /// Number of features a row has; every split's feature must be below it.
    pub n_features: usize,
    /// Number of classes; at least 1, and every tree's values hold whole leaves of them.
    pub n_classes: usize,
    /// At least one tree, whose splits point forward within it and whose leaves within its
    /// values.
    pub trees: Vec<T>,
}

impl TryFrom<ForestData<Tree>> for Forest {
    type Error = Error;

    fn try_from(data: ForestData<Tree>) -> Result<Self> {
        let bad = |reason: String| {
            Err(Error::Format {
                kind: "forest",
                reason,
            })
        };
        let ForestData {
            n_features,
            n_classes,
            trees,
        } = data;
        if n_classes == 0 || trees.is_empty() {
            return bad(format!("{n_classes} classes and {} trees", trees.len()));
        }
        for (t, tree) in trees.iter().enumerate() {
            let n_leaves = tree.values.len() / n_classes;
            if tree.nodes.is_empty() || tree.values.len() % n_classes != 0 {
                return bad(format!("tree {t} has no nodes or a partial leaf"));
            }
            for (i, node) in tree.nodes.iter().enumerate() {
                let next = node.next as usize;
                let ok = if node.feature == LEAF {
                    next < n_leaves
                } else {
                    // Children after their parent: every walk moves forward and ends.
                    (node.feature as usize) < n_features && i + 1 < next && next < tree.nodes.len()
                };
                if !ok {
                    return bad(format!("tree {t}, node {i} points outside the tree"));
                }
            }
        }
        Ok(Forest::from_checked(n_features, n_classes, trees))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;
    use crate::forest::ForestParams;
    use crate::forest::MaxFeatures;
    use crate::forest::testdata::blobs;
    use crate::matrix::Matrix;

    #[test]
    fn postcard_round_trip() {
        let (x, y) = blobs(100, 1);
        let forest = ForestParams::new().n_trees(5).fit(&x, &y, 3).expect("fit");
        let bytes = postcard::to_allocvec(&forest).expect("serialize");
        let back: Forest = postcard::from_bytes(&bytes).expect("deserialize");
        assert_eq!(back, forest);
        // The unchecked form is the stored form: it reads a forest's bytes and writes them
        // back unchanged.
        let data: ForestData<TreeData> = postcard::from_bytes(&bytes).expect("as data");
        assert_eq!(postcard::to_allocvec(&data).expect("data"), bytes);
        let params = ForestParams::new()
            .max_features(MaxFeatures::Count(2))
            .seed(7);
        let p_back: ForestParams =
            postcard::from_bytes(&postcard::to_allocvec(&params).expect("ser")).expect("de");
        assert_eq!(p_back, params);
    }

    /// Trees are stored as byte strings of whole 12-byte nodes and 4-byte values; a string
    /// cut anywhere else is refused, where the whole records decode and predict.
    #[test]
    fn partial_node_or_value_bytes_are_rejected() {
        let encode = |nodes: &[u8], values: &[u8]| {
            postcard::to_allocvec(&ForestData {
                n_features: 1,
                n_classes: 2,
                trees: vec![TreeData {
                    nodes: nodes.to_vec(),
                    values: values.to_vec(),
                }],
            })
            .unwrap()
        };
        // One leaf (feature LEAF, threshold 0, distribution 0) predicting class 0.
        let leaf = [LEAF.to_le_bytes(), [0; 4], [0; 4]].concat();
        let values = [1.0f32.to_le_bytes(), 0.0f32.to_le_bytes()].concat();
        let forest: Forest = postcard::from_bytes(&encode(&leaf, &values)).unwrap();
        let proba = forest.predict_proba(&Matrix::zeros(1, 1)).unwrap();
        assert_eq!(proba.as_slice(), &[1.0, 0.0]);
        assert!(postcard::from_bytes::<Forest>(&encode(&leaf[..11], &values)).is_err());
        assert!(postcard::from_bytes::<Forest>(&encode(&leaf, &values[..7])).is_err());
    }

    #[test]
    fn corrupted_forest_is_rejected_when_read() {
        let (x, y) = blobs(30, 1);
        let mut forest = ForestParams::new()
            .n_trees(2)
            .max_depth(2)
            .fit(&x, &y, 3)
            .expect("fit");
        // A right child pointing back at the root would loop forever when predicting.
        forest.trees[0].nodes[0].next = 0;
        let bytes = postcard::to_allocvec(&forest).expect("serialize");
        assert!(postcard::from_bytes::<Forest>(&bytes).is_err());
    }
}
