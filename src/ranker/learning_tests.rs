//! The personal head inside a rerank: a device that shows lists, records what the user did
//! with them, and reranks again.

use super::*;
use crate::item::{EventKind, Item};
use crate::test_models::{contract, linear_with};

const START: f64 = 1.7e12;
/// Longer than the default label window: each round's list is learnt from at the next.
const ROUND_MS: f64 = 3_600_000.0;
const FEATURES: [&str; 3] = ["server.rank", "count.topic.click.7d", "count.topic.impression.7d"];

/// A model that has not learnt that clicks matter: its local term ignores them (and
/// impressions lower a candidate a little).
fn ranker(learning: bool) -> Ranker {
    let model = linear_with(&[0.0, 0.0, -0.1], 1, 0.0, Some(&contract(&FEATURES)));
    Ranker::new(&model, RankerOptions { learning, ..RankerOptions::default() }).unwrap()
}

struct Clockless;

impl Clock for Clockless {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// Round `round`'s list: five dogs the server puts first, then five cats.
fn candidates(round: usize) -> Vec<Candidate> {
    let item = |kind: &str, k: usize| Candidate {
        item: Item { id: format!("{kind}-{round}-{k}"), topics: vec![kind.into()], ..Item::default() },
        ..Candidate::default()
    };
    (0..5).map(|k| item("dog", k)).chain((0..5).map(|k| item("cat", k))).collect()
}

fn rerank(ranker: &mut Ranker, round: usize) -> Ranking {
    let request = RerankRequest {
        candidates: candidates(round),
        context: RequestContextInput { now: START + round as f64 * ROUND_MS, utc_offset_minutes: 0.0 },
        ..RerankRequest::default()
    };
    ranker.rerank(&request, &Clockless).unwrap()
}

/// The user sees the list and clicks the first shown candidate of topic `liked`.
fn engage(ranker: &mut Ranker, round: usize, ranking: &Ranking, liked: &str) {
    let list = candidates(round);
    let at = START + round as f64 * ROUND_MS + 1_000.0;
    let shown = ranking.order.iter().map(|&i| &list[i as usize]);
    let mut events: Vec<Event> = shown
        .clone()
        .map(|c| Event { kind: EventKind::Impression, item: c.item.clone(), at, dwell_ms: None })
        .collect();
    let clicked = shown.clone().find(|c| c.item.topics[0] == liked).expect("a candidate of the topic");
    events.push(Event { kind: EventKind::Click, item: clicked.item.clone(), at: at + 1.0, dwell_ms: None });
    ranker.record(&events, at + 1.0).unwrap();
}

/// Runs `rounds` rounds of showing and engaging; returns the last round's ranking.
fn live(ranker: &mut Ranker, rounds: usize, liked: &str) -> Ranking {
    let mut ranking = rerank(ranker, 0);
    for round in 0..rounds {
        engage(ranker, round, &ranking, liked);
        ranking = rerank(ranker, round + 1);
    }
    ranking
}

/// How many of the top five are cats.
fn cats_on_top(round: usize, ranking: &Ranking) -> usize {
    let list = candidates(round);
    ranking.order[..5].iter().filter(|&&i| list[i as usize].item.topics[0] == "cat").count()
}

#[test]
fn a_new_user_gets_exactly_the_base_order() {
    let (mut learning, mut base) = (ranker(true), ranker(false));
    let (with, without) = (rerank(&mut learning, 0), rerank(&mut base, 0));
    assert_eq!(with, without, "the same order and scores, bit for bit");
    assert_eq!(with.order, (0..10).collect::<Vec<_>>());
    let export = learning.export_signals(START).unwrap().learning;
    assert!(!export.active);
    assert_eq!((export.pending_lists, export.updates), (1, 0), "the list waits for its outcomes");
}

#[test]
fn consistent_engagement_with_what_the_base_under_ranks_makes_it_rise() {
    let rounds = 16;
    let mut learning = ranker(true);
    let ranking = live(&mut learning, rounds, "cat");
    let export = learning.export_signals(START + rounds as f64 * ROUND_MS).unwrap().learning;
    assert!(export.active, "{export:?}");
    assert!(export.mean_gain.unwrap() > 0.0);
    let clicks = export.weights.iter().find(|w| w.feature == "count.topic.click.7d").unwrap();
    assert!(clicks.weight > 0.0, "{export:?}");
    // The head's term is bounded (±1 against server priors 0 … −2.3): the cats rise past
    // most dogs, not necessarily past every one.
    assert!(cats_on_top(rounds, &ranking) >= 4, "{:?}", ranking.order);
    // Without learning the same history leaves the cats below the dogs.
    let mut base = ranker(false);
    let ranking = live(&mut base, rounds, "cat");
    assert_eq!(cats_on_top(rounds, &ranking), 0);
}

#[test]
fn explanations_include_the_heads_part() {
    let rounds = 16;
    let mut learning = ranker(true);
    live(&mut learning, rounds, "cat");
    let now = START + rounds as f64 * ROUND_MS;
    let request = RerankRequest {
        candidates: candidates(rounds),
        context: RequestContextInput { now, utc_offset_minutes: 0.0 },
        explain: true,
        ..RerankRequest::default()
    };
    // The same store without learning: the model's own attributions.
    let mut base = ranker(false);
    base.store_mut().restore(&learning.store().snapshot(), now).unwrap();
    let model_only = base.rerank(&request, &Clockless).unwrap().explanations;
    let with_head = learning.rerank(&request, &Clockless).unwrap().explanations;
    // (That rerank's lists are all waiting for their outcomes: the head took no step.)
    let head = learning.store().learner().model();
    assert!(head.gate().is_open());
    let config = learning.model.contract().learning;
    let (width, signals, features) =
        (learning.builder.width(), learning.builder.signal_columns(), learning.builder.features());
    let mut head_moved_a_cat = false;
    for (i, row) in learning.matrix.chunks_exact(width).enumerate() {
        let served = head.served_term(|k| row[signals[k]], &config);
        for (&(group, with), &(_, without)) in
            with_head[i].contributions.iter().zip(&model_only[i].contributions)
        {
            let occluded = head.served_term(
                |k| if features[signals[k]].group() == group { 0.0 } else { row[signals[k]] },
                &config,
            );
            assert!((with - without - (served - occluded)).abs() < 1e-6, "candidate {i}, {group:?}");
            head_moved_a_cat |= i >= 5 && group == FeatureGroup::Affinity && with > without;
        }
    }
    assert!(head_moved_a_cat, "the head's weight on clicks shows in the cats' engagement");
}

#[test]
fn the_gate_keeps_the_base_when_the_head_does_not_beat_it() {
    // The user clicks what the server already puts first: the base is as good as it gets.
    let mut learning = ranker(true);
    let mut base = ranker(false);
    let (with, without) = (live(&mut learning, 16, "dog"), live(&mut base, 16, "dog"));
    let export = learning.export_signals(START + 16.0 * ROUND_MS).unwrap().learning;
    assert!(!export.active, "{export:?}");
    assert!(export.validated_lists > 0);
    assert_eq!(with, without, "a closed gate adds nothing");
}

#[test]
fn learning_is_deterministic_and_survives_a_snapshot() {
    let (mut one, mut two) = (ranker(true), ranker(true));
    live(&mut one, 12, "cat");
    live(&mut two, 12, "cat");
    let bytes = one.store().snapshot();
    assert_eq!(bytes, two.store().snapshot(), "the same events and lists give the same bytes");
    let mut restored = ranker(true);
    restored.store_mut().restore(&bytes, START + 12.0 * ROUND_MS).unwrap();
    assert_eq!(restored.store().learner(), one.store().learner());
    assert_eq!(rerank(&mut restored, 13), rerank(&mut one, 13));
}

#[test]
fn clear_returns_to_the_base_order() {
    let mut learning = ranker(true);
    live(&mut learning, 16, "cat");
    learning.store_mut().clear();
    let cleared = rerank(&mut learning, 17);
    assert_eq!(cleared, rerank(&mut ranker(false), 17));
    assert_eq!(cleared.order, (0..10).collect::<Vec<_>>());
    let export = learning.export_signals(START + 17.0 * ROUND_MS).unwrap().learning;
    assert_eq!((export.active, export.updates, export.validated_lists), (false, 0, 0));
    assert!(export.weights.iter().all(|w| w.weight == 0.0));
}

#[test]
fn a_model_with_other_signal_features_resets_the_head() {
    let mut learning = ranker(true);
    live(&mut learning, 16, "cat");
    let bytes = learning.store().snapshot();
    let other = ["server.rank", "count.topic.like.7d"];
    let model = linear_with(&[0.0, 0.0], 1, 0.0, Some(&contract(&other)));
    let mut updated = Ranker::new(&model, RankerOptions::default()).unwrap();
    updated.store_mut().restore(&bytes, START + 16.0 * ROUND_MS).unwrap();
    let ranking = rerank(&mut updated, 17);
    assert_eq!(ranking.order, (0..10).collect::<Vec<_>>(), "no carried head moves anything");
    let export = updated.export_signals(START + 17.0 * ROUND_MS).unwrap().learning;
    assert_eq!(
        export.weights.iter().map(|w| w.feature.as_str()).collect::<Vec<_>>(),
        ["count.topic.like.7d"]
    );
    assert_eq!(export.updates, 0);
}
