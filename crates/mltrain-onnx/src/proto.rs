//! ONNX's protobuf messages, as `prost` generates them from `proto/onnx-ml.proto` (ONNX
//! 1.17.0, Apache-2.0: `proto/LICENSE`). `proto/onnx.rs` is generated, not written: run
//! `scripts/gen-onnx-proto.sh` after changing the `.proto`. The `.proto` documents every
//! field; the generated types carry no comments.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!("proto/onnx.rs");
