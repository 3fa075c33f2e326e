//! The model runner: an ONNX file loaded by tract-onnx, its feature contract read from the
//! file's metadata and checked against its input, optimised once for any number of rows.

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::{catch_panic, Error, Result};
use crate::features::{Contract, CONTRACT_METADATA_KEY};

pub mod bundle;

pub use bundle::{Provenance, TrustedKey};

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub contract: Contract,
    pub producer: String,
    pub opset: i64,
    /// Size of what was loaded (the bundle, or the bare ONNX file).
    pub byte_size: usize,
    pub provenance: Provenance,
}

pub struct ModelRunner {
    plan: Arc<TypedSimplePlan>,
    /// Kept between calls so tract reuses its buffers instead of rebuilding run state.
    state: TypedSimpleState,
    info: ModelInfo,
    /// Bytes of intermediate values tract holds per input row (see `activation_bytes_per_row`).
    bytes_per_row: usize,
}

impl std::fmt::Debug for ModelRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRunner").field("info", &self.info).finish_non_exhaustive()
    }
}

fn invalid(context: &str, error: impl std::fmt::Display) -> Error {
    Error::InvalidModel(format!("{context}: {error}"))
}

impl ModelRunner {
    /// Verifies (see `bundle::open`), parses, checks and optimises a model. The input is
    /// declared `[N, F]` with a symbolic `N`, so one optimised plan serves every list length.
    pub fn load(file: &[u8], trusted: &[TrustedKey]) -> Result<Self> {
        let (bytes, provenance) = bundle::open(file, trusted)?;
        // tract panics on some malformed graphs (fuzzing found a Squeeze whose axis is out of
        // range); natively that is one more invalid model. In wasm it traps: see the README.
        catch_panic(|| Self::load_onnx(bytes, file.len(), provenance)).unwrap_or_else(|message| {
            Err(Error::InvalidModel(format!("tract panicked while loading it: {message}")))
        })
    }

    fn load_onnx(bytes: &[u8], file_size: usize, provenance: Provenance) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(|e| invalid("not an ONNX model", e))?;
        // Empty or truncated-to-nothing bytes still decode (protobuf fields are optional).
        if proto.graph.is_none() {
            return Err(Error::InvalidModel("not an ONNX model: no graph".into()));
        }
        let contract = read_contract(&proto)?;
        let width = contract.features.len();
        let mut model = onnx.model_for_proto_model(&proto).map_err(|e| invalid("unsupported graph", e))?;
        if model.inputs.len() != 1 || model.outputs.len() != 1 {
            return Err(Error::ContractMismatch(format!(
                "the model has {} inputs and {} outputs; expected one of each",
                model.inputs.len(),
                model.outputs.len()
            )));
        }
        check_declared_width(&model, width)?;
        let rows = model.symbols.sym("N");
        model
            .set_input_fact(
                0,
                InferenceFact::dt_shape(f32::datum_type(), tvec![rows.to_dim(), width.to_dim()]),
            )
            .map_err(|e| invalid("setting the input shape", e))?;
        let plan = model
            .into_optimized()
            .and_then(|typed| typed.into_runnable())
            .map_err(|e| invalid("cannot be optimised for input [N, F]", e))?;
        let state = TypedSimpleState::new(&plan).map_err(|e| invalid("cannot be run", e))?;
        let bytes_per_row = activation_bytes_per_row(plan.model(), &rows);
        let info = ModelInfo {
            contract,
            producer: format!("{} {}", proto.producer_name, proto.producer_version).trim().to_owned(),
            opset: proto.opset_import.iter().map(|o| o.version).max().unwrap_or(0),
            byte_size: file_size,
            provenance,
        };
        Ok(ModelRunner { plan, state, info, bytes_per_row })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn contract(&self) -> &Contract {
        &self.info.contract
    }

    /// Working memory one more input row costs inside tract: an upper bound, as if every
    /// intermediate value were alive at once.
    pub fn bytes_per_row(&self) -> usize {
        self.bytes_per_row
    }

    /// Starts the next run from fresh state (after a run that may have stopped half-way).
    pub fn reset(&mut self) {
        if let Ok(fresh) = TypedSimpleState::new(&self.plan) {
            self.state = fresh;
        }
    }

    /// Scores `rows` rows of a row-major `[rows, F]` matrix. A wrong-length matrix, a failed
    /// run, a wrong output shape or a NaN/infinite score is an error, never a panic.
    pub fn score(&mut self, features: &[f32], rows: usize) -> Result<Vec<f32>> {
        let width = self.info.contract.features.len();
        if features.len() != rows * width {
            return Err(Error::InvalidRequest(format!(
                "feature matrix has {} values, expected {rows} × {width}",
                features.len()
            )));
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        let input =
            Tensor::from_shape(&[rows, width], features).map_err(|e| Error::Inference(e.to_string()))?;
        let outputs = self.state.run(tvec!(input.into_tvalue())).map_err(|e| {
            // A failed run may leave the state half-updated.
            self.reset();
            Error::Inference(e.to_string())
        })?;
        let output = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::InvalidModelOutput(format!("not f32 scores: {e}")))?;
        let shape_ok = match output.shape() {
            [n] => *n == rows,
            [n, 1] => *n == rows,
            _ => false,
        };
        if !shape_ok {
            return Err(Error::InvalidModelOutput(format!(
                "output shape {:?}, expected [{rows}] or [{rows}, 1]",
                output.shape()
            )));
        }
        let scores: Vec<f32> = output.iter().copied().collect();
        if let Some(row) = scores.iter().position(|s| !s.is_finite()) {
            return Err(Error::InvalidModelOutput(format!("score of row {row} is {}", scores[row])));
        }
        Ok(scores)
    }
}

/// The per-row growth of all node outputs: their total size at N = 2 minus at N = 1, so the
/// weights (which do not depend on N) drop out.
fn activation_bytes_per_row(model: &TypedModel, rows: &Symbol) -> usize {
    let bytes_at = |n: i64| -> i64 {
        let values = SymbolValues::default().with(rows, n);
        model
            .nodes()
            .iter()
            .flat_map(|node| &node.outputs)
            .map(|output| {
                let fact = &output.fact;
                let elements: i64 =
                    fact.shape.iter().map(|d| d.eval(&values).to_i64().unwrap_or(0)).product();
                elements * fact.datum_type.size_of() as i64
            })
            .sum()
    };
    (bytes_at(2) - bytes_at(1)).max(0) as usize
}

fn read_contract(proto: &ModelProto) -> Result<Contract> {
    let entry = proto.metadata_props.iter().find(|p| p.key == CONTRACT_METADATA_KEY).ok_or_else(|| {
        Error::ContractMismatch(format!("the model carries no `{CONTRACT_METADATA_KEY}` metadata"))
    })?;
    let contract = Contract::from_json(&entry.value)?;
    // Unknown names fail here, at load, rather than at the first request.
    crate::features::FeatureBuilder::new(&contract)?;
    Ok(contract)
}

/// The ONNX file declares its input shape; a fixed feature width that differs from the
/// contract means the model was exported with other features than it claims.
fn check_declared_width(model: &InferenceModel, width: usize) -> Result<()> {
    let fact = model.input_fact(0).map_err(|e| invalid("reading the input", e))?;
    let dims: Vec<_> = fact.shape.dims().collect();
    if fact.shape.is_open() {
        return Ok(());
    }
    let declared = dims.get(1).and_then(|d| d.concretize()).and_then(|d| d.to_i64().ok());
    match (dims.len(), declared) {
        (2, Some(w)) if w != width as i64 => Err(Error::ContractMismatch(format!(
            "the model input has {w} columns but its contract names {width} features"
        ))),
        (2, _) => Ok(()),
        (rank, _) => {
            Err(Error::ContractMismatch(format!("the model input has rank {rank}, expected [N, F]")))
        }
    }
}
