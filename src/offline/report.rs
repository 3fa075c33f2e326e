//! Writes the evaluation as a model card (Markdown) and a bar chart (SVG).

use std::fmt::Write;

use super::evaluate::{Estimate, Evaluation, MethodResult, Role, HISTORY_BUCKETS};
use super::prequential::{Prequential, MANY_EVENTS};
use super::replay::ReplaySource;
use crate::features::Feature;
use crate::model::ModelInfo;
use crate::signals::decay::DAY_MS;

/// The most a shipped model may weigh (it is downloaded with the page).
pub const MAX_MODEL_BYTES: usize = 64 * 1024;

/// What the card says about where the numbers came from, besides the evaluation itself.
pub struct Provenance<'a> {
    /// The command that made the card, as run.
    pub command: &'a str,
    /// The model file as the card names it.
    pub model_path: &'a str,
    /// Its NNEF conversion for the slim build, and that file's size.
    pub nnef: Option<(&'a str, usize)>,
    /// Where the replay's rows came from.
    pub source: &'a ReplaySource,
    pub train_requests: usize,
    pub validation_requests: usize,
    pub goals: Goals,
    /// About the data set (its licence, what it is and is not), Markdown quoted as is.
    pub about: Option<&'a str>,
    /// The trainer's JSON report, quoted as is.
    pub train_report: Option<&'a str>,
}

/// How the card names an ungated control (`train.py --ungated`): this, then its contract's name.
pub const CONTROL_PREFIX: &str = "control: ";

/// What this data set's model must reach; each is checked in the card when set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Goals {
    /// The mean lift over the server order must reach this.
    pub lift: Option<f64>,
    /// The lift interval's lower end must exceed this.
    pub lift_low: Option<f64>,
    /// The model's NDCG@10 must be at least this fraction of the (first) control's.
    pub control_ratio: Option<f64>,
}

fn estimate(e: &Estimate) -> String {
    format!("{:.4} [{:.4}, {:.4}]", e.mean, e.low, e.high)
}

fn percent(e: &Estimate) -> String {
    format!("{:+.1} % [{:+.1}, {:+.1}]", e.mean * 100.0, e.low * 100.0, e.high * 100.0)
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// A lift interval "includes or exceeds 0": its upper end is not below 0 (no harm beyond noise).
pub fn bucket_not_harmed(lift: &Estimate) -> bool {
    lift.high >= 0.0
}

/// The methods of the main table and chart: the server order, baselines, the model, controls.
fn main_methods(eval: &Evaluation) -> impl Iterator<Item = &MethodResult> {
    eval.methods
        .iter()
        .filter(|m| matches!(m.role, Role::Server | Role::Baseline | Role::Model | Role::Control))
}

/// The issue's goal for base + head over base, for users with `MANY_EVENTS` events or more.
pub const LEARNING_LIFT_GOAL: f64 = 0.05;

/// The card's section on on-device learning: the prequential table and its goals.
fn learning_section(w: &mut String, learning: &Prequential) {
    let c = &learning.config;
    let _ = writeln!(
        w,
        "## On-device learning (prequential)
"
    );
    let _ = writeln!(w, "Each user's lists in time order through that user's own `Learner` (`src/learning`, the code the device runs), as the device meets them: before each list, the user's engagement so far labels the lists remembered as shown (the top {} candidates of each served order, the last {} lists), the lists whose {}-minute label window has closed are learnt from (one step each, validated first), and so is a list pushed out of that memory; then the list is reranked by this model plus the head (only while the head's gate is open) and scored against its logged labels. The head never learns an outcome before it has happened (a feed's lists overlap, and learning each list's labels at once would teach it the outcomes of the lists after it), and is forgotten once what it learnt from is past retention ({} days), as the device's store forgets it. Engagement is a positive label's own event (the training table's `engaged_at`). The head learns from the train and validation periods too (a device learns from its first list); the table reports the test period. Hyper-parameters: the contract's (`learning`; defaults when absent): learning rate {}, L2 {}, bound ±{}, gate over the last {} validated lists, open after {} with a mean NDCG@10 gain above {}; chosen on the validation period, never on the test period.
", c.shown_per_request, c.shown_requests, c.label_window_ms / 60_000.0, learning.retention_ms / DAY_MS, c.learning_rate, c.l2, c.bound, c.gate_window, c.gate_min_requests, c.gate_margin);
    let _ = writeln!(w, "| requests | n | NDCG@10 base | NDCG@10 base + head | lift |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for row in &learning.rows {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            row.label,
            row.requests,
            estimate(&row.base),
            estimate(&row.with_head),
            percent(&row.lift)
        );
    }
    let _ = writeln!(w, "
{} of the {} test requests ({:.1} %) were served with the head (its gate open); {} learning steps over the whole replay, {} users with test requests.
", learning.served_with_head, learning.overall().requests, 100.0 * learning.served_with_head as f64 / learning.overall().requests.max(1) as f64, learning.steps, learning.users);
    let many = learning.many_events();
    let harmed: Vec<&str> = learning
        .buckets()
        .iter()
        .filter(|row| !bucket_not_harmed(&row.lift))
        .map(|row| row.label.as_str())
        .collect();
    let _ = writeln!(w, "- Lift of base + head over base ≥ {:+.0} % for users with ≥ {MANY_EVENTS} events, interval excluding 0: {} ({}). (The issue asks this of at least one data set.)", LEARNING_LIFT_GOAL * 100.0, met(many.lift.mean >= LEARNING_LIFT_GOAL && many.lift.low > 0.0), percent(&many.lift));
    let _ = writeln!(
        w,
        "- No history bucket below the base beyond its interval: {}{}.
",
        met(harmed.is_empty()),
        if harmed.is_empty() { String::new() } else { format!(" (below 0: {})", harmed.join(", ")) }
    );
}

pub fn model_card(
    eval: &Evaluation,
    learning: &Prequential,
    model: &ModelInfo,
    provenance: &Provenance,
) -> String {
    let mut card = String::new();
    let w = &mut card;
    let model_result = eval.model();
    let source = provenance.source;
    let features = &model.contract.features;
    let _ = writeln!(w, "# Model card: `{}`\n", model.contract.name);
    let _ = writeln!(
        w,
        "Trained on `{}` (its licence and limits: \"About the data\" below). A product retrains on its own logs with \
         `./build.sh model` (README, \"Event-log format\").\n",
        source.dataset
    );
    let _ = writeln!(w, "This file is written by `localrank-pipeline evaluate`; do not edit it by hand.\n");
    let _ = writeln!(w, "## Model\n");
    let _ = writeln!(
        w,
        "- File: `{}`, {} bytes, ONNX opset {}, producer {}.{}",
        provenance.model_path,
        model.byte_size,
        model.opset,
        model.producer,
        provenance.nnef.map_or(String::new(), |(path, bytes)| format!(
            " Its NNEF conversion for the slim build: `{path}`, {bytes} bytes."
        ))
    );
    let _ = writeln!(
        w,
        "- Input `[N, {}]` (one row per candidate), output one *local term* per row. The ranker's score is \
         −ln(1 + server rank) + local term, and the local term is exactly 0 for a candidate none of whose \
         candidate signal features is non-zero (contract version {}): with no local signals the order is the server's. \
         Server fields enter only as the list's rank and within-list quantiles, so rescaling the server's \
         scores (or any increasing map of them) changes nothing.",
        features.len(),
        model.contract.version
    );
    let _ = writeln!(
        w,
        "- Feature contract (stored in the file's `localrank.contract` metadata), in column order:\n"
    );
    let _ = writeln!(w, "  `{}`\n", features.join("`, `"));
    let signals = model
        .contract
        .features
        .iter()
        .filter(|f| Feature::parse(f).is_ok_and(Feature::is_candidate_signal))
        .count();
    let _ = writeln!(w, "- Trained by `models/train.py`: the local term is Σ_k x_k · g_k(x) over the {signals} candidate signal features x_k (what the store knows of the candidate's keys, and its embedding's similarities), where g is an MLP over all {} features (so the term is 0 where the signals are, and moves a candidate in proportion to them), learnt with a listwise softmax cross-entropy loss on −ln(1 + rank) + local term, early stopping on validation NDCG@10, fixed seeds; `--ensemble k` averages k seeds' g in one graph (the trainer report below lists each one's epochs).\n", features.len());
    let _ = writeln!(w, "## Data and protocol\n");
    let _ = writeln!(w, "- Data: `{}` (path given on the command line, never committed).", source.dataset);
    for line in &source.events {
        let _ = writeln!(w, "- {line}");
    }
    match &source.logged_requests {
        Some(description) if !description.is_empty() => {
            for line in description {
                let _ = writeln!(w, "- {line}");
            }
        }
        Some(_) => {
            let _ = writeln!(w, "- Requests: the product's request log (its candidates in the server's order, each with its label).");
        }
        None => {
            for line in source.protocol.describe() {
                let _ = writeln!(w, "- {line}");
            }
        }
    }
    let _ = writeln!(w, "- Features are computed by replaying each user's events through the same Rust `SignalStore` and `FeatureBuilder` that run on the device (`localrank-pipeline replay`), so training and serving features cannot differ.");
    let _ = writeln!(
        w,
        "- Requests: {} train, {} validation, **{} test** from {} users.\n",
        provenance.train_requests, provenance.validation_requests, eval.requests, eval.users
    );
    let _ = writeln!(w, "## Results on the test period\n");
    let _ = writeln!(w, "Means with 95 % bootstrap intervals (1000 resamples of users). Lift is the relative NDCG@10 change over the server order, paired (the same resampled users for both), with its own interval.\n");
    let _ = writeln!(w, "| method | NDCG@10 | NDCG@5 | Recall@10 | MRR | NDCG@10 lift vs server |");
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for m in main_methods(eval) {
        let lift = if m.role == Role::Server { "—".to_owned() } else { percent(&m.lift) };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            m.name,
            estimate(&m.ndcg),
            estimate(&m.ndcg5),
            estimate(&m.recall),
            estimate(&m.mrr),
            lift
        );
    }
    let _ =
        write!(w, "\nThe heuristic is −ln(1 + server rank) + {} × `share.topic.30d`", eval.heuristic_weight);
    if let Some(weight) = eval.reference_weight {
        let _ = write!(w, "; the full-history reference is −ln(1 + server rank) + {weight} × (summed co-like cosine with the user's last 50 liked items, no lag on the user's own history)");
    }
    let _ = writeln!(w, "; weights tuned on the validation period.");
    if eval.with_role(Role::Control).any(|m| m.name.starts_with(CONTROL_PREFIX)) {
        let _ = writeln!(w, " The controls (`train.py --ungated`) add their term to *every* candidate, signals or not: a server could rank like that, the device by construction cannot (a candidate without local signals keeps its server place). The server-fields-only control reads the server's fields alone: what recalibrating the server's order gains, against which the device model's personalisation is measured.");
    }
    let _ = writeln!(w, "\n### By the user's history length (events before the request)\n");
    let _ =
        writeln!(w, "NDCG@10, and below each method its paired lift over the server order in that bucket.\n");
    let _ = write!(w, "| method |");
    for ((_, label), n) in HISTORY_BUCKETS.iter().zip(&eval.requests_by_bucket) {
        let _ = write!(w, " {label} ({n} req.) |");
    }
    let _ = writeln!(w, "\n|---|{}", "---|".repeat(HISTORY_BUCKETS.len()));
    for m in main_methods(eval) {
        let _ = write!(w, "| {} |", m.name);
        for v in &m.ndcg_by_bucket {
            let _ = write!(w, " {v:.4} |");
        }
        let _ = writeln!(w);
        if m.role != Role::Server {
            let _ = write!(w, "| lift |");
            for lift in &m.lift_by_bucket {
                let _ = write!(w, " {} |", percent(lift));
            }
            let _ = writeln!(w);
        }
    }
    let _ = writeln!(w, "\n![NDCG@10 per method and history bucket](ndcg.svg)\n");
    if eval.with_role(Role::Ablation).next().is_some() {
        let _ = writeln!(w, "## Ablations\n");
        let _ = writeln!(w, "The model retrained (same trainer, seeds and ensemble) without one family of features, on the same test period.\n");
        let _ = writeln!(w, "| model | NDCG@10 | NDCG@10 lift vs server |");
        let _ = writeln!(w, "|---|---|---|");
        let _ = writeln!(
            w,
            "| all features (this model) | {} | {} |",
            estimate(&model_result.ndcg),
            percent(&model_result.lift)
        );
        for m in eval.with_role(Role::Ablation) {
            let _ = writeln!(w, "| {} | {} | {} |", m.name, estimate(&m.ndcg), percent(&m.lift));
        }
        let _ = writeln!(w);
    }
    let cross: Vec<&MethodResult> = eval.with_role(Role::CrossLog).collect();
    if !cross.is_empty() {
        let _ = writeln!(w, "## Cross-log check\n");
        let _ = writeln!(w, "Each other shipped model, trained on another log, replayed on this one through its own contract (features this log has no data for are 0, as on a device that never recorded them). It must not fall below the server order beyond noise (its lift interval's upper end ≥ 0). This model on the other log is in that model's card.\n");
        let _ = writeln!(w, "| model | NDCG@10 | NDCG@10 lift vs server | no harm |");
        let _ = writeln!(w, "|---|---|---|---|");
        for m in &cross {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} |",
                m.name,
                estimate(&m.ndcg),
                percent(&m.lift),
                met(bucket_not_harmed(&m.lift))
            );
        }
        let _ = writeln!(w);
    }
    learning_section(w, learning);
    let _ = writeln!(w, "## Goals\n");
    let goals = provenance.goals;
    if let Some(goal) = goals.lift {
        let _ = writeln!(
            w,
            "- Lift over the server order ≥ {:+.0} %: {} ({}).",
            goal * 100.0,
            met(model_result.lift.mean >= goal),
            percent(&model_result.lift)
        );
    }
    if let Some(low) = goals.lift_low {
        let _ = writeln!(
            w,
            "- Lift over the server order with an interval above {:+.0} %: {} ({}).",
            low * 100.0,
            met(model_result.lift.low > low),
            percent(&model_result.lift)
        );
    }
    if let (Some(ratio), Some(control)) = (goals.control_ratio, eval.with_role(Role::Control).next()) {
        let achieved = model_result.ndcg.mean / control.ndcg.mean;
        let _ = writeln!(
            w,
            "- NDCG@10 ≥ {ratio}× the {}'s: {} ({:.4} vs {:.4}, {achieved:.3}×).",
            control.name,
            met(achieved >= ratio),
            model_result.ndcg.mean,
            control.ndcg.mean
        );
    }
    let harmed: Vec<&str> = HISTORY_BUCKETS
        .iter()
        .zip(&model_result.lift_by_bucket)
        .filter(|(_, lift)| !bucket_not_harmed(lift))
        .map(|((_, label), _)| *label)
        .collect();
    let _ = writeln!(
        w,
        "- Every history bucket's lift interval includes or exceeds 0: {}{}.",
        met(harmed.is_empty()),
        if harmed.is_empty() { String::new() } else { format!(" (below 0: {})", harmed.join(", ")) }
    );
    if !cross.is_empty() {
        let _ = writeln!(w, "- Cross-log: {}.", met(cross.iter().all(|m| bucket_not_harmed(&m.lift))));
    }
    let _ = writeln!(
        w,
        "- With no local signals the order is the server's: by construction (contract version {}), and tested for this model over random requests (`tests/pipeline.rs`).",
        model.contract.version
    );
    let nnef_bytes = provenance.nnef.map_or(0, |(_, bytes)| bytes);
    let _ = writeln!(
        w,
        "- Size ≤ {} KB: {} ({} bytes{}).\n",
        MAX_MODEL_BYTES / 1024,
        met(model.byte_size.max(nnef_bytes) <= MAX_MODEL_BYTES),
        model.byte_size,
        provenance.nnef.map_or(String::new(), |(_, bytes)| format!("; NNEF {bytes} bytes"))
    );
    let _ = writeln!(w, "## Verdict\n");
    let _ = write!(
        w,
        "The trained model's NDCG@10 lift over the server order is {}",
        percent(&model_result.lift)
    );
    for control in eval.with_role(Role::Control) {
        let _ = write!(w, "; the {}'s is {}", control.name, percent(&control.lift));
    }
    let _ = writeln!(w, ".\n");
    let _ = writeln!(w, "## Limits\n");
    let _ = writeln!(w, "- {} users have test requests: the intervals are as wide as that allows, and the buckets with few requests are noisy.", eval.users);
    for (b, (_, name)) in HISTORY_BUCKETS.iter().enumerate() {
        let lift = &model_result.lift_by_bucket[b];
        if lift.mean < 0.0 {
            let how = if bucket_not_harmed(lift) { "its interval includes 0" } else { "beyond noise" };
            let _ = writeln!(w, "- For users with {name} events of history ({} test requests) the trained model is below the server order on average ({}; {how}).", eval.requests_by_bucket[b], percent(lift));
        }
    }
    let _ = writeln!(w);
    if let Some(about) = provenance.about {
        let _ = writeln!(w, "## About the data\n\n{}\n", about.trim());
    }
    let _ = writeln!(w, "## Reproduce\n\n```sh\n{}\n```\n", provenance.command);
    if let Some(report) = provenance.train_report {
        let _ = writeln!(w, "## Trainer report\n\n```json\n{}\n```", report.trim());
    }
    card
}

/// A grouped bar chart: NDCG@10 of each method, overall and per history bucket.
pub fn chart(eval: &Evaluation) -> String {
    const COLORS: [&str; 6] = ["#8c8c8c", "#e0a030", "#2a7ab0", "#50a060", "#a05090", "#c04040"];
    let methods: Vec<&MethodResult> = main_methods(eval).collect();
    let groups: Vec<(String, Vec<f64>)> =
        std::iter::once((format!("all ({})", eval.requests), methods.iter().map(|m| m.ndcg.mean).collect()))
            .chain(HISTORY_BUCKETS.iter().enumerate().map(|(b, (_, label))| {
                (
                    format!("{label} ({})", eval.requests_by_bucket[b]),
                    methods.iter().map(|m| m.ndcg_by_bucket[b]).collect(),
                )
            }))
            .collect();
    let top =
        groups.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).fold(0.0f64, f64::max)
            * 1.15;
    let (width, height, left, bottom, plot_h) = (760.0, 390.0, 50.0, 300.0, 250.0);
    let group_w = (width - left - 10.0) / groups.len() as f64;
    let bar_w = group_w * 0.8 / methods.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{left}\" y=\"16\" font-size=\"13\">NDCG@10 on the test period, overall and by events in the user's history</text>\n"
    );
    for tick in 0..=4 {
        let value = top * f64::from(tick) / 4.0;
        let y = bottom - plot_h * f64::from(tick) / 4.0;
        let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{value:.2}</text>", width - 10.0, left - 4.0, y + 4.0);
    }
    for (g, (label, values)) in groups.iter().enumerate() {
        let x0 = left + g as f64 * group_w + group_w * 0.1;
        for (m, value) in values.iter().enumerate() {
            if !value.is_finite() {
                continue;
            }
            let h = plot_h * value / top;
            let _ = writeln!(svg, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {value:.4}</title></rect>", x0 + m as f64 * bar_w, bottom - h, bar_w - 1.0, COLORS[m % COLORS.len()], methods[m].name);
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            x0 + group_w * 0.4,
            bottom + 16.0
        );
    }
    for (m, method) in methods.iter().enumerate() {
        let x = left + (m % 2) as f64 * 340.0;
        let y = bottom + 34.0 + (m / 2) as f64 * 16.0;
        let _ = writeln!(svg, "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{y:.1}\">{}</text>", y - 9.0, COLORS[m % COLORS.len()], x + 14.0, method.name);
    }
    svg.push_str("</svg>\n");
    svg
}
