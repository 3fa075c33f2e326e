//! The model runner: a model loaded by tract, its feature contract read from the file and
//! checked against its input, optimised once for any number of rows. Two formats: ONNX
//! (tract-onnx; the contract is the `localrank.contract` metadata entry), and NNEF archives
//! made from it by `localrank-pipeline to-nnef` (tract-nnef; the contract is the graph
//! property of the same name). A build without the `onnx` feature reads NNEF only, and is
//! much smaller: no ONNX parser, no inference-time shape analysis.

use tract_nnef::prelude::*;

use crate::error::{catch_panic, Error, Result};
use crate::features::Contract;

pub mod bundle;
mod screen;

pub use bundle::{Provenance, TrustedKey};

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub contract: Contract,
    pub producer: String,
    pub opset: i64,
    /// Size of what was loaded (the bundle, or the bare model file).
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

/// The largest model file (or bundle) accepted: a reranking model is small (the shipped one is
/// 50 KB), and tract's working copies of a model's tensors take a few times its size.
pub const MAX_MODEL_BYTES: usize = 32 << 20;

fn invalid(context: &str, error: impl std::fmt::Display) -> Error {
    Error::InvalidModel(format!("{context}: {error}"))
}

impl ModelRunner {
    /// Verifies (see `bundle::open`), parses, checks and optimises a model (ONNX or NNEF, told
    /// apart by their bytes). The input is declared `[N, F]` with a symbolic `N`, so one
    /// optimised plan serves every list length.
    pub fn load(file: &[u8], trusted: &[TrustedKey]) -> Result<Self> {
        if file.len() > MAX_MODEL_BYTES {
            return Err(Error::InvalidModel(format!(
                "{} bytes, over the limit of {MAX_MODEL_BYTES}",
                file.len()
            )));
        }
        let (bytes, provenance) = bundle::open(file, trusted)?;
        // tract panics on some malformed graphs (fuzzing found a Squeeze whose axis is out of
        // range); natively that is one more invalid model. In wasm it traps: see the README.
        catch_panic(|| Self::load_verified(bytes, file.len(), provenance)).unwrap_or_else(|message| {
            Err(Error::InvalidModel(format!("tract panicked while loading it: {message}")))
        })
    }

    fn load_verified(bytes: &[u8], file_size: usize, provenance: Provenance) -> Result<Self> {
        let nnef = is_tar(bytes);
        let Loaded { mut model, contract, producer, opset } =
            if nnef { load_nnef(bytes)? } else { load_onnx(bytes)? };
        // `to-nnef` declutters before it writes, so an archive needs codegen only: the
        // declutter passes are much of the code a cold load runs, and wasm compiles each
        // function on its first call.
        let optimized = if nnef { model.optimize().map(|()| model) } else { model.into_optimized() };
        let plan = optimized
            .and_then(|typed| typed.into_runnable())
            .map_err(|e| invalid("cannot be optimised for input [N, F]", e))?;
        let state = TypedSimpleState::new(&plan).map_err(|e| invalid("cannot be run", e))?;
        let bytes_per_row = activation_bytes_per_row(plan.model());
        let width = contract.features.len();
        let info = ModelInfo { contract, producer, opset, byte_size: file_size, provenance };
        let mut runner = ModelRunner { plan, state, info, bytes_per_row };
        // One run now, inside `load`'s panic guard: tract panics on some graphs only when they
        // run (fuzzing found a Gather whose constant indices are out of range), and that is a
        // bad model, not a failed rerank. The result itself is not checked: a model whose
        // output is NaN for zeros is refused per request, as for any other input.
        let _ = runner.score(&vec![0.0; 2 * width], 2);
        runner.reset();
        Ok(runner)
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
fn activation_bytes_per_row(model: &TypedModel) -> usize {
    let rows = match model.input_fact(0).map(|fact| fact.shape.iter().next().cloned()) {
        Ok(Some(TDim::Sym(rows))) => rows,
        _ => return 0,
    };
    let bytes_at = |n: i64| -> i64 {
        let values = SymbolValues::default().with(&rows, n);
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

/// A model read from its file, before optimisation.
struct Loaded {
    /// Its one input declared `[N, F]`.
    model: TypedModel,
    contract: Contract,
    producer: String,
    opset: i64,
}

/// NNEF archives are tar files (ustar magic at byte 257); an ONNX file is a protobuf message.
fn is_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar".as_slice())
}

/// Graph properties `to-nnef` writes: the contract JSON, and where the model came from.
pub const CONTRACT_PROPERTY: &str = "localrank.contract";
const PRODUCER_PROPERTY: &str = "localrank.producer";
const OPSET_PROPERTY: &str = "localrank.opset";

fn check_one_input_and_output(inputs: usize, outputs: usize) -> Result<()> {
    if inputs != 1 || outputs != 1 {
        return Err(Error::ContractMismatch(format!(
            "the model has {inputs} inputs and {outputs} outputs; expected one of each"
        )));
    }
    Ok(())
}

/// Parses a contract and compiles it, so unknown feature names fail here, at load, rather
/// than at the first request.
fn parse_contract(json: &str) -> Result<Contract> {
    let contract = Contract::from_json(json)?;
    crate::features::FeatureBuilder::new(&contract)?;
    Ok(contract)
}

thread_local! {
    /// tract-nnef's framework: building it parses its operator library, about half the time of
    /// an NNEF load in wasm, so it is built once (per thread) and kept.
    static NNEF: tract_nnef::framework::Nnef = nnef_reader();
}

/// `tract_nnef::nnef()` without its copy of the parsed standard library, which only writing
/// NNEF uses: reading resolves fragments through the `tract_nnef` registry (which parses its
/// own copy). Parsing that text is a third of a first load natively.
fn nnef_reader() -> tract_nnef::framework::Nnef {
    use tract_nnef::resource::{
        DatLoader, GraphNnefLoader, GraphQuantLoader, ResourceLoader, TypedModelLoader,
    };
    tract_nnef::framework::Nnef {
        stdlib: Vec::new(),
        registries: vec![tract_nnef::ops::tract_nnef(), tract_nnef::ops::tract_core()],
        resource_loaders: vec![
            GraphNnefLoader.into_boxed(),
            DatLoader.into_boxed(),
            GraphQuantLoader.into_boxed(),
            TypedModelLoader::new(false).into_boxed(),
        ],
        allow_extended_identifier_syntax: false,
        extern_all_constants: false,
    }
}

fn load_nnef(bytes: &[u8]) -> Result<Loaded> {
    let model = NNEF.with(|nnef| {
        screen::archive(bytes, &nnef.registries)?;
        nnef.model_for_read(&mut &*bytes).map_err(|e| invalid("not an NNEF archive this build can read", e))
    })?;
    let string = |key: &str| -> Option<String> {
        model.properties.get(key)?.as_plain_ram()?.to_scalar::<String>().ok().cloned()
    };
    let contract = string(CONTRACT_PROPERTY).ok_or_else(|| {
        Error::ContractMismatch(format!("the NNEF graph carries no `{CONTRACT_PROPERTY}` property"))
    })?;
    let contract = parse_contract(&contract)?;
    check_one_input_and_output(model.inputs.len(), model.outputs.len())?;
    let fact = model.input_fact(0).map_err(|e| invalid("reading the input", e))?;
    let width = contract.features.len() as i64;
    match fact.shape.dims() {
        [_, w] => match w.to_i64() {
            Ok(w) if w != width => Err(Error::ContractMismatch(format!(
                "the model input has {w} columns but its contract names {width} features"
            ))),
            _ => Ok(()),
        },
        dims => {
            Err(Error::ContractMismatch(format!("the model input has rank {}, expected [N, F]", dims.len())))
        }
    }?;
    let producer = string(PRODUCER_PROPERTY);
    let opset =
        model.properties.get(OPSET_PROPERTY).and_then(|t| t.as_plain_ram()?.to_scalar::<i64>().ok().copied());
    Ok(Loaded {
        producer: producer.unwrap_or_else(|| "nnef".into()),
        opset: opset.unwrap_or(0),
        contract,
        model,
    })
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(_bytes: &[u8]) -> Result<Loaded> {
    Err(Error::InvalidModel(
        "not an NNEF archive: this build of localrank (without the `onnx` feature) reads only models \
         converted by `localrank-pipeline to-nnef`"
            .into(),
    ))
}

#[cfg(feature = "onnx")]
fn load_onnx(bytes: &[u8]) -> Result<Loaded> {
    onnx::load(bytes)
}

/// Converts an ONNX model to the NNEF archive the slim build loads: the graph typed and
/// decluttered by tract-onnx, with the contract and provenance as graph properties.
#[cfg(feature = "onnx")]
pub fn onnx_to_nnef(bytes: &[u8]) -> Result<Vec<u8>> {
    let Loaded { model, contract, producer, opset } = onnx::load(bytes)?;
    let model = model.into_decluttered().map_err(|e| invalid("cannot be decluttered", e))?;
    write_nnef(model, &contract, producer, opset)
}

/// An NNEF archive of `model` carrying the contract, producer and opset as graph properties.
#[cfg(feature = "onnx")]
fn write_nnef(mut model: TypedModel, contract: &Contract, producer: String, opset: i64) -> Result<Vec<u8>> {
    // The ONNX metadata came along as properties: keep one copy of the contract, under our key.
    model.properties.retain(|key, _| !key.starts_with("onnx.metadata_props."));
    model.properties.insert(CONTRACT_PROPERTY.into(), rctensor0(contract.to_json()));
    model.properties.insert(PRODUCER_PROPERTY.into(), rctensor0(producer));
    model.properties.insert(OPSET_PROPERTY.into(), rctensor0(opset));
    // Deterministic: a fixed timestamp in the tar headers, so the same model gives the same bytes.
    tract_nnef::nnef()
        .write_to_tar_with_config(&model, Vec::new(), false, true)
        .map_err(|e| invalid("writing NNEF", e))
}

#[cfg(feature = "onnx")]
mod onnx {
    use tract_onnx::pb::ModelProto;
    use tract_onnx::prelude::*;
    use tract_onnx::tract_hir::infer::Factoid;

    use super::{check_one_input_and_output, invalid, parse_contract, Loaded};
    use crate::error::{Error, Result};
    use crate::features::CONTRACT_METADATA_KEY;

    pub(super) fn load(bytes: &[u8]) -> Result<Loaded> {
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(|e| invalid("not an ONNX model", e))?;
        // Empty or truncated-to-nothing bytes still decode (protobuf fields are optional);
        // the screen refuses those too, and graphs tract would panic on.
        super::screen::onnx(&proto)?;
        let contract = read_contract(&proto)?;
        let width = contract.features.len();
        let mut model = onnx.model_for_proto_model(&proto).map_err(|e| invalid("unsupported graph", e))?;
        check_one_input_and_output(model.inputs.len(), model.outputs.len())?;
        check_declared_width(&model, width)?;
        let rows = model.symbols.sym("N");
        model
            .set_input_fact(
                0,
                InferenceFact::dt_shape(f32::datum_type(), tvec![rows.to_dim(), width.to_dim()]),
            )
            .map_err(|e| invalid("setting the input shape", e))?;
        let model = model.into_typed().map_err(|e| invalid("cannot be optimised for input [N, F]", e))?;
        Ok(Loaded {
            model,
            contract,
            producer: format!("{} {}", proto.producer_name, proto.producer_version).trim().to_owned(),
            opset: proto.opset_import.iter().map(|o| o.version).max().unwrap_or(0),
        })
    }

    fn read_contract(proto: &ModelProto) -> Result<crate::features::Contract> {
        let entry =
            proto.metadata_props.iter().find(|p| p.key == CONTRACT_METADATA_KEY).ok_or_else(|| {
                Error::ContractMismatch(format!("the model carries no `{CONTRACT_METADATA_KEY}` metadata"))
            })?;
        parse_contract(&entry.value)
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
}

#[cfg(all(test, feature = "onnx"))]
mod tests {
    use super::*;

    /// Loading an archive skips the declutter passes, as `to-nnef` ran them; an archive written
    /// without them must still load and give the same scores (with a less fused plan). The
    /// model has an `Identity` and a two-step product for declutter to remove and fuse.
    #[test]
    fn an_archive_that_was_not_decluttered_loads_and_scores_the_same() {
        let features = ["server.rank", "affinity.topic.pos.7d", "user.similarity"];
        let onnx = &crate::test_models::linear_twice(&features, &[0.5, -2.0, 1.5]);
        let Loaded { model, contract, producer, opset } = onnx::load(onnx).unwrap();
        let raw = write_nnef(model, &contract, producer, opset).unwrap();
        assert_ne!(raw, onnx_to_nnef(onnx).unwrap(), "the archive really is not decluttered");
        let width = contract.features.len();
        let rows = 37;
        let matrix: Vec<f32> = (0..rows * width).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let mut from_raw = ModelRunner::load(&raw, &[]).unwrap();
        let mut from_onnx = ModelRunner::load(onnx, &[]).unwrap();
        let (raw_scores, onnx_scores) =
            (from_raw.score(&matrix, rows).unwrap(), from_onnx.score(&matrix, rows).unwrap());
        for (a, b) in raw_scores.iter().zip(&onnx_scores) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
