//! The offline pipeline's commands (usage in `main.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use localrank::features::{Contract, Feature, CONTRACT_VERSION};
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
    ModelRunner::load(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args
        .split_first()
        .ok_or("usage: localrank-pipeline features|replay|merge|evaluate|parity-fixture|to-nnef …")?;
    let args = Args::parse(rest)?;
    match command.as_str() {
        "to-nnef" => {
            let (input, output) = (args.path("model")?, args.path("out")?);
            let bytes = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let nnef =
                localrank::model::onnx_to_nnef(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
            // The archive must load as the slim build loads it, contract included.
            ModelRunner::load(&nnef).map_err(|e| format!("the converted model does not load: {e}"))?;
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
        other => Err(format!("unknown command `{other}`")),
    }
}
