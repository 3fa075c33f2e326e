//! Small ONNX models written in code, for tests of the runner and the ranker: a linear scorer
//! and deliberately broken variants. The shipped model comes from `models/train.py`.

use prost::Message;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{Tensor, Value};
use tract_onnx::pb::*;

use crate::features::{Contract, CONTRACT_METADATA_KEY};

pub fn contract(features: &[&str]) -> Contract {
    Contract {
        version: 2,
        name: "linear-test".into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        learning: Default::default(),
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n),
                None => dimension::Value::DimParam("N".into()),
            }),
            ..Dimension::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: values.to_vec(),
        ..TensorProto::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..NodeProto::default()
    }
}

/// A model file around `graph`, with the contract (if any) in its metadata.
fn model_file(graph: GraphProto, contract: Option<&Contract>) -> Vec<u8> {
    let metadata_props = contract
        .map(|c| StringStringEntryProto { key: CONTRACT_METADATA_KEY.into(), value: c.to_json() })
        .into_iter()
        .collect();
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "localrank-tests".into(),
        graph: Some(graph),
        metadata_props,
        ..ModelProto::default()
    }
    .encode_to_vec()
}

/// `scores[N, outputs] = features[N, F] · weights + bias`, with `weights` given row-major
/// `[F, outputs]`, and the contract (if any) in its metadata.
pub fn linear_with(weights: &[f32], outputs: usize, bias: f32, contract: Option<&Contract>) -> Vec<u8> {
    let width = (weights.len() / outputs) as i64;
    let graph = GraphProto {
        name: "linear".into(),
        node: vec![node("MatMul", &["features", "w"], "product"), node("Add", &["product", "b"], "scores")],
        initializer: vec![tensor("w", &[width, outputs as i64], weights), tensor("b", &[1], &[bias])],
        input: vec![value_info("features", &[None, Some(width)])],
        output: vec![value_info("scores", &[None, Some(outputs as i64)])],
        ..GraphProto::default()
    };
    model_file(graph, contract)
}

/// A linear model scoring `weights · features` under the given feature names.
pub fn linear(features: &[&str], weights: &[f32]) -> Vec<u8> {
    assert_eq!(features.len(), weights.len());
    linear_with(weights, 1, 0.0, Some(&contract(features)))
}

/// `linear` with more graph than it needs, for tests of tract's declutter passes: the product
/// goes through an `Identity` and is scaled by a constant 1 before the bias.
pub fn linear_twice(features: &[&str], weights: &[f32]) -> Vec<u8> {
    let width = weights.len() as i64;
    let graph = GraphProto {
        name: "linear-twice".into(),
        node: vec![
            node("MatMul", &["features", "w"], "product"),
            node("Identity", &["product"], "same"),
            node("Mul", &["same", "one"], "scaled"),
            node("Add", &["scaled", "b"], "scores"),
        ],
        initializer: vec![
            tensor("w", &[width, 1], weights),
            tensor("one", &[1], &[1.0]),
            tensor("b", &[1], &[0.25]),
        ],
        input: vec![value_info("features", &[None, Some(width)])],
        output: vec![value_info("scores", &[None, Some(1)])],
        ..GraphProto::default()
    };
    model_file(graph, Some(&contract(features)))
}
