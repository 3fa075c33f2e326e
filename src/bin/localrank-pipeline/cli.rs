//! The offline pipeline's commands (usage in `main.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use localrank::features::{Contract, Feature, CONTRACT_VERSION};
use localrank::model::bundle::{self, decode_hex, encode_hex};
use localrank::model::ModelRunner;
use localrank::offline::protocol::{REQUEST_EVERY, SPLIT_TRAIN, SPLIT_VALIDATION};
use localrank::offline::replay::{self, ReplayOptions, Shard};
use localrank::offline::{evaluate, movielens, npz, parity, report};

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("localrank-pipeline: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` options and the remaining positional arguments.
struct Args {
    options: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut options = HashMap::new();
        let mut positional = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            match arg.strip_prefix("--") {
                Some(name) => {
                    let value = iter.next().ok_or(format!("--{name} needs a value"))?;
                    options.insert(name.to_owned(), value.clone());
                }
                None => positional.push(arg.clone()),
            }
        }
        Ok(Args { options, positional })
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.optional(name).ok_or(format!("missing --{name}"))
    }

    fn path(&self, name: &str) -> Result<PathBuf, String> {
        self.required(name).map(PathBuf::from)
    }
}

fn read_model(path: &Path) -> Result<ModelRunner, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ModelRunner::load(&bytes, &[]).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_signing_key(path: &str) -> Result<bundle::SigningKey, String> {
    let hex = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let secret = decode_hex::<32>(&hex).ok_or(format!("{path}: not a 64-hex-digit Ed25519 secret key"))?;
    Ok(bundle::SigningKey::from_bytes(&secret))
}

/// Writes a secret key readable by its owner only.
fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(file, "{text}").map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or(
        "usage: localrank-pipeline features|replay|merge|evaluate|parity-fixture|to-nnef|keygen|bundle …",
    )?;
    let args = Args::parse(rest)?;
    match command.as_str() {
        "to-nnef" => {
            let (input, output) = (args.path("model")?, args.path("out")?);
            let bytes = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let nnef =
                localrank::model::onnx_to_nnef(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
            // The archive must load as the slim build loads it, contract included.
            ModelRunner::load(&nnef, &[]).map_err(|e| format!("the converted model does not load: {e}"))?;
            std::fs::write(&output, &nnef).map_err(|e| format!("{}: {e}", output.display()))?;
            eprintln!(
                "wrote {} ({} bytes, from {} bytes of ONNX)",
                output.display(),
                nnef.len(),
                bytes.len()
            );
            Ok(())
        }
        "features" => {
            let contract = Contract {
                version: CONTRACT_VERSION,
                name: "all-features".into(),
                features: Feature::all_names(),
                server_blend: 0.0,
            };
            println!("{}", contract.to_json());
            Ok(())
        }
        "replay" => {
            let data_dir = args.path("data")?;
            let contract_path = args.path("features")?;
            let contract_json = std::fs::read_to_string(&contract_path)
                .map_err(|e| format!("{}: {e}", contract_path.display()))?;
            let contract = Contract::from_json(&contract_json).map_err(|e| e.to_string())?;
            let shard = args.optional("shard").map_or(Ok(Shard::ALL), Shard::parse)?;
            let train_every = args
                .optional("train-every")
                .map_or(Ok(REQUEST_EVERY), |v| v.parse().map_err(|_| format!("bad --train-every {v}")))?;
            let log = movielens::load(&data_dir)?;
            let data = replay::replay(&log, &contract, ReplayOptions { shard, train_every })?;
            let out = args.path("out")?;
            npz::write(&out, &data).map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!("replay: {} requests, {} rows → {}", data.requests(), data.labels.len(), out.display());
            Ok(())
        }
        "merge" => {
            let parts = args
                .positional
                .iter()
                .map(|p| npz::read(Path::new(p)).map_err(|e| format!("{p}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            let merged = npz::merge(parts)?;
            let out = args.path("out")?;
            npz::write(&out, &merged).map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!("merge: {} requests → {}", merged.requests(), out.display());
            Ok(())
        }
        "evaluate" => {
            let replay_path = args.path("replay")?;
            let data = npz::read(&replay_path).map_err(|e| format!("{}: {e}", replay_path.display()))?;
            let mut model = read_model(&args.path("model")?)?;
            let evaluation = evaluate::evaluate(&data, &mut model, 20_261_127)?;
            let train_report = args
                .optional("train-report")
                .map(std::fs::read_to_string)
                .transpose()
                .map_err(|e| e.to_string())?;
            let count = |split| data.split.iter().filter(|&&s| s == split).count();
            let provenance = report::Provenance {
                command: args.optional("command").unwrap_or("./build.sh model DATA_DIR"),
                dataset: args.optional("dataset").unwrap_or("MovieLens ml-latest-small"),
                train_requests: count(SPLIT_TRAIN),
                validation_requests: count(SPLIT_VALIDATION),
                train_report: train_report.as_deref(),
            };
            let card = report::model_card(&evaluation, model.info(), &provenance);
            for (path, text) in
                [(args.path("card")?, card), (args.path("chart")?, report::chart(&evaluation))]
            {
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            for m in &evaluation.methods {
                println!(
                    "{:40} NDCG@10 {:.4} [{:.4}, {:.4}]  lift {:+.1} % [{:+.1}, {:+.1}]",
                    m.name,
                    m.ndcg.mean,
                    m.ndcg.low,
                    m.ndcg.high,
                    m.lift.mean * 100.0,
                    m.lift.low * 100.0,
                    m.lift.high * 100.0
                );
            }
            Ok(())
        }
        "parity-fixture" => {
            let model_path = args.path("model")?;
            let bytes = std::fs::read(&model_path).map_err(|e| format!("{}: {e}", model_path.display()))?;
            let fixture = parity::fixture(&bytes).map_err(|e| e.to_string())?;
            let out = args.path("out")?;
            std::fs::write(&out, fixture).map_err(|e| format!("{}: {e}", out.display()))
        }
        "keygen" => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| format!("no randomness from the OS: {e}"))?;
            let signing_key = bundle::SigningKey::from_bytes(&secret);
            let public = encode_hex(signing_key.verifying_key().as_bytes());
            let secret_path = args.path("secret-key")?;
            write_secret(&secret_path, &encode_hex(&secret))?;
            let public_path = args.path("public-key")?;
            std::fs::write(&public_path, format!("{public}\n"))
                .map_err(|e| format!("{}: {e}", public_path.display()))?;
            println!("{public}");
            Ok(())
        }
        "bundle" => {
            let model_path = args.path("model")?;
            let model = std::fs::read(&model_path).map_err(|e| format!("{}: {e}", model_path.display()))?;
            // Refuse to seal what the ranker would not load.
            ModelRunner::load(&model, &[]).map_err(|e| format!("{}: {e}", model_path.display()))?;
            let signing_key = args.optional("sign-key").map(read_signing_key).transpose()?;
            let sealed = bundle::seal(&model, signing_key.as_ref()).map_err(|e| e.to_string())?;
            let (_, provenance) = bundle::open(&sealed, &[]).map_err(|e| e.to_string())?;
            let out = args.path("out")?;
            std::fs::write(&out, sealed).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "sha256 {}  signed by {}",
                provenance.sha256,
                provenance.signed_by.as_deref().unwrap_or("nobody")
            );
            Ok(())
        }
        other => Err(format!("unknown command `{other}`")),
    }
}
