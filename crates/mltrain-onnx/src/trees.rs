//! One forest as an `ai.onnx.ml` `TreeEnsembleClassifier` node.
//!
//! mltrain's trees send `x[feature] <= threshold` left, compared in `f32`: the node mode is
//! `BRANCH_LEQ`, its true branch the left child, and the threshold the same `f32`, so every
//! row takes the same path as in mltrain given the same feature value (a NaN fails the
//! comparison and goes right in both). Node ids are mltrain's preorder indices.
//!
//! With `post_transform` `NONE` the classifier adds the weights of the leaves a row reaches
//! over all trees, which is how mltrain's forest accumulates its vote before dividing by
//! the total: each leaf's weights are its class distribution as stored. Every leaf carries
//! a weight for every class, zeros included: a runtime then never sees a class without a
//! score, and ONNX Runtime's special case for two classes (which derives the second score
//! from the first when only one class has weights) does not apply.
//!
//! The classifier's own `Y` output (its argmax) is not used: the label comes from the
//! ensemble's averaged probabilities.

use mltrain_core::forest::{Forest, TreeNode};

use crate::graph::{ML_DOMAIN, floats, ints, node, string, strings};
use crate::proto::NodeProto;

/// The classifier node reading `input` (the forest's features) and writing the summed leaf
/// distributions to `votes`, `[N, n_classes]`.
pub(crate) fn classifier(
    forest: &Forest,
    name: &str,
    input: &str,
    label: &str,
    votes: &str,
) -> NodeProto {
    let n_classes = forest.n_classes();
    let mut n = Nodes::default();
    for (t, nodes) in forest.trees().enumerate() {
        for (id, tree_node) in nodes.enumerate() {
            n.tree_ids.push(t as i64);
            n.node_ids.push(id as i64);
            match tree_node {
                TreeNode::Split {
                    feature,
                    threshold,
                    right,
                } => {
                    n.modes.push("BRANCH_LEQ");
                    n.features.push(feature as i64);
                    n.values.push(threshold);
                    n.true_ids.push(id as i64 + 1);
                    n.false_ids.push(right as i64);
                }
                TreeNode::Leaf(distribution) => {
                    n.modes.push("LEAF");
                    n.features.push(0);
                    n.values.push(0.0);
                    n.true_ids.push(0);
                    n.false_ids.push(0);
                    for (class, &w) in distribution.iter().enumerate() {
                        n.class_tree_ids.push(t as i64);
                        n.class_node_ids.push(id as i64);
                        n.class_ids.push(class as i64);
                        n.class_weights.push(w);
                    }
                }
            }
        }
    }
    node(
        "TreeEnsembleClassifier",
        ML_DOMAIN,
        name,
        &[input],
        &[label, votes],
        vec![
            ints("classlabels_int64s", (0..n_classes as i64).collect()),
            ints("nodes_treeids", n.tree_ids),
            ints("nodes_nodeids", n.node_ids),
            strings("nodes_modes", n.modes),
            ints("nodes_featureids", n.features),
            floats("nodes_values", n.values),
            ints("nodes_truenodeids", n.true_ids),
            ints("nodes_falsenodeids", n.false_ids),
            ints("class_treeids", n.class_tree_ids),
            ints("class_nodeids", n.class_node_ids),
            ints("class_ids", n.class_ids),
            floats("class_weights", n.class_weights),
            string("post_transform", "NONE"),
            // No `nodes_missing_value_tracks_true`: by default a NaN takes the false branch
            // (right), as in mltrain.
        ],
    )
}

/// The classifier's parallel attribute arrays, one entry per node or per leaf weight.
#[derive(Default)]
struct Nodes {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    modes: Vec<&'static str>,
    features: Vec<i64>,
    values: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    class_tree_ids: Vec<i64>,
    class_node_ids: Vec<i64>,
    class_ids: Vec<i64>,
    class_weights: Vec<f32>,
}
