//! A tree as grown and stored: nodes in preorder, leaves' class distributions, and the
//! reference predictor that walks one row down the nodes.

use serde::Deserialize;

use super::storage::TreeData;

/// Marks a leaf in [`Node::feature`].
pub(super) const LEAF: u32 = u32::MAX;

/// One node of a tree, stored in depth-first preorder so a split's left child is the next
/// node and only the right child needs an index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Node {
    /// Feature compared at a split, or [`LEAF`].
    pub(super) feature: u32,
    /// Rows with `x[feature] <= threshold` go left; unused (0) at a leaf.
    pub(super) threshold: f32,
    /// Split: index of the right child. Leaf: index of its class distribution.
    pub(super) next: u32,
}

/// One tree: nodes plus the leaves' class distributions, `n_classes` values per leaf.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "TreeData")]
pub(super) struct Tree {
    pub(super) nodes: Vec<Node>,
    pub(super) values: Vec<f32>,
}

/// One node of a tree as [`Forest::trees`](super::Forest::trees) reads it out,
/// for code that writes a forest in another format (an ONNX exporter). Nodes come in
/// depth-first preorder: a split's left child is the node after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TreeNode<'a> {
    /// Rows with `x[feature] <= threshold` go left (the next node), the others (NaN
    /// included) to node `right`.
    Split {
        /// The feature compared.
        feature: usize,
        /// The threshold, compared in `f32` as prediction does.
        threshold: f32,
        /// Index of the right child within the tree.
        right: usize,
    },
    /// A leaf: the class distribution (`n_classes` values) it adds to the vote.
    Leaf(&'a [f32]),
}

impl Tree {
    /// The nodes in preorder, as [`TreeNode`]s.
    pub(super) fn view(&self, n_classes: usize) -> impl ExactSizeIterator<Item = TreeNode<'_>> {
        self.nodes.iter().map(move |node| {
            if node.feature == LEAF {
                let start = node.next as usize * n_classes;
                TreeNode::Leaf(&self.values[start..start + n_classes])
            } else {
                TreeNode::Split {
                    feature: node.feature as usize,
                    threshold: node.threshold,
                    right: node.next as usize,
                }
            }
        })
    }

    /// The class distribution of the leaf `row` falls into.
    #[inline]
    pub(super) fn leaf(&self, row: &[f32], n_classes: usize) -> &[f32] {
        let mut i = 0;
        loop {
            let node = self.nodes[i];
            if node.feature == LEAF {
                let start = node.next as usize * n_classes;
                return &self.values[start..start + n_classes];
            }
            // A NaN fails `<=` and goes right.
            i = if row[node.feature as usize] <= node.threshold {
                i + 1
            } else {
                node.next as usize
            };
        }
    }
}
