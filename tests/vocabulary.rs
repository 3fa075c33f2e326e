//! One source of truth for the JS boundary's vocabulary: error codes, event kinds, feature
//! groups and the option / request keys are defined in the Rust core. This test renders the
//! client's copy (client/src/vocabulary.ts) from them and fails when the committed file
//! differs (`LOCALRANK_BLESS=1 cargo test --test vocabulary` rewrites it), and checks that the
//! hand-written declarations in src/bindings.d.ts name exactly the same members (and that the
//! fuzzers' JSON dictionary knows every kind and key).

use localrank::error::Error;
use localrank::features::FeatureGroup;
use localrank::item::{EventKind, MAX_EMBEDDING_LEN, MAX_KEYS_PER_FAMILY, MAX_STRING_LEN};
use localrank::model::MAX_MODEL_BYTES;
use localrank::ranker::{OnError, MAX_CANDIDATES_LIMIT};
use localrank::signals::{SignalStore, StoreConfig, MAX_EVENTS_PER_BATCH, MAX_SNAPSHOT_BYTES};
use localrank::vocabulary::{CONSTRAINT_KEYS, DIVERSITY_KEYS, OPTION_KEYS, REQUEST_KEYS};

/// The project's folder, read when the test runs: a test binary reused from a build in another
/// checkout (one shared target directory) must still read this checkout's files.
fn root() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR").into()
}

fn event_kinds() -> Vec<&'static str> {
    EventKind::ALL.iter().map(|k| k.name()).collect()
}

fn feature_groups() -> Vec<&'static str> {
    FeatureGroup::ALL.iter().map(|g| g.name()).collect()
}

fn quoted(list: &[&str]) -> String {
    list.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
}

/// A `const` array on one line if it fits in 120 columns, else one member per line.
fn const_array(name: &str, list: &[&str]) -> String {
    let line = format!("export const {name} = [{}] as const;\n", quoted(list));
    if line.len() <= 121 {
        return line;
    }
    let members: String = list.iter().map(|s| format!("  \"{s}\",\n")).collect();
    format!("export const {name} = [\n{members}] as const;\n")
}

/// The core's size limits the TypeScript side checks before it reads or copies anything in.
fn limits() -> [(&'static str, &'static str, usize); 7] {
    [
        ("Longest id or key, in UTF-8 bytes (src/item.rs).", "maxStringBytes", MAX_STRING_LEN),
        ("Most keys of one family on an item (src/item.rs).", "maxKeysPerFamily", MAX_KEYS_PER_FAMILY),
        ("Longest embedding (src/item.rs).", "maxEmbeddingLength", MAX_EMBEDDING_LEN),
        ("Highest `maxCandidates` (src/ranker.rs).", "maxCandidatesLimit", MAX_CANDIDATES_LIMIT),
        ("Most events in one `record` (src/signals/mod.rs).", "maxEventsPerBatch", MAX_EVENTS_PER_BATCH),
        ("Largest model file or bundle, in bytes (src/model.rs).", "maxModelBytes", MAX_MODEL_BYTES),
        ("Largest snapshot, in bytes (src/signals/snapshot.rs).", "maxSnapshotBytes", MAX_SNAPSHOT_BYTES),
    ]
}

fn render_typescript() -> String {
    let sections: [(&str, &str, &[&str]); 8] = [
        ("Stable error codes: `error.code` of thrown errors and `fallback.reason` (src/error.rs).", "ERROR_CODES", &Error::CODES),
        ("Event kinds; a kind's index is its code in `EventColumns.kinds` (src/item.rs).", "EVENT_KINDS", &event_kinds()),
        ("The feature groups explanations report (src/features/feature.rs).", "FEATURE_GROUPS", &feature_groups()),
        (
            "The keys `new Ranker(model, options)` accepts; any other is `INVALID_OPTIONS` (src/vocabulary.rs).",
            "RANKER_OPTION_KEYS",
            OPTION_KEYS,
        ),
        ("The keys of a rerank request; any other is `INVALID_REQUEST` (src/vocabulary.rs).", "REQUEST_KEYS", REQUEST_KEYS),
        ("The keys of `request.constraints` (src/vocabulary.rs).", "CONSTRAINT_KEYS", CONSTRAINT_KEYS),
        ("The keys of `request.constraints.diversity` (src/vocabulary.rs).", "DIVERSITY_KEYS", DIVERSITY_KEYS),
        ("The values of `onError` (src/ranker.rs).", "ON_ERROR_MODES", &OnError::NAMES),
    ];
    let mut out = String::from(
        "// Generated from the Rust core by tests/vocabulary.rs; `LOCALRANK_BLESS=1 cargo test --test\n\
         // vocabulary` rewrites it, and that test fails whenever this file and the core drift apart.\n\
         // Do not edit by hand.\n",
    );
    for (doc, name, list) in sections {
        out.push_str(&format!("\n/** {doc} */\n{}", const_array(name, list)));
    }
    out.push_str("\n/** The core's size limits, checked on the TypeScript side before anything is read or copied in. */\n");
    out.push_str("export const LIMITS = {\n");
    for (doc, name, value) in limits() {
        out.push_str(&format!("  /** {doc} */\n  {name}: {value},\n"));
    }
    out.push_str("} as const;\n");
    out
}

#[test]
fn the_on_error_names_are_serdes() {
    for (mode, name) in [OnError::Fallback, OnError::Throw].iter().zip(OnError::NAMES) {
        assert_eq!(serde_json::to_string(mode).unwrap(), format!("\"{name}\""));
    }
}

#[test]
fn the_clients_vocabulary_is_generated_from_the_core() {
    let path = root().join("client/src/vocabulary.ts");
    let expected = render_typescript();
    if std::env::var_os("LOCALRANK_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == expected,
        "client/src/vocabulary.ts is not what the core says; run `LOCALRANK_BLESS=1 cargo test --test vocabulary`\n\
         --- expected ---\n{expected}"
    );
}

/// The string members of `export type NAME = "a" | "b" …;` in a .d.ts.
fn union_members(source: &str, name: &str) -> Vec<String> {
    let start = source.find(&format!("export type {name} =")).unwrap_or_else(|| panic!("no type {name}"));
    let body = &source[start..start + source[start..].find(';').unwrap()];
    body.split('"').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The property names of `export interface NAME { … }` (one level, no nested braces).
fn interface_keys(source: &str, name: &str) -> Vec<String> {
    let start =
        source.find(&format!("export interface {name} {{")).unwrap_or_else(|| panic!("no interface {name}"));
    let body = &source[start..start + source[start..].find("\n}").unwrap()];
    body.lines()
        .skip(1)
        .filter_map(|line| {
            let line = line.trim();
            let key = line.split(['?', ':']).next()?;
            (!line.starts_with('/') && !line.starts_with('*') && line.contains(':') && !key.is_empty())
                .then(|| key.to_owned())
        })
        .collect()
}

#[test]
fn the_declarations_name_the_cores_members() {
    let source = std::fs::read_to_string(root().join("src/bindings.d.ts")).unwrap();
    assert_eq!(union_members(&source, "ErrorCode"), Error::CODES);
    assert_eq!(union_members(&source, "EventKind"), event_kinds());
    assert_eq!(union_members(&source, "FeatureGroup"), feature_groups());
    assert_eq!(interface_keys(&source, "RankerOptions"), OPTION_KEYS);
    assert_eq!(interface_keys(&source, "RerankRequest"), REQUEST_KEYS);
    assert_eq!(interface_keys(&source, "Constraints"), CONSTRAINT_KEYS);
    let diversity =
        source.lines().find(|l| l.trim_start().starts_with("diversity?: {")).expect("Constraints.diversity");
    let keys: Vec<&str> =
        DIVERSITY_KEYS.iter().filter(|key| diversity.contains(&format!(" {key}: "))).copied().collect();
    assert_eq!(keys, DIVERSITY_KEYS, "{diversity}");
}

/// The keys of a JSON object, in order.
fn json_keys(value: &serde_json::Value) -> Vec<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn the_declarations_name_the_exports_fields() {
    let source = std::fs::read_to_string(root().join("src/bindings.d.ts")).unwrap();
    let store = SignalStore::new(StoreConfig::default()).unwrap();
    let export = serde_json::to_value(store.export(0.0).unwrap()).unwrap();
    let mut expected = interface_keys(&source, "SignalExport");
    let mut found = json_keys(&export);
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    let mut expected = interface_keys(&source, "ExportedLearning");
    let mut found = json_keys(&export["learning"]);
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
}

#[test]
fn every_error_has_a_listed_code() {
    let samples = [
        Error::InvalidRequest(String::new()),
        Error::TooManyCandidates { count: 0, limit: 0 },
        Error::InvalidEvent(String::new()),
        Error::InvalidModel(String::new()),
        Error::ModelUnsigned(String::new()),
        Error::ModelTampered(String::new()),
        Error::ModelUntrustedKey(String::new()),
        Error::ContractMismatch(String::new()),
        Error::UnknownFeature(String::new()),
        Error::CorruptSnapshot(String::new()),
        Error::SnapshotVersion { found: 0, supported: 0 },
        Error::Inference(String::new()),
        Error::InvalidModelOutput(String::new()),
        Error::TimeBudgetExceeded { budget_ms: 0.0, elapsed_ms: 0.0 },
        Error::MemoryBudgetExceeded { needed_bytes: 0, budget_bytes: 0 },
        Error::InvalidOptions(String::new()),
        Error::Freed,
        Error::Panic(String::new()),
    ];
    let codes: Vec<&str> = samples.iter().map(Error::code).collect();
    assert_eq!(codes, Error::CODES, "Error::CODES lists every variant's code, in order");
}

#[test]
fn the_fuzzers_dictionary_knows_every_kind_and_key() {
    let dictionary = std::fs::read_to_string(root().join("fuzz/json.dict")).unwrap();
    let tokens: Vec<&str> = dictionary.lines().filter(|l| !l.starts_with('#')).collect();
    let words =
        event_kinds().into_iter().chain(REQUEST_KEYS.iter().copied()).chain(CONSTRAINT_KEYS.iter().copied());
    for word in words.chain(DIVERSITY_KEYS.iter().copied()) {
        let token = format!("\"\\\"{word}\\\"\"");
        assert!(tokens.contains(&token.as_str()), "fuzz/json.dict lacks {token}");
    }
}
