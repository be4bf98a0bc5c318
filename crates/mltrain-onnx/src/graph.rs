//! The graph: preprocessing, one tree ensemble per forest, the soft vote; and the few
//! helpers that build ONNX nodes, tensors and attributes.

use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto, type_proto,
};
use crate::{INPUT, LABEL, META_CLASSES, META_INPUT, Model, PROBABILITIES, trees};

/// ONNX IR version 8 goes with opset 17, which every runtime of the last years reads.
const IR_VERSION: i64 = 8;
/// The default domain's opset: `ReduceSum` takes its axes as an input from 13 on.
const OPSET: i64 = 17;
/// The `ai.onnx.ml` opset with `TreeEnsembleClassifier` in its current form (version 3;
/// version 5 deprecates it in favour of `TreeEnsemble`, which fewer runtimes have yet).
pub(crate) const ML_DOMAIN: &str = "ai.onnx.ml";
const ML_OPSET: i64 = 3;

/// The symbolic batch dimension.
const BATCH: &str = "N";

pub(crate) fn build(model: &Model<'_>) -> ModelProto {
    let e = model.ensemble;
    let mut g = Graph::default();

    // 1. Levels 0..=255 to 0..=1 by division, correctly rounded like mltrain's table of
    // `level as f32 / 255.0` (a product with 1/255 is not).
    g.init_f32("level_max", &[], &[255.0]);
    g.node("Div", "scale", &[INPUT, "level_max"], &["levels"], vec![]);

    // 2. Each basis: x·Cᵀ − C·mean. The offset is the very f32 vector mltrain subtracts.
    for (b, basis) in e.bases().iter().enumerate() {
        let c = basis.components();
        let (k, d) = (c.rows(), c.cols());
        let mut transposed = vec![0.0f32; d * k];
        for (comp, row) in c.iter_rows().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                transposed[j * k + comp] = v;
            }
        }
        let (w, offset) = (format!("basis_{b}_components"), format!("basis_{b}_offset"));
        g.init_f32(&w, &[d as i64, k as i64], &transposed);
        g.init_f32(&offset, &[k as i64], &basis.offset());
        let product = format!("basis_{b}_product");
        g.node(
            "MatMul",
            &format!("basis_{b}_project"),
            &["levels", &w],
            &[&product],
            vec![],
        );
        g.node(
            "Sub",
            &format!("basis_{b}_centre"),
            &[&product, &offset],
            &[&features(b)],
            vec![],
        );
    }

    // 3. Each forest: summed leaf distributions over its basis's features, divided by
    // their total as mltrain's forest normalises its vote.
    g.init_i64("class_axis", &[1], &[1]);
    let mut forests = Vec::with_capacity(e.members().len());
    for (m, member) in e.members().iter().enumerate() {
        let votes = format!("forest_{m}_votes");
        g.nodes.push(trees::classifier(
            &member.forest,
            &format!("forest_{m}"),
            &features(member.basis),
            &format!("forest_{m}_label"),
            &votes,
        ));
        let total = format!("forest_{m}_total");
        g.node(
            "ReduceSum",
            &format!("forest_{m}_sum"),
            &[&votes, "class_axis"],
            &[&total],
            vec![int("keepdims", 1)],
        );
        let proba = format!("forest_{m}_probabilities");
        g.node(
            "Div",
            &format!("forest_{m}_normalise"),
            &[&votes, &total],
            &[&proba],
            vec![],
        );
        forests.push(proba);
    }

    // 4. The soft vote: the sum of the forests' probabilities, times 1/M as mltrain's
    // ensemble computes it, then the first most probable class.
    let inputs: Vec<&str> = forests.iter().map(String::as_str).collect();
    g.node("Sum", "vote", &inputs, &["vote_sum"], vec![]);
    g.init_f32("vote_scale", &[], &[1.0 / e.members().len() as f32]);
    g.node(
        "Mul",
        "vote_mean",
        &["vote_sum", "vote_scale"],
        &[PROBABILITIES],
        vec![],
    );
    g.node(
        "ArgMax",
        "best",
        &[PROBABILITIES],
        &[LABEL],
        vec![
            int("axis", 1),
            int("keepdims", 0),
            int("select_last_index", 0),
        ],
    );

    let n_classes = e.n_classes() as i64;
    let graph = GraphProto {
        name: Some(format!("mltrain {}", model.name)),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![value_info(
            INPUT,
            DataType::Float,
            &[Dim::Batch, Dim::Fixed(e.n_features() as i64)],
        )],
        output: vec![
            value_info(LABEL, DataType::Int64, &[Dim::Batch]),
            value_info(
                PROBABILITIES,
                DataType::Float,
                &[Dim::Batch, Dim::Fixed(n_classes)],
            ),
        ],
        doc_string: Some(contract(model)),
        ..GraphProto::default()
    };
    let input = serde_json::json!({
        "width": model.image_size.width,
        "height": model.image_size.height,
        "channels": model.channels.count(),
    });
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![opset("", OPSET), opset(ML_DOMAIN, ML_OPSET)],
        producer_name: Some("mltrain".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        model_version: Some(1),
        doc_string: Some(contract(model)),
        graph: Some(graph),
        metadata_props: vec![
            entry(META_CLASSES, serde_json::json!(model.classes).to_string()),
            entry(META_INPUT, input.to_string()),
            entry("run_id", model.name.to_string()),
        ],
        ..ModelProto::default()
    }
}

/// The projected rows of basis `b`.
fn features(b: usize) -> String {
    format!("basis_{b}_features")
}

/// The input and outputs in words, for whoever opens the file in a viewer.
fn contract(model: &Model<'_>) -> String {
    let s = model.image_size;
    format!(
        "mltrain model {}: input `{INPUT}` float32 [N, {}] = raw pixel values 0-255 of \
         {}x{} images with {} channel(s), row-major in height, width, channel order; \
         outputs `{LABEL}` int64 [N] (class index) and `{PROBABILITIES}` float32 [N, {}]; \
         class names in metadata `{META_CLASSES}`.",
        model.name,
        s.features(model.channels),
        s.width,
        s.height,
        model.channels.count(),
        model.classes.len(),
    )
}

/// Nodes and initializers as they are added, in order (ONNX wants a topological order).
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes
            .push(node(op, "", name, inputs, outputs, attribute));
    }

    fn init_f32(&mut self, name: &str, dims: &[i64], values: &[f32]) {
        self.initializers.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(DataType::Float as i32),
            // Little-endian bytes, as the format says raw data is stored.
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..TensorProto::default()
        });
    }

    fn init_i64(&mut self, name: &str, dims: &[i64], values: &[i64]) {
        self.initializers.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(DataType::Int64 as i32),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..TensorProto::default()
        });
    }
}

pub(crate) fn node(
    op: &str,
    domain: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..NodeProto::default()
    }
}

pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..AttributeProto::default()
    }
}

pub(crate) fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values,
        ..AttributeProto::default()
    }
}

pub(crate) fn floats(name: &str, values: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Floats as i32),
        floats: values,
        ..AttributeProto::default()
    }
}

pub(crate) fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..AttributeProto::default()
    }
}

pub(crate) fn strings(name: &str, values: Vec<&str>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Strings as i32),
        strings: values.into_iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..AttributeProto::default()
    }
}

enum Dim {
    Batch,
    Fixed(i64),
}

fn value_info(name: &str, elem_type: DataType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Batch => tensor_shape_proto::dimension::Value::DimParam(BATCH.into()),
                Dim::Fixed(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem_type as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto {
        domain: Some(domain.into()),
        version: Some(version),
    }
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.into()),
        value: Some(value),
    }
}
