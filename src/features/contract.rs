//! The feature contract: which features a model reads, in which column order. It travels inside
//! the .onnx file (metadata key `localrank.contract`), so a model and its features cannot drift.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ONNX `metadata_props` key that holds the contract JSON.
pub const CONTRACT_METADATA_KEY: &str = "localrank.contract";
/// The contract format this build reads.
pub const CONTRACT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contract {
    pub version: u32,
    #[serde(default = "default_name")]
    pub name: String,
    /// Feature names, one per model input column.
    pub features: Vec<String>,
    /// Final score = model score + `server_blend` × server score.
    #[serde(default)]
    pub server_blend: f32,
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
                "contract version {} is not the supported version {CONTRACT_VERSION}",
                contract.version
            )));
        }
        if contract.features.is_empty() {
            return Err(Error::ContractMismatch("the contract names no features".into()));
        }
        if !contract.server_blend.is_finite() {
            return Err(Error::ContractMismatch("serverBlend is not finite".into()));
        }
        Ok(contract)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a contract always serialises")
    }
}
