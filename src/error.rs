//! The one error type of the core. Every variant has a stable machine-readable `code` that the
//! bindings copy onto the JS `Error`, and that fallback results report as their reason.

/// Everything that can go wrong in localrank.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("too many candidates: {count} exceeds the limit of {limit}")]
    TooManyCandidates { count: usize, limit: usize },
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("invalid model: {0}")]
    InvalidModel(String),
    #[error("unsigned model: {0}; the ranker only loads models signed by a trusted key")]
    ModelUnsigned(String),
    #[error("tampered model: {0}")]
    ModelTampered(String),
    #[error("untrusted model signer: {0}")]
    ModelUntrustedKey(String),
    #[error("model contract mismatch: {0}")]
    ContractMismatch(String),
    #[error("the model contract names feature `{0}`, which this version of localrank does not know")]
    UnknownFeature(String),
    #[error("corrupt snapshot: {0}")]
    CorruptSnapshot(String),
    #[error("snapshot format version {found} is newer than the supported version {supported}")]
    SnapshotVersion { found: u16, supported: u16 },
    #[error("model inference failed: {0}")]
    Inference(String),
    #[error("invalid model output: {0}")]
    InvalidModelOutput(String),
    #[error("time budget of {budget_ms} ms exceeded after {elapsed_ms:.3} ms")]
    TimeBudgetExceeded { budget_ms: f64, elapsed_ms: f64 },
    #[error("the request needs ~{needed_bytes} bytes of working memory, over the budget of {budget_bytes}")]
    MemoryBudgetExceeded { needed_bytes: usize, budget_bytes: usize },
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A `Ranker` used after its `free()`: raised by the package's TypeScript side
    /// (client/src/core/ranker.ts), which never calls into a freed instance.
    #[error("this Ranker was freed (free() was called); make a new one")]
    Freed,
    /// A bug caught natively. In wasm a panic cannot be caught: it traps, and the JS shim
    /// recovers (client/src/client/local-ranker.ts).
    #[error("internal error (a panic was caught): {0}")]
    Panic(String),
}

impl Error {
    /// Every code `code()` returns, in the order of the variants: the list the JS side's
    /// vocabulary is generated from and checked against (tests/vocabulary.rs).
    pub const CODES: [&'static str; 18] = [
        "INVALID_REQUEST",
        "TOO_MANY_CANDIDATES",
        "INVALID_EVENT",
        "INVALID_MODEL",
        "MODEL_UNSIGNED",
        "MODEL_TAMPERED",
        "MODEL_UNTRUSTED_KEY",
        "CONTRACT_MISMATCH",
        "UNKNOWN_FEATURE",
        "CORRUPT_SNAPSHOT",
        "SNAPSHOT_VERSION",
        "INFERENCE_FAILED",
        "INVALID_MODEL_OUTPUT",
        "TIME_BUDGET_EXCEEDED",
        "MEMORY_BUDGET_EXCEEDED",
        "INVALID_OPTIONS",
        "FREED",
        "PANIC",
    ];

    /// Stable code for programs: JS `error.code` and fallback `reason`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "INVALID_REQUEST",
            Error::TooManyCandidates { .. } => "TOO_MANY_CANDIDATES",
            Error::InvalidEvent(_) => "INVALID_EVENT",
            Error::InvalidModel(_) => "INVALID_MODEL",
            Error::ModelUnsigned(_) => "MODEL_UNSIGNED",
            Error::ModelTampered(_) => "MODEL_TAMPERED",
            Error::ModelUntrustedKey(_) => "MODEL_UNTRUSTED_KEY",
            Error::ContractMismatch(_) => "CONTRACT_MISMATCH",
            Error::UnknownFeature(_) => "UNKNOWN_FEATURE",
            Error::CorruptSnapshot(_) => "CORRUPT_SNAPSHOT",
            Error::SnapshotVersion { .. } => "SNAPSHOT_VERSION",
            Error::Inference(_) => "INFERENCE_FAILED",
            Error::InvalidModelOutput(_) => "INVALID_MODEL_OUTPUT",
            Error::TimeBudgetExceeded { .. } => "TIME_BUDGET_EXCEEDED",
            Error::MemoryBudgetExceeded { .. } => "MEMORY_BUDGET_EXCEEDED",
            Error::InvalidOptions(_) => "INVALID_OPTIONS",
            Error::Freed => "FREED",
            Error::Panic(_) => "PANIC",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `f`, turning a panic into its message. Natively only: in wasm a panic aborts (traps)
/// before this can see it, and the JS client recovers from the trap instead.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
            (Some(message), _) => (*message).to_owned(),
            (_, Some(message)) => message.clone(),
            _ => "a panic without a message".to_owned(),
        }
    })
}
