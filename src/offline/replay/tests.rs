use std::collections::HashMap;

use super::*;
use crate::features::CONTRACT_VERSION;
use crate::item::Item;
use crate::offline::event_log::LoggedEvent;
use crate::offline::movielens::event_kind;
use crate::signals::decay::DAY_MS;

const HOUR: f64 = 3_600_000.0;

fn contract(features: &[&str]) -> Contract {
    Contract {
        version: CONTRACT_VERSION,
        name: "replay-test".into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        learning: Default::default(),
    }
}

/// A MovieLens-like rating as the adapter writes it: an event whose kind says the stars.
struct Rating {
    user: u32,
    item: u32,
    rating: f32,
    at: f64,
}

fn rating(user: u32, item: u32, rating: f32, at: f64) -> Rating {
    Rating { user, item, rating, at }
}

/// The ratings as a log of events (no request log: the simulated server answers), with each
/// item's topics.
fn log_of(ratings: Vec<Rating>, topics: &HashMap<u32, Vec<String>>) -> Log {
    let events = ratings
        .iter()
        .map(|r| LoggedEvent {
            user: r.user,
            event: Event {
                kind: event_kind(r.rating),
                item: Item {
                    id: r.item.to_string(),
                    topics: topics.get(&r.item).cloned().unwrap_or_default(),
                    ..Item::default()
                },
                at: r.at,
                dwell_ms: None,
            },
        })
        .collect();
    Log::new(events, Vec::new(), None)
}

/// Users 1–3 make items 100..110 popular early on; user 7 has two sessions.
fn log() -> Log {
    let mut ratings = Vec::new();
    for user in 1..=3 {
        for item in 100..110 {
            ratings.push(rating(user, item, 5.0, f64::from(item) * 1000.0));
        }
    }
    let start = 10.0 * DAY_MS;
    // Session one: 12 ratings a minute apart (requests at positions 0 and 10).
    for k in 0..12 {
        ratings.push(rating(
            7,
            100 + (k % 10),
            if k % 2 == 0 { 5.0 } else { 1.0 },
            start + k as f64 * 60_000.0,
        ));
    }
    // Session two, a day later: one new item rated by user 3 only minutes before.
    ratings.push(rating(3, 200, 5.0, start + DAY_MS - 60_000.0));
    ratings.push(rating(7, 200, 4.0, start + DAY_MS));
    let topics =
        (100..110).chain([200]).map(|i| (i, vec![format!("genre-{}", i % 3)])).collect::<HashMap<_, _>>();
    log_of(ratings, &topics)
}

#[test]
fn request_points_start_sessions_and_repeat_every_ten() {
    let times: Vec<f64> =
        (0..25).map(|k| f64::from(k) * 60_000.0).chain([10.0 * HOUR, 10.0 * HOUR + 1.0]).collect();
    let points: Vec<(usize, usize)> =
        request_points(&times, Protocol::default().session_gap_ms, Protocol::default().request_every)
            .iter()
            .map(|p| (p.position, p.session_end))
            .collect();
    assert_eq!(points, vec![(0, 25), (10, 25), (20, 25), (25, 27)]);
}

#[test]
fn parts_of_the_users_concatenate_back_to_the_whole() {
    let log = log();
    let features = contract(&["server.rank", "affinity.topic.pos.1d"]);
    let whole = replay(&log, &features, ReplayOptions::default()).unwrap();
    let parts = (0..3)
        .map(|index| {
            let users = log.events.iter().map(|e| e.user).filter(|u| u % 3 == index).collect();
            let options = ReplayOptions { users: Some(users), ..ReplayOptions::default() };
            replay(&log, &features, options).unwrap()
        })
        .collect();
    let merged = concat(parts).unwrap();
    assert!(whole.requests() > 0);
    assert_eq!(merged, whole);
}

#[test]
fn labels_exclusions_and_lag_follow_the_protocol() {
    let data = replay(&log(), &contract(&["server.rank"]), ReplayOptions::default()).unwrap();
    let user7: Vec<usize> = (0..data.requests()).filter(|&r| data.user_ids[r] == 7).collect();
    // Session one's first request: nothing rated yet, so all ten popular items are candidates;
    // the positives are the items rated 5 in the next ten ratings (even k: 100, 102, …, 108).
    let first = user7[0];
    let rows = data.rows_of(first);
    assert_eq!(rows.len(), 10);
    let positives: f32 = data.labels[rows.clone()].iter().sum();
    assert_eq!(positives, 5.0);
    assert_eq!(data.history_lengths[first], 0);
    // A positive was engaged with at its like (after the request); the others never were.
    let log = log();
    for row in rows {
        let liked_then = |e: &&LoggedEvent| {
            e.user == 7
                && e.event.kind == crate::item::EventKind::Like
                && item_hash(&e.event.item.id) == data.item_hashes[row]
                && e.event.at == data.engaged_at[row]
                && e.event.at >= data.timestamps[first]
        };
        assert_eq!(log.events.iter().any(|e| liked_then(&e)), data.labels[row] > 0.0, "row {row}");
        assert_eq!(data.engaged_at[row].is_finite(), data.labels[row] > 0.0, "row {row}");
    }
    // Later requests of user 7 never offer an item user 7 already rated, and item 200 (rated
    // by others only a minute before session two) is not served yet: the server lags a day.
    // Session one's second request offers only unrated items 100..110 - none are left with a
    // positive ahead, and session two's only candidate-worthy positive is item 200, which the
    // lag hides, so neither request is emitted.
    assert_eq!(user7.len(), 1, "requests without a positive candidate are not emitted");
}

#[test]
fn features_never_see_events_after_the_request() {
    let log = log();
    let data = replay(&log, &contract(&["user.activity.30d"]), ReplayOptions::default()).unwrap();
    for r in 0..data.requests() {
        let user = data.user_ids[r] as u32;
        let at = data.timestamps[r];
        // Positive engagement the store could know of: likes strictly before the request.
        let before = (log.events.iter())
            .filter(|x| x.user == user && x.event.at < at && x.event.kind == crate::item::EventKind::Like)
            .count();
        let activity = data.features[data.rows_of(r).start];
        let upper_bound = (before as f32 * 2.0).ln_1p() + 1e-5;
        assert!(activity <= upper_bound, "request {r}: activity {activity} exceeds what came before");
        if before == 0 {
            assert_eq!(activity, 0.0);
        }
    }
}

/// Six users rating 40 items (three genres) in sessions over two months.
fn random_log(perturb_from: Option<f64>) -> Log {
    let mut rng = crate::offline::random::SplitMix64::new(42);
    let mut ratings = Vec::new();
    for user in 1..=6u32 {
        let mut at = f64::from(user) * HOUR;
        for _ in 0..80 {
            // Mostly a minute apart, sometimes a new session a day or two later.
            at += if rng.below(12) == 0 { DAY_MS * (1 + rng.below(2)) as f64 } else { 60_000.0 };
            let item = 1 + rng.below(40) as u32;
            let stars = [1.0, 2.0, 3.0, 4.0, 5.0][rng.below(5)];
            ratings.push(rating(user, item, stars, at));
        }
    }
    if let Some(from) = perturb_from {
        // A different future: other items, opposite ratings.
        for r in ratings.iter_mut().filter(|r| r.at >= from) {
            r.item = 1 + (r.item + 12) % 40;
            r.rating = 6.0 - r.rating;
        }
    }
    let topics = (1..=40).map(|i| (i, vec![format!("genre-{}", i % 3)])).collect::<HashMap<_, _>>();
    log_of(ratings, &topics)
}

#[test]
fn no_feature_changes_when_only_the_future_does() {
    let names = crate::features::Feature::all_names();
    let features = Contract { features: names.clone(), ..contract(&[]) };
    let original = random_log(None);
    let from = original.time_quantile(0.6);
    let changed = random_log(Some(from));
    let a = replay(&original, &features, ReplayOptions::default()).unwrap();
    let b = replay(&changed, &features, ReplayOptions::default()).unwrap();
    let width = names.len();
    let recent = names.iter().position(|n| n == "recent.similarity.max.32").unwrap();
    let session = names.iter().position(|n| n == "session.similarity").unwrap();
    let (mut compared, mut recent_seen, mut session_seen) = (0, false, false);
    for r in (0..a.requests()).filter(|&r| a.timestamps[r] < from) {
        // A request may be dropped in one world when its labels (the future) lose every positive.
        let Some(s) = (0..b.requests()).find(|&s| b.request_ids[s] == a.request_ids[r]) else { continue };
        let rows_a = &a.features[a.rows_of(r).start * width..a.rows_of(r).end * width];
        let rows_b = &b.features[b.rows_of(s).start * width..b.rows_of(s).end * width];
        assert_eq!(rows_a, rows_b, "request {} saw the future", a.request_ids[r]);
        compared += 1;
        recent_seen |= rows_a.chunks(width).any(|row| row[recent] != 0.0);
        session_seen |= rows_a.chunks(width).any(|row| row[session] != 0.0);
    }
    assert!(compared >= 10, "only {compared} requests compared");
    assert!(recent_seen && session_seen, "the test must exercise the embedding features");
    // And the future does change later requests, so the comparison above could fail.
    assert_ne!(a.features.len(), 0);
    assert!((0..a.requests()).filter(|&r| a.timestamps[r] >= from).any(|r| {
        (0..b.requests()).find(|&s| b.request_ids[s] == a.request_ids[r]).is_none_or(|s| {
            a.features[a.rows_of(r).start * width..a.rows_of(r).end * width]
                != b.features[b.rows_of(s).start * width..b.rows_of(s).end * width]
        })
    }));
}

/// A request log: each request sees exactly its user's events strictly before it (those at
/// its time are its candidates' own outcomes), keeps its own split, and one whose candidates
/// share one label is not emitted.
#[test]
fn logged_requests_see_only_the_events_before_them() {
    use crate::item::EventKind;
    use crate::offline::event_log::{LoggedRequest, RequestLog, Split};
    let event = |user, kind, id: &str, at| LoggedEvent {
        user,
        event: Event { kind, item: Item { id: id.into(), ..Item::default() }, at, dwell_ms: None },
    };
    let candidate =
        |id: &str| Candidate { item: Item { id: id.into(), ..Item::default() }, ..Candidate::default() };
    let request = |user, at, split, labels: Vec<f32>| LoggedRequest {
        user,
        at,
        split,
        candidates: vec![candidate("a"), candidate("b")],
        labels,
    };
    let events = vec![
        event(1, EventKind::Like, "b", 500.0),
        event(1, EventKind::Like, "a", 1000.0),
        event(2, EventKind::Like, "a", 100.0),
    ];
    let requests = vec![
        request(1, 1000.0, Some(Split::Test), vec![1.0, 0.0]),
        request(1, 2000.0, None, vec![0.0, 1.0]),
        request(2, 1500.0, None, vec![1.0, 1.0]),
    ];
    let log = Log::new(events, Vec::new(), Some(RequestLog { requests, description: vec!["test".into()] }));
    let data = replay(&log, &contract(&["affinity.item.pos.30d"]), ReplayOptions::default()).unwrap();
    assert_eq!(data.requests(), 2, "user 2's request has only positives");
    assert_eq!(data.source.logged_requests, Some(vec!["test".to_owned()]));
    // At 1000 the like of `a` at 1000 is not known yet; the like of `b` at 500 is.
    let first = data.rows_of(0);
    assert_eq!(data.features[first.start], 0.0);
    assert!(data.features[first.start + 1] > 0.0);
    assert_eq!((data.split[0], data.history_lengths[0], data.labels[first.start]), (SPLIT_TEST, 1, 1.0));
    // At 2000 both are; without a split of its own, the request is split by time.
    let second = data.rows_of(1);
    assert!(data.features[second.start] > 0.0 && data.history_lengths[1] == 2);
    // When the labels' engagement happened: the like of `a` at 1000 for the first request;
    // the second's positive, `b`, has no event after it (its like came before): never.
    assert_eq!(data.engaged_at[first.clone()], [1000.0, f64::INFINITY]);
    assert_eq!(data.engaged_at[second], [f64::INFINITY, f64::INFINITY]);
    assert_eq!(data.item_hashes[first], [item_hash("a"), item_hash("b")]);
    assert_eq!(data.request_ids[..], [request_id(1, 0), request_id(1, 1)]);
    assert!(data.co_like.iter().all(|&c| c == 0.0), "no full-history reference without the simulated server");
}
