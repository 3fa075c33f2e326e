//! The feature contract: which features a model reads, in which column order. It travels inside
//! the .onnx file (metadata key `localrank.contract`), so a model and its features cannot drift.
//!
//! Version 2 is the do-no-harm form: the model's output is a *local term* added to the
//! server's order, `score = -ln(1 + server rank) + local term`, and the ranker sets the local
//! term to exactly 0 for a candidate none of whose candidate signal features
//! (`Feature::is_candidate_signal`) is non-zero (`ranker::residual_scores`). Without local signals the order is the server's, whatever the
//! model. Version 1 models (raw model scores plus a blend of the raw server score) are refused.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::learning::LearningConfig;

/// The ONNX `metadata_props` key that holds the contract JSON.
pub const CONTRACT_METADATA_KEY: &str = "localrank.contract";
/// The contract format this build reads.
pub const CONTRACT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contract {
    pub version: u32,
    #[serde(default = "default_name")]
    pub name: String,
    /// Feature names, one per model input column.
    pub features: Vec<String>,
    /// The personal head's hyper-parameters (`learning::LearningConfig`; a contract without
    /// them, like every contract before on-device learning, gets the defaults). The head
    /// learns over the contract's candidate signal features: a new model whose signal
    /// features differ resets it, one with the same ones carries it on.
    #[serde(default, skip_serializing_if = "LearningConfig::is_default")]
    pub learning: LearningConfig,
}

fn default_name() -> String {
    "localrank-model".into()
}

impl Contract {
    pub fn from_json(json: &str) -> Result<Contract> {
        let contract: Contract = serde_json::from_str(json)
            .map_err(|e| Error::ContractMismatch(format!("unreadable contract JSON: {e}")))?;
        if contract.version != CONTRACT_VERSION {
            return Err(Error::ContractMismatch(format!(
                "contract version {} is not the supported version {CONTRACT_VERSION} (the do-no-harm \
                 form: retrain the model with this pipeline)",
                contract.version
            )));
        }
        if contract.features.is_empty() {
            return Err(Error::ContractMismatch("the contract names no features".into()));
        }
        contract.learning.validate()?;
        Ok(contract)
    }

    /// One contract with the features of all of `contracts`, in first-seen order: what a
    /// replay computes for several models at once.
    pub fn union(contracts: impl IntoIterator<Item = Contract>) -> Contract {
        let mut features: Vec<String> = Vec::new();
        for contract in contracts {
            for name in contract.features {
                if !features.contains(&name) {
                    features.push(name);
                }
            }
        }
        Contract {
            version: CONTRACT_VERSION,
            name: "localrank-replay".into(),
            features,
            learning: LearningConfig::default(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a contract always serialises")
    }
}
