//! A published mltrain model as one ONNX graph, for serving stacks that read ONNX.
//!
//! [`export`] takes a model's parts ([`Model`]: the [`Ensemble`], its class names, image
//! size and channels) and returns the bytes of an ONNX `ModelProto` ([`proto`], the types
//! `prost` generates from ONNX's own `onnx-ml.proto`). [`model_proto`] returns the message
//! itself, for a caller that wants to look at it.
//!
//! # The contract
//!
//! Any ONNX runtime can use the graph without knowing mltrain:
//!
//! - input [`INPUT`] (`pixels`): `float32 [N, H·W·C]`, raw pixel values `0..=255` of images
//!   already at the model's size, row-major in height, width, channel order (`C = 1` for a
//!   grey model, 3 for RGB: red, green, blue);
//! - output [`LABEL`] (`label`): `int64 [N]`, the class index, ties to the lowest;
//! - output [`PROBABILITIES`] (`probabilities`): `float32 [N, classes]`;
//! - metadata [`META_CLASSES`] (`classes`): the class names as a JSON array, index `i`
//!   naming class `i`; [`META_INPUT`] (`input`): `{"width": W, "height": H, "channels": C}`.
//!
//! # The graph
//!
//! It computes what `mltrain predict` does, in the same order and precision (`f32`), so
//! that a runtime gives the same labels and probabilities to within rounding:
//!
//! 1. `Div` by 255: a level `v` becomes `v / 255`, correctly rounded, as mltrain decodes it;
//! 2. for each PCA basis, `MatMul` by its components (transposed) and `Sub` of `C·mean`:
//!    `(x − mean)·Cᵀ` written as `x·Cᵀ − C·mean`, which is how mltrain projects a row;
//! 3. for each forest, an `ai.onnx.ml` `TreeEnsembleClassifier` over its basis's
//!    projection, whose leaves carry the leaf class distributions, summed over the trees;
//!    the sum is divided by its total (`ReduceSum`, `Div`), as mltrain's forest does;
//! 4. the forests' probabilities are added (`Sum`) and scaled by `1/M` (`Mul`): the
//!    validation stage's soft vote; `ArgMax` gives the label.
//!
//! ```
//! use mltrain_core::ensemble::{Ensemble, Member};
//! use mltrain_core::forest::ForestParams;
//! use mltrain_core::image::{Channels, ImageSize};
//! use mltrain_core::pca::PcaParams;
//! use mltrain_core::Matrix;
//! use prost::Message;
//!
//! // Two classes of 2×2 grey images, dark and bright, as 0..1 levels.
//! let rows: Vec<Vec<f32>> = (0..40)
//!     .map(|i| {
//!         let level = if i % 2 == 0 { 0.1 } else { 0.9 } + (i as f32) * 0.001;
//!         vec![level, level * 0.5, 1.0 - level, (i % 3) as f32 * 0.01]
//!     })
//!     .collect();
//! let labels: Vec<u32> = (0..40).map(|i| i % 2).collect();
//! let x = Matrix::from_rows(&rows).unwrap();
//! let pca = PcaParams::new(2).fit(&x).unwrap();
//! let forest = ForestParams::new().n_trees(5).seed(1)
//!     .fit(&pca.transform(&x).unwrap(), &labels, 2).unwrap();
//! let ensemble = Ensemble::new(vec![pca], vec![Member { basis: 0, forest }]).unwrap();
//!
//! let classes = ["dark".to_string(), "bright".to_string()];
//! let bytes = mltrain_onnx::export(&mltrain_onnx::Model {
//!     name: "example",
//!     ensemble: &ensemble,
//!     classes: &classes,
//!     image_size: ImageSize::new(2, 2),
//!     channels: Channels::Grey,
//! })
//! .unwrap();
//! let model = mltrain_onnx::proto::ModelProto::decode(bytes.as_slice()).unwrap();
//! let graph = model.graph.unwrap();
//! assert_eq!(graph.input[0].name(), "pixels");
//! assert_eq!(graph.output[0].name(), "label");
//! ```

mod error;
mod graph;
pub mod proto;
mod trees;

use mltrain_core::ensemble::Ensemble;
use mltrain_core::image::{Channels, ImageSize};
use prost::Message;

pub use error::Error;

/// The graph's input: raw pixel values, `float32 [N, H·W·C]`.
pub const INPUT: &str = "pixels";
/// The graph's output of class indices, `int64 [N]`.
pub const LABEL: &str = "label";
/// The graph's output of class probabilities, `float32 [N, classes]`.
pub const PROBABILITIES: &str = "probabilities";
/// The metadata key of the class names, a JSON array of strings.
pub const META_CLASSES: &str = "classes";
/// The metadata key of the input's image size and channels, a JSON object.
pub const META_INPUT: &str = "input";

/// The parts of a published model the graph is built from.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    /// The model's name in the graph (mltrain uses the run id).
    pub name: &'a str,
    /// The PCA bases and forests.
    pub ensemble: &'a Ensemble,
    /// Class names: class `i` is `classes[i]`.
    pub classes: &'a [String],
    /// The size images must have.
    pub image_size: ImageSize,
    /// Grey (1 level per pixel) or RGB (3).
    pub channels: Channels,
}

/// The model as an ONNX `ModelProto`.
pub fn model_proto(model: &Model<'_>) -> Result<proto::ModelProto, Error> {
    let e = model.ensemble;
    if model.classes.len() != e.n_classes() {
        return Err(Error::ClassNames {
            names: model.classes.len(),
            classes: e.n_classes(),
        });
    }
    let pixels = model.image_size.features(model.channels);
    if pixels != e.n_features() {
        return Err(Error::InputSize {
            width: model.image_size.width,
            height: model.image_size.height,
            channels: model.channels.count(),
            pixels,
            features: e.n_features(),
        });
    }
    Ok(graph::build(model))
}

/// The model as the bytes of an ONNX file.
pub fn export(model: &Model<'_>) -> Result<Vec<u8>, Error> {
    model_proto(model).map(|m| m.encode_to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use mltrain_core::Matrix;
    use mltrain_core::ensemble::Member;
    use mltrain_core::forest::{ForestParams, TreeNode};
    use mltrain_core::pca::PcaParams;

    use super::*;
    use crate::proto::{AttributeProto, NodeProto};

    /// Three classes of 2×3 RGB "images" (18 features), two bases, three forests.
    fn ensemble() -> Ensemble {
        let rows: Vec<Vec<f32>> = (0..90)
            .map(|i| {
                let class = (i % 3) as f32;
                (0..18)
                    .map(|j| (class * 0.3 + j as f32 * 0.01 + (i * j % 7) as f32 * 0.02) % 1.0)
                    .collect()
            })
            .collect();
        let labels: Vec<u32> = (0..90).map(|i| i % 3).collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let bases = vec![
            PcaParams::new(3).fit(&x).unwrap(),
            PcaParams::new(5).fit(&x).unwrap(),
        ];
        let members = (0..3)
            .map(|m| {
                let basis = m % 2;
                let z = bases[basis].transform(&x).unwrap();
                let forest = ForestParams::new()
                    .n_trees(4)
                    .seed(m as u64)
                    .fit(&z, &labels, 3)
                    .unwrap();
                Member { basis, forest }
            })
            .collect();
        Ensemble::new(bases, members).unwrap()
    }

    fn classes() -> Vec<String> {
        ["red", "green", "blue \"sky\""].map(String::from).to_vec()
    }

    fn model<'a>(e: &'a Ensemble, classes: &'a [String]) -> Model<'a> {
        Model {
            name: "20261127T190000Z-test",
            ensemble: e,
            classes,
            image_size: ImageSize::new(3, 2),
            channels: Channels::Rgb,
        }
    }

    fn attribute<'a>(node: &'a NodeProto, name: &str) -> &'a AttributeProto {
        node.attribute.iter().find(|a| a.name() == name).unwrap()
    }

    #[test]
    fn graph_has_the_preprocessing_the_forests_and_the_vote() {
        let e = ensemble();
        let classes = classes();
        let bytes = export(&model(&e, &classes)).unwrap();
        let m = proto::ModelProto::decode(bytes.as_slice()).unwrap();
        let g = m.graph.as_ref().unwrap();
        let count = |op: &str| g.node.iter().filter(|n| n.op_type() == op).count();
        // Scaling; per basis a projection and a centring; per forest its trees and the
        // normalisation of its vote; the mean; the label.
        assert_eq!(count("MatMul"), 2);
        assert_eq!(count("Sub"), 2);
        assert_eq!(count("TreeEnsembleClassifier"), 3);
        assert_eq!(count("ReduceSum"), 3);
        assert_eq!(count("Div"), 1 + 3);
        assert_eq!((count("Sum"), count("Mul"), count("ArgMax")), (1, 1, 1));
        assert_eq!(g.node.len(), 2 * 2 + 3 * 3 + 4);
        assert!(
            g.node
                .iter()
                .filter(|n| n.op_type() == "TreeEnsembleClassifier")
                .all(|n| n.domain() == "ai.onnx.ml")
        );

        // The contract: names, types and shapes.
        assert_eq!(g.input.len(), 1);
        assert_eq!(g.input[0].name(), INPUT);
        let outputs: Vec<&str> = g.output.iter().map(|o| o.name()).collect();
        assert_eq!(outputs, [LABEL, PROBABILITIES]);
        let shape = |v: &proto::ValueInfoProto| match v.r#type.as_ref().unwrap().value.as_ref() {
            Some(proto::type_proto::Value::TensorType(t)) => (
                t.elem_type(),
                t.shape
                    .as_ref()
                    .unwrap()
                    .dim
                    .iter()
                    .map(|d| match d.value.as_ref().unwrap() {
                        proto::tensor_shape_proto::dimension::Value::DimValue(n) => n.to_string(),
                        proto::tensor_shape_proto::dimension::Value::DimParam(p) => p.clone(),
                    })
                    .collect::<Vec<_>>(),
            ),
            other => panic!("not a tensor: {other:?}"),
        };
        let float = proto::tensor_proto::DataType::Float as i32;
        let int64 = proto::tensor_proto::DataType::Int64 as i32;
        assert_eq!(shape(&g.input[0]), (float, vec!["N".into(), "18".into()]));
        assert_eq!(shape(&g.output[0]), (int64, vec!["N".into()]));
        assert_eq!(shape(&g.output[1]), (float, vec!["N".into(), "3".into()]));

        // Metadata: class names as a JSON array (quotes escaped), size and channels.
        let meta = |key: &str| {
            let value = m
                .metadata_props
                .iter()
                .find(|p| p.key() == key)
                .unwrap()
                .value();
            serde_json::from_str::<serde_json::Value>(value).unwrap()
        };
        assert_eq!(meta(META_CLASSES), serde_json::json!(classes));
        assert_eq!(
            meta(META_INPUT),
            serde_json::json!({"width": 3, "height": 2, "channels": 3})
        );
        let domains: Vec<(&str, i64)> = m
            .opset_import
            .iter()
            .map(|o| (o.domain(), o.version()))
            .collect();
        assert_eq!(domains, [("", 17), ("ai.onnx.ml", 3)]);
    }

    #[test]
    fn every_tree_node_and_leaf_weight_is_written_as_mltrain_stores_it() {
        let e = ensemble();
        let classes = classes();
        let m = model_proto(&model(&e, &classes)).unwrap();
        let g = m.graph.unwrap();
        let forests: Vec<&NodeProto> = g
            .node
            .iter()
            .filter(|n| n.op_type() == "TreeEnsembleClassifier")
            .collect();
        for (node, member) in forests.iter().zip(e.members()) {
            let forest = &member.forest;
            let (mut thresholds, mut weights, mut modes) = (vec![], vec![], vec![]);
            for tree in forest.trees() {
                for n in tree {
                    match n {
                        TreeNode::Split { threshold, .. } => {
                            thresholds.push(threshold);
                            modes.push(b"BRANCH_LEQ".to_vec());
                        }
                        TreeNode::Leaf(d) => {
                            thresholds.push(0.0);
                            weights.extend_from_slice(d);
                            modes.push(b"LEAF".to_vec());
                        }
                    }
                }
            }
            assert_eq!(attribute(node, "nodes_values").floats, thresholds);
            assert_eq!(attribute(node, "nodes_modes").strings, modes);
            assert_eq!(attribute(node, "class_weights").floats, weights);
            assert_eq!(
                attribute(node, "classlabels_int64s").ints,
                [0, 1, 2],
                "class i is index i"
            );
            let tree_ids = &attribute(node, "nodes_treeids").ints;
            assert_eq!(*tree_ids.last().unwrap(), forest.n_trees() as i64 - 1);
            assert_eq!(attribute(node, "post_transform").s(), b"NONE");
            // The forest reads its own basis's features.
            assert_eq!(node.input, [format!("basis_{}_features", member.basis)]);
        }
    }

    #[test]
    fn the_basis_is_written_transposed_with_mltrains_offset() {
        let e = ensemble();
        let classes = classes();
        let g = model_proto(&model(&e, &classes)).unwrap().graph.unwrap();
        let init = |name: &str| {
            let t = g.initializer.iter().find(|t| t.name() == name).unwrap();
            let values: Vec<f32> = t
                .raw_data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (t.dims.clone(), values)
        };
        let basis = &e.bases()[1];
        let (dims, w) = init("basis_1_components");
        assert_eq!(dims, [18, basis.n_components() as i64]);
        let c = basis.components();
        for comp in 0..c.rows() {
            for j in 0..c.cols() {
                assert_eq!(w[j * c.rows() + comp], c.row(comp)[j]);
            }
        }
        assert_eq!(init("basis_1_offset").1, basis.offset());
        assert_eq!(init("level_max").1, [255.0]);
        assert_eq!(init("vote_scale").1, [1.0 / 3.0]);
    }

    #[test]
    fn a_model_whose_parts_disagree_is_refused() {
        let e = ensemble();
        let two = ["a".to_string(), "b".to_string()];
        assert!(matches!(
            export(&model(&e, &two)),
            Err(Error::ClassNames {
                names: 2,
                classes: 3
            })
        ));
        let classes = classes();
        let grey = Model {
            channels: Channels::Grey,
            ..model(&e, &classes)
        };
        let err = export(&grey).unwrap_err();
        assert!(matches!(
            err,
            Error::InputSize {
                pixels: 6,
                features: 18,
                ..
            }
        ));
        assert!(
            err.to_string().contains("3x2 images with 1 channels"),
            "{err}"
        );
    }
}
