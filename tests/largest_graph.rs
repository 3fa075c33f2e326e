//! The largest graph the model screen lets through (src/model/screen.rs: 1 000 nodes), as a
//! committed fixture, `tests/fixtures/largest-graph.onnx`: a one-feature model whose input runs
//! through a chain of `Relu`s. The wasm tests load it (tests/wasm.rs) to show such a graph loads
//! in bounded time without overflowing the module's stack. They read the file rather than build
//! the graph themselves because building it takes `prost`, and prost as a wasm dev-dependency
//! changes the slim flavour's dependency features (syn's `extra-traits`), which cost the slim
//! tests a build of tract of their own.
//!
//! This test checks that the file is exactly what `largest_graph` writes, and that it loads.
//! `LOCALRANK_WRITE_FIXTURES=1 cargo test --test largest_graph` rewrites it.
#![cfg(feature = "onnx")]

use localrank::features::CONTRACT_METADATA_KEY;
use localrank::model::ModelRunner;
use prost::Message;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{Tensor, Value};
use tract_onnx::pb::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/largest-graph.onnx");

/// The screen's node limit.
const NODES: usize = 1_000;

/// A `[N, 1]` float tensor named `name`.
fn column(name: &str) -> ValueInfoProto {
    let dim = |value| Dimension { value: Some(value), ..Dimension::default() };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimParam("N".into())),
                        dim(dimension::Value::DimValue(1)),
                    ],
                }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn largest_graph() -> Vec<u8> {
    let name = |k: usize| if k == 0 { "features".to_string() } else { format!("chain-{k}") };
    let node = (1..=NODES)
        .map(|k| NodeProto {
            op_type: "Relu".into(),
            input: vec![name(k - 1)],
            output: vec![name(k)],
            ..NodeProto::default()
        })
        .collect();
    let contract = r#"{"version":2,"name":"largest-graph","features":["server.rank"]}"#;
    ModelProto {
        ir_version: 8,
        producer_name: "tests/largest_graph.rs".into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: "largest-graph".into(),
            node,
            input: vec![column(&name(0))],
            output: vec![column(&name(NODES))],
            ..GraphProto::default()
        }),
        metadata_props: vec![StringStringEntryProto {
            key: CONTRACT_METADATA_KEY.into(),
            value: contract.into(),
        }],
        ..ModelProto::default()
    }
    .encode_to_vec()
}

#[test]
fn the_largest_graph_fixture_is_current_and_loads() {
    let bytes = largest_graph();
    if std::env::var_os("LOCALRANK_WRITE_FIXTURES").is_some() {
        std::fs::write(FIXTURE, &bytes).unwrap();
    }
    let committed = std::fs::read(FIXTURE)
        .expect("tests/fixtures/largest-graph.onnx (LOCALRANK_WRITE_FIXTURES=1 writes it)");
    assert!(
        committed == bytes,
        "tests/fixtures/largest-graph.onnx is stale: rerun with LOCALRANK_WRITE_FIXTURES=1"
    );
    let runner = ModelRunner::load(&bytes, &[]).unwrap();
    assert_eq!(runner.contract().features, ["server.rank"]);
}
