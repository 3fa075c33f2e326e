//! The keys the JS boundary accepts in an options bag and a request, defined once: the
//! bindings refuse any other key with these lists, and tests/vocabulary.rs generates the
//! client's copy (client/src/vocabulary.ts) and checks the .d.ts against them, together with
//! the error codes (`Error::CODES`), event kinds (`EventKind::ALL`) and feature groups
//! (`FeatureGroup::ALL`).

/// Keys of `new Ranker(model, options)`.
pub const OPTION_KEYS: &[&str] = &[
    "keyCap",
    "retentionDays",
    "maxCandidates",
    "timeBudgetMs",
    "memoryBudgetBytes",
    "onError",
    "trustedKeys",
    "learning",
];
/// Keys of a rerank request (`rerankColumns` takes the same without reading `candidates`).
pub const REQUEST_KEYS: &[&str] =
    &["candidates", "now", "utcOffsetMinutes", "constraints", "explain", "onError"];
/// Keys of `request.constraints`.
pub const CONSTRAINT_KEYS: &[&str] = &["maxDisplacement", "diversity"];
/// Keys of `request.constraints.diversity`.
pub const DIVERSITY_KEYS: &[&str] = &["by", "maxRun"];
