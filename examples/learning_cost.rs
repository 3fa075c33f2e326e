//! What on-device learning costs, natively (`cargo run --release --example learning_cost`):
//! one update step (a shown list of the default 50 candidates over the shipped model's 18
//! candidate signal features, one engaged), and a rerank of 500 candidates with the shipped
//! model on one device's store, with learning off and on with the head active. Prints
//! medians; asserts nothing.

use std::time::Instant;

use localrank::item::{Candidate, Event, EventKind, Item};
use localrank::learning::{LearningConfig, PersonalModel, ENGAGED, IGNORED};
use localrank::ranker::{Clock, Ranker, RankerOptions, RequestContextInput, RerankRequest};

struct NoClock;

impl Clock for NoClock {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

const START: f64 = 1.7e12;
const HOUR_MS: f64 = 3_600_000.0;
const N: usize = 500;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median time per call of `run`, in µs, over `rounds` rounds of `calls` calls.
fn time_us(rounds: usize, calls: usize, mut run: impl FnMut()) -> f64 {
    let samples = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                run();
            }
            started.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    median(samples)
}

/// Round `round`'s list: `N` candidates over 20 topics and 50 authors, in the server's order.
fn candidates(round: usize) -> Vec<Candidate> {
    (0..N)
        .map(|k| Candidate {
            item: Item {
                id: format!("item-{round}-{k}"),
                author: Some(format!("author-{}", k % 50)),
                topics: vec![format!("topic-{}", k % 20)],
                ..Item::default()
            },
            ..Candidate::default()
        })
        .collect()
}

fn request(round: usize) -> RerankRequest {
    RerankRequest {
        candidates: candidates(round),
        context: RequestContextInput { now: START + round as f64 * HOUR_MS, utc_offset_minutes: 0.0 },
        ..RerankRequest::default()
    }
}

/// Lists shown and engaged with (impressions on the top 50, a click on the best-placed
/// `topic-7` among them) until the head's gate opens or `rounds` run out.
fn train(ranker: &mut Ranker, rounds: usize) -> usize {
    for round in 0..rounds {
        let list = candidates(round);
        let ranking = ranker.rerank(&request(round), &NoClock).expect("a ranking");
        let at = START + round as f64 * HOUR_MS + 1_000.0;
        let shown = ranking.order.iter().take(50).map(|&i| &list[i as usize]);
        let mut events: Vec<Event> = shown
            .clone()
            .map(|c| Event { kind: EventKind::Impression, item: c.item.clone(), at, dwell_ms: None })
            .collect();
        if let Some(liked) = shown.clone().find(|c| c.item.topics[0] == "topic-7") {
            events.push(Event {
                kind: EventKind::Click,
                item: liked.item.clone(),
                at: at + 1.0,
                dwell_ms: None,
            });
        }
        ranker.record(&events, at + 1.0).expect("a valid batch");
        if ranker.store().learner().model().gate().is_open() {
            return round + 1;
        }
    }
    rounds
}

fn main() {
    let config = LearningConfig::default();
    let width = 18;
    let n = config.shown_per_request;
    let rows: Vec<f32> = (0..n * width).map(|k| ((k * 7919) % 13) as f32 / 13.0).collect();
    let base: Vec<f32> = (0..n).map(|r| -((r as f32) + 1.0).ln()).collect();
    let mut labels = vec![IGNORED; n];
    labels[n / 2] = ENGAGED;
    let mut model = PersonalModel::new(width);
    let step_us = time_us(31, 2_000, || {
        model.learn(&rows, &base, &labels, &config);
    });
    let pairs =
        labels.iter().filter(|&&l| l == ENGAGED).count() * labels.iter().filter(|&&l| l == IGNORED).count();
    println!(
        "update step ({n} shown, {width} features, {pairs} pairs, validation included): {step_us:.2} µs ({:.3} µs per pair)",
        step_us / pairs as f64
    );

    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/ranker.onnx")).expect("the shipped model");
    let mut on = Ranker::new(&bytes, RankerOptions::default()).expect("loads");
    let rounds = train(&mut on, 200);
    // The same device with learning off: the same store (a ranker trained apart would have
    // recorded other impressions, since the head changed what it showed), the head unused.
    let mut off =
        Ranker::new(&bytes, RankerOptions { learning: false, ..RankerOptions::default() }).expect("loads");
    let now = START + rounds as f64 * HOUR_MS;
    off.store_mut().restore(&on.store().snapshot(), now).expect("its own snapshot restores");
    let active = on.store().learner().model().gate().is_open();
    println!(
        "head active after {rounds} lists: {active}; head memory {} bytes",
        on.store().learner().memory_bytes()
    );
    // Alternate the two, so that both see the same machine noise; each call after the first
    // learns from a list pushed out of the memory, as on a device.
    let (mut off_us, mut on_us) = (Vec::new(), Vec::new());
    let request = request(rounds);
    for _ in 0..101 {
        off_us.push(time_us(1, 20, || {
            off.rerank(&request, &NoClock).expect("a ranking");
        }));
        on_us.push(time_us(1, 20, || {
            on.rerank(&request, &NoClock).expect("a ranking");
        }));
    }
    let (off_us, on_us) = (median(off_us), median(on_us));
    println!(
        "rerank N={N}: learning off {off_us:.1} µs, on {on_us:.1} µs: {:+.1} %",
        (on_us / off_us - 1.0) * 100.0
    );
}
