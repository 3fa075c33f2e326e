//! The ONNX screen: the graph's bookkeeping (every value produced once, every read value and
//! every output produced by something), its tensors (a type tract loads, no negative or
//! oversized dimension, exactly the data the shape says) and its shapes, checked on the
//! decoded protobuf before tract builds a graph from it. Each rule refuses a family of graphs
//! tract panicked on (tests/hostile_models.rs).

use std::collections::HashSet;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::type_proto::Value;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};

use super::{refuse, MAX_NODES, MAX_TENSOR_ELEMENTS};
use crate::error::Result;

/// Subgraphs (of `If`, `Loop`, `Scan`) nested deeper than this are refused.
const MAX_GRAPH_DEPTH: usize = 4;

/// Operators that take no input: every other node reads at least one.
const WITHOUT_INPUTS: &[&str] = &["Constant", "RandomNormal", "RandomUniform"];

/// Inputs that are integers by definition (axes, shapes, indices, sizes), by operator: given
/// as a constant of another type they panicked tract.
const INTEGER_INPUTS: &[(&str, &[usize])] = &[
    ("Gather", &[1]),
    ("GatherElements", &[1]),
    ("ScatterElements", &[1]),
    ("Squeeze", &[1]),
    ("Unsqueeze", &[1]),
    ("Reshape", &[1]),
    ("Expand", &[1]),
    ("Tile", &[1]),
    ("Split", &[1]),
    ("Slice", &[1, 2, 3, 4]),
    ("Pad", &[1, 3]),
    ("TopK", &[1]),
    ("ConstantOfShape", &[0]),
    ("ReduceSum", &[1]),
    ("ReduceMean", &[1]),
    ("ReduceMax", &[1]),
    ("ReduceMin", &[1]),
    ("ReduceProd", &[1]),
    ("ReduceL1", &[1]),
    ("ReduceL2", &[1]),
    ("ReduceLogSum", &[1]),
    ("ReduceLogSumExp", &[1]),
    ("ReduceSumSquare", &[1]),
];

/// How many inputs (least, most) operators take whose missing or extra inputs panicked tract
/// (it indexes them without checking).
const INPUT_COUNTS: &[(&str, usize, usize)] = &[
    ("Transpose", 1, 1),
    ("Relu", 1, 1),
    ("Tanh", 1, 1),
    ("Sigmoid", 1, 1),
    ("Neg", 1, 1),
    ("Abs", 1, 1),
    ("Exp", 1, 1),
    ("Log", 1, 1),
    ("Sqrt", 1, 1),
    ("Identity", 1, 1),
    ("Flatten", 1, 1),
    ("Softmax", 1, 1),
    ("LogSoftmax", 1, 1),
    ("MatMul", 2, 2),
    ("Add", 2, 2),
    ("Sub", 2, 2),
    ("Mul", 2, 2),
    ("Div", 2, 2),
    ("Pow", 2, 2),
    ("Gemm", 2, 3),
];

pub fn onnx(model: &ModelProto) -> Result<()> {
    match &model.graph {
        Some(graph) => check_graph(graph, &HashSet::new(), 0),
        None => Err(refuse("not an ONNX model: no graph")),
    }
}

/// Checks a graph whose nodes may also read `outer` (the enclosing graphs' values).
fn check_graph(graph: &GraphProto, outer: &HashSet<&str>, depth: usize) -> Result<()> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(refuse(format!("subgraphs nested more than {MAX_GRAPH_DEPTH} deep")));
    }
    if graph.node.len() > MAX_NODES {
        return Err(refuse(format!("a graph of {} nodes (limit {MAX_NODES})", graph.node.len())));
    }
    for value in graph.input.iter().chain(&graph.output).chain(&graph.value_info) {
        check_shape(value)?;
    }
    let mut known: HashSet<&str> = outer.clone();
    known.extend(graph.input.iter().map(|i| i.name.as_str()));
    for tensor in &graph.initializer {
        check_tensor(tensor, &format!("initializer `{}`", tensor.name))?;
        known.insert(&tensor.name);
    }
    // Every value is produced once: by one node, and not by a node and an input or initializer.
    let mut produced: HashSet<&str> = HashSet::new();
    for node in &graph.node {
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            if known.contains(output.as_str()) || !produced.insert(output) {
                return Err(refuse(format!("`{output}` has more than one producer ({})", describe(node))));
            }
        }
    }
    known.extend(produced);
    let tensors = constant_tensors(graph);
    let integers = tensors.iter().filter_map(|(&name, tensor)| Some((name, integers_of(tensor)?))).collect();
    for node in &graph.node {
        check_node(node, &known, &tensors, depth)?;
        check_input_counts(node)?;
        check_matmul_ranks(node, &tensors)?;
        check_split_sizes(node, &integers)?;
    }
    if graph.output.is_empty() {
        return Err(refuse("the graph has no output"));
    }
    if let Some(output) = graph.output.iter().find(|o| !known.contains(o.name.as_str())) {
        return Err(refuse(format!("the graph output `{}` is produced by nothing", output.name)));
    }
    Ok(())
}

fn describe(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!("a {} node", node.op_type)
    } else {
        format!("node `{}` ({})", node.name, node.op_type)
    }
}

/// The tensor each constant value (an initializer or a `Constant` node) holds.
fn constant_tensors(graph: &GraphProto) -> std::collections::HashMap<&str, &TensorProto> {
    let initializers = graph.initializer.iter().map(|t| (t.name.as_str(), t));
    let nodes = graph.node.iter().filter(|n| n.op_type == "Constant").filter_map(|n| {
        let value = n.attribute.iter().find_map(|a| a.t.as_ref())?;
        Some((n.output.first()?.as_str(), value))
    });
    initializers.chain(nodes).collect()
}

fn check_input_counts(node: &NodeProto) -> Result<()> {
    let Some(&(_, least, most)) = INPUT_COUNTS.iter().find(|(op, _, _)| *op == node.op_type) else {
        return Ok(());
    };
    let count = node.input.len();
    if (least..=most).contains(&count) {
        Ok(())
    } else {
        Err(refuse(format!("{} has {count} inputs (it takes {least} to {most})", describe(node))))
    }
}

/// A MatMul of a constant scalar or vector panicked tract ("index exceeds length"); the
/// models it runs multiply by matrices.
fn check_matmul_ranks(
    node: &NodeProto,
    tensors: &std::collections::HashMap<&str, &TensorProto>,
) -> Result<()> {
    if node.op_type != "MatMul" {
        return Ok(());
    }
    match node.input.iter().find(|i| tensors.get(i.as_str()).is_some_and(|t| t.dims.len() < 2)) {
        Some(input) => {
            Err(refuse(format!("{} multiplies by `{input}`, a constant of rank < 2", describe(node))))
        }
        None => Ok(()),
    }
}

/// An Int64 or Int32 tensor's values (from `raw_data`, little-endian, or the typed field).
fn integers_of(tensor: &TensorProto) -> Option<Vec<i64>> {
    let (size, typed): (usize, Vec<i64>) = match DataType::try_from(tensor.data_type).ok()? {
        DataType::Int64 => (8, tensor.int64_data.clone()),
        DataType::Int32 => (4, tensor.int32_data.iter().map(|&v| i64::from(v)).collect()),
        _ => return None,
    };
    if tensor.raw_data.is_empty() {
        return Some(typed);
    }
    let chunks = tensor.raw_data.chunks_exact(size);
    Some(if size == 8 {
        chunks.map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default())).collect()
    } else {
        chunks.map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or_default()))).collect()
    })
}

/// A `Split`'s constant sizes (its second input, or the older `split` attribute): none
/// negative — tract asserts that while wiring the slices, which panicked.
fn check_split_sizes(node: &NodeProto, integers: &std::collections::HashMap<&str, Vec<i64>>) -> Result<()> {
    if node.op_type != "Split" {
        return Ok(());
    }
    let from_input = node.input.get(1).and_then(|input| integers.get(input.as_str())).map(Vec::as_slice);
    let from_attribute = node.attribute.iter().find(|a| a.name == "split").map(|a| a.ints.as_slice());
    for sizes in from_input.into_iter().chain(from_attribute) {
        if let Some(size) = sizes.iter().find(|&&size| size < 0) {
            return Err(refuse(format!("{} splits into a part of size {size}", describe(node))));
        }
    }
    Ok(())
}

fn check_node(
    node: &NodeProto,
    known: &HashSet<&str>,
    constants: &std::collections::HashMap<&str, &TensorProto>,
    depth: usize,
) -> Result<()> {
    let inputs: Vec<&str> = node.input.iter().map(String::as_str).collect();
    if inputs.iter().all(|i| i.is_empty()) && !WITHOUT_INPUTS.contains(&node.op_type.as_str()) {
        return Err(refuse(format!("{} has no inputs", describe(node))));
    }
    if let Some(input) = inputs.iter().find(|i| !i.is_empty() && !known.contains(*i)) {
        return Err(refuse(format!("{} reads `{input}`, which nothing produces", describe(node))));
    }
    if node.output.iter().all(|o| o.is_empty()) {
        return Err(refuse(format!("{} has no outputs", describe(node))));
    }
    let integer = INTEGER_INPUTS.iter().find(|(op, _)| *op == node.op_type).map_or(&[][..], |(_, at)| *at);
    for &at in integer {
        let data_type = inputs.get(at).and_then(|input| constants.get(input)).map(|tensor| tensor.data_type);
        if data_type.is_some_and(|t| t != DataType::Int64 as i32 && t != DataType::Int32 as i32) {
            return Err(refuse(format!("{}: its input {at} must be integers", describe(node))));
        }
    }
    for attribute in &node.attribute {
        for tensor in attribute.t.iter().chain(&attribute.tensors) {
            check_tensor(tensor, &format!("{}'s attribute `{}`", describe(node), attribute.name))?;
        }
        for graph in attribute.g.iter().chain(&attribute.graphs) {
            check_graph(graph, known, depth + 1)?;
        }
    }
    Ok(())
}

/// A value's declared shape: no negative dimension.
fn check_shape(value: &ValueInfoProto) -> Result<()> {
    let Some(Value::TensorType(tensor)) = value.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok(());
    };
    let dims = tensor.shape.iter().flat_map(|s| &s.dim).filter_map(|d| match d.value {
        Some(dimension::Value::DimValue(n)) => Some(n),
        _ => None,
    });
    for n in dims {
        if !(0..=MAX_TENSOR_ELEMENTS as i64).contains(&n) {
            return Err(refuse(format!("`{}` has a dimension of {n}", value.name)));
        }
    }
    Ok(())
}

/// The byte size of an element of the types tract loads (others are refused).
fn element_size(data_type: i32) -> Option<usize> {
    use DataType::*;
    let size = match DataType::try_from(data_type).ok()? {
        Uint8 | Int8 | Bool => 1,
        Uint16 | Int16 | Float16 => 2,
        Int32 | Uint32 | Float => 4,
        Int64 | Uint64 | Double => 8,
        _ => return None,
    };
    Some(size)
}

/// A tensor: of a type tract loads, no negative or oversized dimension, and exactly the data
/// its shape says (in `raw_data` or the typed field of its type), stored in the file.
fn check_tensor(tensor: &TensorProto, what: &str) -> Result<()> {
    let size = element_size(tensor.data_type).ok_or_else(|| {
        refuse(format!("{what} is of data type {}, which is not supported", tensor.data_type))
    })?;
    let mut elements: usize = 1;
    for &dim in &tensor.dims {
        let dim = usize::try_from(dim).map_err(|_| refuse(format!("{what} has a dimension of {dim}")))?;
        elements = elements.checked_mul(dim).filter(|&e| e <= MAX_TENSOR_ELEMENTS).ok_or_else(|| {
            refuse(format!("{what} has a shape of {:?}, over {MAX_TENSOR_ELEMENTS} elements", tensor.dims))
        })?;
    }
    if !tensor.external_data.is_empty() || tensor.data_location.is_some_and(|l| l != 0) {
        return Err(refuse(format!("{what} is stored outside the file")));
    }
    let typed = [
        tensor.float_data.len(),
        tensor.int32_data.len(),
        tensor.int64_data.len(),
        tensor.double_data.len(),
        tensor.uint64_data.len(),
        tensor.string_data.len(),
    ];
    let given = if tensor.raw_data.is_empty() { typed.iter().sum() } else { tensor.raw_data.len() / size };
    let exact = tensor.raw_data.is_empty() || tensor.raw_data.len().is_multiple_of(size);
    if given != elements || !exact {
        return Err(refuse(format!(
            "{what} has data for {given} elements, its shape {:?} says {elements}",
            tensor.dims
        )));
    }
    Ok(())
}
