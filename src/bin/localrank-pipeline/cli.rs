//! The offline pipeline's commands. Each declares its options (with their defaults) once, and
//! that one table is what `--help` prints and what the parser accepts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use localrank::features::{Contract, Feature, CONTRACT_VERSION};
use localrank::model::bundle::{self, decode_hex, encode_hex};
use localrank::model::ModelRunner;
use localrank::offline::evaluate::{Extra, Role, Scoring};
use localrank::offline::event_log::{self, RequestLog};
use localrank::offline::kuairand::{self, KuaiRandProtocol};
use localrank::offline::log::Log;
use localrank::offline::protocol::{Protocol, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION};
use localrank::offline::replay::{self, ReplayOptions};
use localrank::offline::report::CONTROL_PREFIX;
use localrank::offline::{evaluate, movielens, npz, parity, prequential, report, training_table};
use localrank::signals::decay::DAY_MS;

const MINUTE_MS: f64 = 60_000.0;
const HOUR_MS: f64 = 60.0 * MINUTE_MS;
/// The bootstrap's seed: fixed, so a card is reproducible bit for bit.
const BOOTSTRAP_SEED: u64 = 20_261_127;

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

/// Whether an option must be given, and what it is worth when it is not.
enum Need {
    Required,
    Optional,
    Default(String),
}

struct Opt {
    name: &'static str,
    /// The value's placeholder in `--help` (`FILE`, `N`…).
    value: &'static str,
    help: &'static str,
    need: Need,
}

fn required(name: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt { name, value, help, need: Need::Required }
}

fn optional(name: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt { name, value, help, need: Need::Optional }
}

fn with_default(name: &'static str, value: &'static str, help: &'static str, default: impl ToString) -> Opt {
    Opt { name, value, help, need: Need::Default(default.to_string()) }
}

struct Command {
    name: &'static str,
    summary: &'static str,
    options: fn() -> Vec<Opt>,
    run: fn(&Args) -> Result<(), String>,
}

const COMMANDS: [Command; 9] = [
    Command {
        name: "features",
        summary: "print the contract naming every feature this build knows",
        options: Vec::new,
        run: features,
    },
    Command {
        name: "adapt-movielens",
        summary:
            "write a MovieLens folder (ratings.csv, movies.csv) as an events table of the event-log format",
        options: || {
            vec![
                required("data", "DIR", "the MovieLens folder"),
                required("events", "OUT.parquet", "the events table to write (.parquet or .jsonl)"),
            ]
        },
        run: adapt_movielens,
    },
    Command {
        name: "adapt-kuairand",
        summary: "write the KuaiRand-Pure slice (events.csv.gz, items.csv) as events and requests tables",
        options: kuairand_options,
        run: adapt_kuairand,
    },
    Command {
        name: "replay",
        summary:
            "replay an event log through the device's signal store and feature builder into training rows",
        options: replay_options,
        run: replay,
    },
    Command {
        name: "evaluate",
        summary: "evaluate a model on a replay's test period and write its model card and chart",
        options: evaluate_options,
        run: evaluate,
    },
    Command {
        name: "parity-fixture",
        summary: "write the request and scores the wasm tests check the module against",
        options: || {
            vec![required("model", "MODEL", "the model (ONNX or NNEF)"), required("out", "FIXTURE.json", "")]
        },
        run: parity_fixture,
    },
    Command {
        name: "to-nnef",
        summary: "convert an ONNX model to the NNEF archive the slim (NNEF-only) build loads",
        options: || vec![required("model", "M.onnx", ""), required("out", "M.nnef.tar", "")],
        run: to_nnef,
    },
    Command {
        name: "keygen",
        summary: "make an Ed25519 key pair for signing model bundles (hex; the secret key file is mode 600)",
        options: || {
            vec![
                required("secret-key", "K.key", "written; must not exist yet"),
                required("public-key", "K.pub", "written"),
            ]
        },
        run: keygen,
    },
    Command {
        name: "bundle",
        summary: "seal a model with its SHA-256 (and a signature) for `trustedKeys`",
        options: || {
            vec![
                required("model", "M.onnx", "the model to seal (it must load)"),
                required("out", "M.lrmodel", ""),
                optional("sign-key", "K.key", "sign with this secret key (from keygen)"),
            ]
        },
        run: bundle_model,
    },
];

fn replay_options() -> Vec<Opt> {
    let p = Protocol::default();
    vec![
        required(
            "events",
            "E.parquet",
            "the events table (.parquet or .jsonl; see README, \"Event-log format\")",
        ),
        optional(
            "requests",
            "R.parquet",
            "the requests table; without it the simulated server makes the requests",
        ),
        required(
            "features",
            "C.json[,C.json…]",
            "the features to compute: the union of these contracts' (`features` prints all)",
        ),
        required(
            "out",
            "OUT.parquet|OUT.npz",
            "the replay: a training table (Parquet), or NPZ (plus OUT.contract.json and OUT.source.json beside it)",
        ),
        required("dataset", "NAME", "the data set's name in the model card"),
        with_default(
            "session-gap-min",
            "MINUTES",
            "simulated server: a longer gap between events starts a session",
            p.session_gap_ms / MINUTE_MS,
        ),
        with_default(
            "request-every",
            "N",
            "simulated server: a request at each session start and every N events",
            p.request_every,
        ),
        with_default("train-every", "N", "the same in the training period only", p.train_every),
        with_default(
            "label-window",
            "N",
            "simulated server: labels are the liked items among the next N events of the session",
            p.label_window,
        ),
        with_default("candidates", "N", "candidates the simulated server sends per request", p.candidates),
        with_default(
            "server-lag-hours",
            "HOURS",
            "simulated server: it sees other users' events this late",
            p.server_lag_ms / HOUR_MS,
        ),
        with_default(
            "popularity-half-life-days",
            "DAYS",
            "half-life of the server's popularity score",
            p.popularity_half_life_ms / DAY_MS,
        ),
        with_default(
            "embedding-dim",
            "N",
            "dimension of the server's co-occurrence embedding",
            p.embedding_dim,
        ),
        with_default(
            "validation-from",
            "Q",
            "requests from this quantile of the events' times are validation (unless the request log splits)",
            p.validation_from,
        ),
        with_default("test-from", "Q", "... and from this one test", p.test_from),
    ]
}

fn kuairand_options() -> Vec<Opt> {
    let p = KuaiRandProtocol::default();
    vec![
        required("data", "DIR", "the KuaiRand folder (events.csv.gz, items.csv)"),
        required("events", "E.parquet", "the events table to write (.parquet or .jsonl)"),
        required("requests", "R.parquet", "the requests table to write (.parquet or .jsonl)"),
        with_default(
            "session-gap-hours",
            "HOURS",
            "a longer gap between exposures starts a request",
            p.session_gap_ms / HOUR_MS,
        ),
        with_default("request-every", "N", "a request N exposures after the last one", p.request_every),
        with_default("candidates", "N", "candidates: the next N exposures (distinct videos)", p.candidates),
        with_default("min-candidates", "N", "fewer candidates make no request", p.min_candidates),
        with_default(
            "half-life-days",
            "DAYS",
            "half-life of the server's long-view count",
            p.half_life_ms / DAY_MS,
        ),
        with_default(
            "lag-hours",
            "HOURS",
            "the server sees other users' exposures this late",
            p.lag_ms / HOUR_MS,
        ),
        with_default(
            "validation-from",
            "Q",
            "requests from this quantile of the exposures' times are validation",
            p.validation_from,
        ),
        with_default("test-from", "Q", "... and from this one test", p.test_from),
    ]
}

fn evaluate_options() -> Vec<Opt> {
    vec![
        required(
            "replay",
            "R.npz|R.parquet|DIR",
            "the replay: NPZ, a training table, or a folder of its parts (a Ray job's)",
        ),
        required("model", "M.onnx", "the model to evaluate; the card names it by this path"),
        required("card", "CARD.md", "the model card to write"),
        required("chart", "CHART.svg", "the chart to write"),
        optional("nnef", "M.nnef.tar", "the model's NNEF conversion, whose size the card states"),
        optional("train-report", "R.json", "the trainer's report, quoted in the card"),
        with_default(
            "command",
            "TEXT",
            "the command that made this card, printed under Reproduce",
            "./build.sh model DATA_DIR",
        ),
        optional(
            "goal-lift",
            "PERCENT",
            "the lift over the server order the model must reach, checked in the card",
        ),
        optional("goal-lift-low", "PERCENT", "the lift interval's lower end must exceed this"),
        optional(
            "goal-control-ratio",
            "R",
            "the model's NDCG@10 must be at least R times the first control's",
        ),
        optional(
            "controls",
            "M.onnx[,M.onnx…]",
            "ungated controls (train.py --ungated), named by their contract, scored for every candidate",
        ),
        optional("ablations", "LABEL=M.onnx[,…]", "the model retrained without a feature family, per label"),
        optional("cross", "M.onnx[,…]", "other shipped models, replayed on this log (the cross-log check)"),
        optional("about", "ABOUT.md", "about the data set (licence, limits), quoted in the card"),
    ]
}

/// A command's parsed arguments: option values by name.
struct Args {
    options: HashMap<String, String>,
    /// Every option the command declares, for defaults.
    declared: Vec<Opt>,
}

impl Args {
    /// Parses `--name value` pairs against the command's table: unknown or repeated options,
    /// missing values or required options, and positional arguments are errors.
    fn parse(command: &Command, args: &[String]) -> Result<Args, String> {
        let declared = (command.options)();
        let hint = format!("(see localrank-pipeline {} --help)", command.name);
        let mut options = HashMap::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}` {hint}"));
            };
            if !declared.iter().any(|o| o.name == name) {
                return Err(format!("unknown option --{name} for {} {hint}", command.name));
            }
            let value = iter.next().ok_or(format!("--{name} needs a value {hint}"))?;
            if options.insert(name.to_owned(), value.clone()).is_some() {
                return Err(format!("--{name} given twice"));
            }
        }
        if let Some(missing) =
            declared.iter().find(|o| matches!(o.need, Need::Required) && !options.contains_key(o.name))
        {
            return Err(format!("missing --{} {hint}", missing.name));
        }
        Ok(Args { options, declared })
    }

    /// The option's value as given, or its default.
    fn text(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str).or_else(|| {
            self.declared.iter().find(|o| o.name == name).and_then(|o| match &o.need {
                Need::Default(value) => Some(value.as_str()),
                _ => None,
            })
        })
    }

    /// A required option's value, or an option with a default (never absent then).
    fn value(&self, name: &str) -> &str {
        self.text(name).unwrap_or_else(|| panic!("--{name} is declared required or with a default"))
    }

    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(self.value(name))
    }

    fn parsed<T: FromStr>(&self, name: &str) -> Result<T, String> {
        let text = self.value(name);
        text.parse().map_err(|_| format!("--{name}: cannot read `{text}`"))
    }
}

fn usage() -> String {
    let mut text = String::from(
        "usage: localrank-pipeline COMMAND [OPTIONS]   (localrank-pipeline COMMAND --help for its options)\n\ncommands:\n",
    );
    for command in &COMMANDS {
        text.push_str(&format!("  {:16} {}\n", command.name, command.summary));
    }
    text
}

fn help(command: &Command) -> String {
    let mut text = format!(
        "localrank-pipeline {}: {}\n\nusage: localrank-pipeline {}",
        command.name, command.summary, command.name
    );
    let options = (command.options)();
    if !options.is_empty() {
        text.push_str(" [OPTIONS]");
    }
    text.push('\n');
    if !options.is_empty() {
        text.push_str("\noptions:\n");
    }
    for o in &options {
        let flag = format!("--{} {}", o.name, o.value);
        let need = match &o.need {
            Need::Required => " (required)".to_owned(),
            Need::Optional => String::new(),
            Need::Default(value) => format!(" (default {value})"),
        };
        text.push_str(&format!("  {flag:34} {}{need}\n", o.help));
    }
    text
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((name, rest)) = args.split_first() else { return Err(usage()) };
    if matches!(name.as_str(), "--help" | "-h" | "help") {
        match rest.first().and_then(|n| COMMANDS.iter().find(|c| c.name == n)) {
            Some(command) => print!("{}", help(command)),
            None => print!("{}", usage()),
        }
        return Ok(());
    }
    let command = COMMANDS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("unknown command `{name}`\n{}", usage()))?;
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", help(command));
        return Ok(());
    }
    (command.run)(&Args::parse(command, rest)?)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_model(path: &Path) -> Result<ModelRunner, String> {
    ModelRunner::load(&read(path)?, &[]).map_err(|e| format!("{}: {e}", path.display()))
}

fn features(_: &Args) -> Result<(), String> {
    let contract = Contract {
        version: CONTRACT_VERSION,
        name: "all-features".into(),
        features: Feature::all_names(),
        learning: Default::default(),
    };
    println!("{}", contract.to_json());
    Ok(())
}

fn adapt_movielens(args: &Args) -> Result<(), String> {
    let events = movielens::load(&args.path("data"))?;
    let description = vec![movielens::DESCRIPTION.to_owned()];
    event_log::write_events(&args.path("events"), &events, &description)?;
    eprintln!("adapt-movielens: {} events → {}", events.len(), args.value("events"));
    Ok(())
}

fn adapt_kuairand(args: &Args) -> Result<(), String> {
    let protocol = KuaiRandProtocol {
        session_gap_ms: args.parsed::<f64>("session-gap-hours")? * HOUR_MS,
        request_every: args.parsed("request-every")?,
        candidates: args.parsed("candidates")?,
        min_candidates: args.parsed("min-candidates")?,
        half_life_ms: args.parsed::<f64>("half-life-days")? * DAY_MS,
        lag_ms: args.parsed::<f64>("lag-hours")? * HOUR_MS,
        validation_from: args.parsed("validation-from")?,
        test_from: args.parsed("test-from")?,
    };
    let (events, requests) = kuairand::load(&args.path("data"), &protocol)?;
    event_log::write_events(&args.path("events"), &events, &[])?;
    event_log::write_requests(&args.path("requests"), &requests)?;
    eprintln!(
        "adapt-kuairand: {} events → {}, {} requests → {}",
        events.len(),
        args.value("events"),
        requests.requests.len(),
        args.value("requests")
    );
    Ok(())
}

/// The union of the features of the contracts at `paths` (comma-separated), in first-seen order.
fn union_contract(paths: &str) -> Result<Contract, String> {
    let contracts = paths
        .split(',')
        .map(|path| {
            let json = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            Contract::from_json(&json).map_err(|e| format!("{path}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Contract::union(contracts))
}

fn replay(args: &Args) -> Result<(), String> {
    let contract = union_contract(args.value("features"))?;
    let protocol = Protocol {
        session_gap_ms: args.parsed::<f64>("session-gap-min")? * MINUTE_MS,
        request_every: args.parsed("request-every")?,
        train_every: args.parsed("train-every")?,
        label_window: args.parsed("label-window")?,
        candidates: args.parsed("candidates")?,
        server_lag_ms: args.parsed::<f64>("server-lag-hours")? * HOUR_MS,
        popularity_half_life_ms: args.parsed::<f64>("popularity-half-life-days")? * DAY_MS,
        embedding_dim: args.parsed("embedding-dim")?,
        validation_from: args.parsed("validation-from")?,
        test_from: args.parsed("test-from")?,
    };
    protocol.validate()?;
    let dataset = args.value("dataset").to_owned();
    let (events, description) = event_log::read_events(&args.path("events"))?;
    let requests: Option<RequestLog> =
        args.text("requests").map(|p| event_log::read_requests(Path::new(p))).transpose()?;
    let log = Log::new(events, description, requests);
    let data = replay::replay(&log, &contract, ReplayOptions { users: None, dataset, protocol })?;
    let out = args.path("out");
    if out.extension().is_some_and(|e| e == "npz") {
        npz::write(&out, &data).map_err(|e| format!("{}: {e}", out.display()))?;
    } else {
        training_table::write(&out, &data)?;
    }
    eprintln!("replay: {} requests, {} rows → {}", data.requests(), data.labels.len(), out.display());
    Ok(())
}

fn evaluate(args: &Args) -> Result<(), String> {
    let replay_path = args.path("replay");
    let data = if replay_path.extension().is_some_and(|e| e == "npz") {
        npz::read(&replay_path).map_err(|e| format!("{}: {e}", replay_path.display()))?
    } else {
        training_table::read(&replay_path)?
    };
    let model_path = args.value("model");
    let mut model = read_model(Path::new(model_path))?;
    let list = |name: &str| args.text(name).map_or(Vec::new(), |v| v.split(',').map(str::to_owned).collect());
    let mut extras = Vec::new();
    for path in list("controls") {
        let model = read_model(Path::new(&path))?;
        let name = format!("{CONTROL_PREFIX}{}", model.contract().name);
        extras.push(Extra { name, role: Role::Control, model, scoring: Scoring::Ungated });
    }
    for entry in list("ablations") {
        let (label, path) =
            entry.split_once('=').ok_or(format!("--ablations: `{entry}` is not LABEL=M.onnx"))?;
        let model = read_model(Path::new(path))?;
        extras.push(Extra {
            name: format!("without {label}"),
            role: Role::Ablation,
            model,
            scoring: Scoring::Device,
        });
    }
    for path in list("cross") {
        let model = read_model(Path::new(&path))?;
        let name = format!("`{}` ({path})", model.contract().name);
        extras.push(Extra { name, role: Role::CrossLog, model, scoring: Scoring::Device });
    }
    let evaluation = evaluate::evaluate(&data, &mut model, &mut extras, BOOTSTRAP_SEED)?;
    let learning = prequential::prequential(&data, &mut model, SPLIT_TEST, BOOTSTRAP_SEED)?;
    // The validation period's figures, printed (never in the card): what the learning
    // hyper-parameters are chosen on.
    let validation = prequential::prequential(&data, &mut model, SPLIT_VALIDATION, BOOTSTRAP_SEED)?;
    let about = args
        .text("about")
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}")))
        .transpose()?;
    let train_report = args
        .text("train-report")
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}")))
        .transpose()?;
    let number = |name: &str| {
        args.text(name)
            .map(|v| v.parse::<f64>().map_err(|_| format!("--{name}: cannot read `{v}`")))
            .transpose()
    };
    let goals = report::Goals {
        lift: number("goal-lift")?.map(|percent| percent / 100.0),
        lift_low: number("goal-lift-low")?.map(|percent| percent / 100.0),
        control_ratio: number("goal-control-ratio")?,
    };
    let nnef = args
        .text("nnef")
        .map(|path| {
            std::fs::metadata(path).map(|m| (path, m.len() as usize)).map_err(|e| format!("{path}: {e}"))
        })
        .transpose()?;
    let count = |split| data.split.iter().filter(|&&s| s == split).count();
    let provenance = report::Provenance {
        command: args.value("command"),
        model_path,
        nnef,
        source: &data.source,
        train_requests: count(SPLIT_TRAIN),
        validation_requests: count(SPLIT_VALIDATION),
        goals,
        about: about.as_deref(),
        train_report: train_report.as_deref(),
    };
    write(&args.path("card"), report::model_card(&evaluation, &learning, model.info(), &provenance))?;
    write(&args.path("chart"), report::chart(&evaluation))?;
    for m in &evaluation.methods {
        println!(
            "{:60} NDCG@10 {:.4} [{:.4}, {:.4}]  lift {:+.1} % [{:+.1}, {:+.1}]",
            m.name,
            m.ndcg.mean,
            m.ndcg.low,
            m.ndcg.high,
            m.lift.mean * 100.0,
            m.lift.low * 100.0,
            m.lift.high * 100.0
        );
    }
    for (period, result) in [("validation", &validation), ("test", &learning)] {
        for row in &result.rows {
            println!(
                "on-device learning, {period}, {:16} NDCG@10 base {:.4} → base + head {:.4}  lift {:+.1} % [{:+.1}, {:+.1}]",
                row.label,
                row.base.mean,
                row.with_head.mean,
                row.lift.mean * 100.0,
                row.lift.low * 100.0,
                row.lift.high * 100.0
            );
        }
    }
    Ok(())
}

fn parity_fixture(args: &Args) -> Result<(), String> {
    let fixture = parity::fixture(&read(&args.path("model"))?).map_err(|e| e.to_string())?;
    write(&args.path("out"), fixture)
}

fn to_nnef(args: &Args) -> Result<(), String> {
    let (input, output) = (args.path("model"), args.path("out"));
    let bytes = read(&input)?;
    let nnef = localrank::model::onnx_to_nnef(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
    // The archive must load as the slim build loads it, contract included.
    ModelRunner::load(&nnef, &[]).map_err(|e| format!("the converted model does not load: {e}"))?;
    write(&output, &nnef)?;
    eprintln!("wrote {} ({} bytes, from {} bytes of ONNX)", output.display(), nnef.len(), bytes.len());
    Ok(())
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

fn keygen(args: &Args) -> Result<(), String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let signing_key = bundle::SigningKey::from_bytes(&secret);
    let public = encode_hex(signing_key.verifying_key().as_bytes());
    write_secret(&args.path("secret-key"), &encode_hex(&secret))?;
    write(&args.path("public-key"), format!("{public}\n"))?;
    println!("{public}");
    Ok(())
}

fn bundle_model(args: &Args) -> Result<(), String> {
    let model_path = args.path("model");
    let model = read(&model_path)?;
    // Refuse to seal what the ranker would not load.
    ModelRunner::load(&model, &[]).map_err(|e| format!("{}: {e}", model_path.display()))?;
    let signing_key = args.text("sign-key").map(read_signing_key).transpose()?;
    let sealed = bundle::seal(&model, signing_key.as_ref()).map_err(|e| e.to_string())?;
    let (_, provenance) = bundle::open(&sealed, &[]).map_err(|e| e.to_string())?;
    write(&args.path("out"), sealed)?;
    println!(
        "sha256 {}  signed by {}",
        provenance.sha256,
        provenance.signed_by.as_deref().unwrap_or("nobody")
    );
    Ok(())
}
