use super::*;
use crate::offline::protocol::{SPLIT_TEST, SPLIT_TRAIN};
use crate::ranker::server_prior;

/// One item is exposed every `EXPOSURE_MS`; a list of `LIST` items is asked for every
/// `STRIDE` exposures, so each list shows half of the one before it, as a feed's do.
const EXPOSURE_MS: f64 = 12_000.0;
const LIST: usize = 10;
const STRIDE: usize = 5;

fn features() -> Vec<String> {
    vec!["server.rank".into(), "share.topic.30d".into()]
}

/// One user's feed: every third item is of a topic the user has shared (its signal feature is
/// one) and is engaged with when exposed; the server ranks in list order, so the base misses
/// them and the head has something to learn.
fn feed(requests: usize) -> Dataset {
    let mut data = Dataset { feature_names: features(), offsets: vec![0], ..Dataset::default() };
    for r in 0..requests {
        let first = r * STRIDE;
        for (row, item) in (first..first + LIST).enumerate() {
            let engaged = item % 3 == 0;
            data.features.extend([row as f32, f32::from(u8::from(engaged))]);
            data.labels.push(f32::from(u8::from(engaged)));
            data.item_hashes.push(item as u64);
            data.engaged_at.push(if engaged { item as f64 * EXPOSURE_MS } else { f64::INFINITY });
        }
        data.offsets.push(data.labels.len() as i64);
        data.request_ids.push(r as i64);
        data.user_ids.push(1);
        data.timestamps.push(first as f64 * EXPOSURE_MS);
        data.split.push(SPLIT_TRAIN);
        data.history_lengths.push(first as i64);
    }
    let rows = data.labels.len();
    (data.topic_affinity, data.co_like, data.popularity) =
        (vec![0.0; rows], vec![0.0; rows], vec![0.0; rows]);
    data
}

fn server_order(data: &Dataset) -> Vec<Vec<f32>> {
    (0..data.requests()).map(|r| (0..data.rows_of(r).len()).map(server_prior).collect()).collect()
}

/// The device's learning over `data`'s lists with the default contract learning and store
/// retention: `each` as `replay_learning` calls it; returns the steps taken.
fn run(data: &Dataset, each: impl FnMut(usize, &[f32], bool)) -> u64 {
    let (features, config) = (features(), LearningConfig::default());
    let replay =
        Replay { features: &features, config: &config, retention_ms: StoreConfig::default().retention_ms };
    replay_learning(data, &server_order(data), &replay, each).unwrap()
}

/// The served scores of request `focus`, and whether the head counted in them.
fn served_at(data: &Dataset, focus: usize) -> (Vec<f32>, bool) {
    let mut seen = None;
    run(data, |r, served, counted| {
        if r == focus {
            seen = Some((served.to_vec(), counted));
        }
    });
    seen.unwrap()
}

#[test]
fn the_head_learns_an_outcome_only_once_it_has_happened() {
    let data = feed(40);
    let focus = 30;
    let (served, counted) = served_at(&data, focus);
    assert!(counted, "the head must count at the focus for the test to mean anything");
    assert_ne!(served, server_order(&data)[focus], "the head moved the focus list");
    // The outcomes that happen after the focus list was asked for, all reversed: the earlier
    // lists that show the same items (and the later lists) say the opposite of what the user
    // did. The focus list's own labels stay (it is scored on them).
    let mut altered = data.clone();
    let at = data.timestamps[focus];
    let mut changed = 0;
    for r in (0..data.requests()).filter(|&r| r != focus) {
        for row in data.rows_of(r) {
            let exposed = data.item_hashes[row] as f64 * EXPOSURE_MS;
            if exposed >= at {
                let engaged = data.labels[row] == 0.0;
                altered.labels[row] = f32::from(u8::from(engaged));
                altered.engaged_at[row] = if engaged { exposed } else { f64::INFINITY };
                changed += usize::from(r < focus);
            }
        }
    }
    assert!(changed > 0, "earlier lists show items exposed after the focus");
    assert_eq!(served_at(&altered, focus), (served, counted));
}

#[test]
fn a_head_past_retention_is_forgotten() {
    let (_, counted) = served_at(&feed(40), 30);
    assert!(counted);
    // The same feed with a pause longer than retention before list 30: the device has
    // forgotten the head by then, and serves the base order.
    let mut paused = feed(40);
    let pause = StoreConfig::default().retention_ms + 60_000.0;
    for r in 30..paused.requests() {
        paused.timestamps[r] += pause;
        for row in paused.rows_of(r) {
            paused.engaged_at[row] += pause;
        }
    }
    assert_eq!(served_at(&paused, 30), (server_order(&paused)[30].clone(), false));
    // Steps are counted across the reset: lists 0–21 before the pause (each pushed out by the
    // eighth after it), none of the eight still waiting when it ends (forgotten), then 30, 31.
    assert_eq!(run(&paused, |_, _, _| ()), 24);
}

#[test]
fn a_list_is_learnt_from_once_its_window_closes_or_it_leaves_the_memory() {
    let config = LearningConfig::default();
    // Lists asked for a minute apart: the first ones leave the memory after `shown_requests`
    // newer lists, long before their 30-minute windows close.
    let data = feed(3 * config.shown_requests);
    let mut calls = 0;
    let total = run(&data, |_, _, _| calls += 1);
    assert_eq!(calls, data.requests());
    // Every list but the last `shown_requests` (still waiting) was learnt from.
    assert_eq!(total, (data.requests() - config.shown_requests) as u64);
    // Two lists far apart: the first one's window has closed when the second is asked for.
    let mut apart = feed(2);
    apart.timestamps[1] = apart.timestamps[0] + config.label_window_ms;
    assert_eq!(run(&apart, |_, _, _| ()), 1);
}

#[test]
fn every_number_is_reported_for_the_asked_split_only() {
    let mut data = feed(40);
    for r in 30..40 {
        data.split[r] = SPLIT_TEST;
    }
    let mut model = crate::model::ModelRunner::load(
        &crate::test_models::linear(&["server.rank", "share.topic.30d"], &[0.0, 0.0]),
        &[],
    )
    .unwrap();
    let report = prequential(&data, &mut model, SPLIT_TEST, 7).unwrap();
    assert_eq!(report.overall().requests, 10);
    assert_eq!(report.users, 1);
    assert!(report.served_with_head > 0);
    assert!(report.overall().with_head.mean > report.overall().base.mean, "{report:?}");
}
