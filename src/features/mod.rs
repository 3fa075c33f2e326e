//! Features: the contract a model declares, the names it may use, and the builder that
//! computes them from candidates and local signals.

mod builder;
mod contract;
mod feature;

pub use builder::{FeatureBuilder, FeatureScratch, RequestContext};
pub use contract::{Contract, CONTRACT_METADATA_KEY, CONTRACT_VERSION};
pub use feature::{Feature, FeatureGroup};
