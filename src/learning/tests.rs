use super::*;

fn config() -> LearningConfig {
    LearningConfig { gate_min_requests: 3, gate_window: 4, gate_margin: 0.0, ..LearningConfig::default() }
}

/// A list of four candidates over two signal features: the base ranks them in list order,
/// and the user engages only with the ones whose second feature is set (the last two).
fn list() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows = vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
    let base = vec![0.0, -0.7, -1.1, -1.4];
    let labels = vec![IGNORED, IGNORED, ENGAGED, ENGAGED];
    (rows, base, labels)
}

#[test]
fn the_term_is_zero_without_signals_and_bounded() {
    let head = Head { weights: vec![50.0, -3.0], squared_gradients: vec![0.0; 2] };
    assert_eq!(head.term(|_| 0.0, 1.0), 0.0);
    assert_eq!(head.term(|k| [1.0, 0.0][k], 1.0), 1.0);
    assert_eq!(head.term(|k| [0.0, 1.0][k], 2.5), -2.5);
    assert_eq!(head.term(|k| [0.01, 0.0][k], 1.0), 0.5);
}

#[test]
fn a_list_of_terms_is_each_candidates_term_bit_for_bit() {
    let weights: Vec<f32> = (0..18).map(|k| (k as f32 - 8.5) * 0.037).collect();
    let head = Head { squared_gradients: vec![0.0; weights.len()], weights };
    let width = head.len();
    // Every length around the blocks of candidates summed together, a signal of -0.0 too.
    for n in [0, 1, 7, 8, 9, 17, 50] {
        let rows: Vec<f32> =
            (0..n * width).map(|k| [((k * 7919) % 13) as f32 / 7.0, -0.0][k % 5 / 4]).collect();
        // Added to -0.0, which every sum keeps as it is.
        let mut terms = vec![-0.0; n];
        head.add_terms(|i, k| rows[i * width + k], 1.0, &mut terms);
        for (i, term) in terms.iter().enumerate() {
            let row = &rows[i * width..][..width];
            let expected: f32 =
                head.weights().iter().zip(row).map(|(w, x)| w * x).sum::<f32>().clamp(-1.0, 1.0);
            assert_eq!(term.to_bits(), expected.to_bits(), "candidate {i} of {n}");
            assert_eq!(term.to_bits(), head.term(|k| row[k], 1.0).to_bits());
        }
    }
    let mut served = vec![0.5; 3];
    let closed = PersonalModel { head: head.clone(), ..PersonalModel::default() };
    closed.add_served_terms(|_, _| 1.0, &config(), &mut served);
    assert_eq!(served, [0.5; 3], "a closed gate adds nothing");
}

#[test]
fn steps_learn_what_the_user_engages_with_and_are_deterministic() {
    let (rows, base, labels) = list();
    let mut model = PersonalModel::new(2);
    let mut again = PersonalModel::new(2);
    for _ in 0..20 {
        model.learn(&rows, &base, &labels, &config());
        again.learn(&rows, &base, &labels, &config());
    }
    assert_eq!(model, again, "the same lists give the same head, bit for bit");
    let weights = model.head().weights();
    assert!(weights[1] > 0.0 && weights[0] < 0.0, "{weights:?}");
    assert_eq!(model.updates(), 20);
    // The engaged kind now ranks first among the candidates the head is sure about.
    let with_head: Vec<f32> =
        (base.iter().zip(rows.chunks(2))).map(|(b, row)| b + model.head().term(|k| row[k], 1.0)).collect();
    assert!(with_head[2] > with_head[0], "{with_head:?}");
}

#[test]
fn l2_pulls_the_weights_back_towards_zero() {
    let (rows, base, labels) = list();
    let mut model = PersonalModel::new(2);
    for _ in 0..10 {
        model.learn(&rows, &base, &labels, &config());
    }
    let learnt = model.head().weights()[1];
    // Lists where the user engages with the other kind undo the head; L2 adds to that.
    let reversed = [ENGAGED, ENGAGED, IGNORED, IGNORED];
    for _ in 0..40 {
        model.learn(&rows, &base, &reversed, &config());
    }
    assert!(model.head().weights()[1] < learnt);
}

#[test]
fn a_list_without_both_outcomes_is_not_validated() {
    let (rows, base, _) = list();
    let mut model = PersonalModel::new(2);
    assert_eq!(model.learn(&rows, &base, &[IGNORED; 4], &config()), None);
    assert_eq!(model.learn(&rows, &base, &[ENGAGED; 4], &config()), None);
    assert_eq!(model.gate().validated(), 0);
    assert_eq!(model.updates(), 0, "no pair with different labels: no step");
    // Rejections are below ignored candidates: a list without engagement still teaches.
    let rejected = [IGNORED, REJECTED, IGNORED, IGNORED];
    assert_eq!(model.learn(&rows, &base, &rejected, &config()), None);
    assert_eq!(model.updates(), 1);
}

#[test]
fn mismatched_lengths_are_ignored_not_a_panic() {
    let mut model = PersonalModel::new(2);
    assert_eq!(model.learn(&[1.0], &[0.0, 1.0], &[1.0, 0.0], &config()), None);
    assert_eq!(model, PersonalModel::new(2));
    assert_eq!(PersonalModel::default().learn(&[], &[0.0], &[1.0], &config()), None);
    let (rows, base, _) = list();
    for label in [f32::NAN, f32::INFINITY] {
        assert_eq!(model.learn(&rows, &base, &[ENGAGED, label, IGNORED, IGNORED], &config()), None);
    }
    assert_eq!(model, PersonalModel::new(2), "a label that is not a number teaches nothing");
}

#[test]
fn the_gate_opens_only_after_enough_better_lists_and_closes_again() {
    let config = config();
    let mut gate = Gate::default();
    gate.record(0.2, &config);
    gate.record(0.2, &config);
    assert!(!gate.is_open(), "fewer than gate_min_requests validated");
    gate.record(0.2, &config);
    assert!(gate.is_open());
    for _ in 0..3 {
        gate.record(-0.3, &config);
    }
    assert!(!gate.is_open(), "the window's mean gain is now negative");
    assert_eq!(gate.gains.len(), config.gate_window);
    assert_eq!(gate.validated(), 6);
}

#[test]
fn a_closed_gate_serves_no_term() {
    let model = PersonalModel {
        head: Head { weights: vec![1.0], squared_gradients: vec![1.0] },
        ..PersonalModel::default()
    };
    assert_eq!(model.served_term(|_| 1.0, &config()), 0.0);
}

fn learner() -> Learner {
    let mut learner = Learner::default();
    learner.adopt(&["a".into(), "b".into()]);
    learner
}

fn shown(at: f64, ids: &[&str]) -> ShownList {
    let (rows, base, _) = list();
    let n = ids.len();
    ShownList::new(
        at,
        at + config().label_window_ms,
        ids.iter().map(|id| item_hash(id)).collect(),
        base[..n].to_vec(),
        rows[..2 * n].to_vec(),
    )
}

#[test]
fn events_label_the_shown_lists_inside_their_window_once() {
    let mut learner = learner();
    learner.remember(shown(1_000.0, &["x", "y", "z"]), &config());
    learner.observe("y", EventKind::Click, 500.0);
    learner.observe("z", EventKind::Impression, 2_000.0);
    learner.observe("y", EventKind::Like, 1_000.0 + 2.0 * config().label_window_ms);
    assert_eq!(learner.shown().lists[0].labels, [IGNORED; 3], "before, after the window, or not engagement");
    learner.observe("y", EventKind::Click, 2_000.0);
    let once = learner.clone();
    learner.observe("y", EventKind::Click, 2_000.0);
    assert_eq!(learner, once, "a replayed event changes nothing");
    learner.observe("x", EventKind::Hide, 3_000.0);
    learner.observe("x", EventKind::Click, 4_000.0);
    assert_eq!(learner.shown().lists[0].labels, [REJECTED, ENGAGED, IGNORED], "a hide stands");
}

#[test]
fn an_event_labels_every_list_that_showed_the_item_before_it() {
    let mut learner = learner();
    learner.remember(shown(1_000.0, &["x", "y"]), &config());
    learner.remember(shown(2_000.0, &["y", "z"]), &config());
    learner.remember(shown(3_000.0, &["z", "y"]), &config());
    learner.observe("y", EventKind::Like, 2_500.0);
    let labels: Vec<&[f32]> = learner.shown().lists.iter().map(|l| l.labels.as_slice()).collect();
    assert_eq!(
        labels,
        [&[IGNORED, ENGAGED][..], &[ENGAGED, IGNORED], &[IGNORED, IGNORED]],
        "not the list shown after it"
    );
}

#[test]
fn a_list_is_learnt_from_when_its_window_closes_or_it_is_pushed_out() {
    let config = LearningConfig { shown_requests: 2, ..config() };
    let mut learner = learner();
    learner.remember(shown(0.0, &["w", "x", "y", "z"]), &config);
    learner.observe("z", EventKind::Click, 10.0);
    learner.settle(config.label_window_ms - 1.0, &config);
    assert_eq!((learner.model().updates(), learner.shown().len()), (0, 1), "the window is still open");
    learner.settle(config.label_window_ms, &config);
    assert_eq!((learner.model().updates(), learner.shown().len()), (1, 0));
    assert_eq!(learner.updated_at(), Some(0.0));
    for at in [100.0, 200.0, 300.0] {
        learner.remember(shown(at, &["w", "z"]), &config);
        learner.observe("z", EventKind::Click, at + 1.0);
    }
    assert_eq!(learner.shown().len(), 2);
    assert_eq!(learner.model().updates(), 2, "the list pushed out was learnt from");
    assert_eq!(learner.updated_at(), Some(100.0));
}

#[test]
fn a_list_without_outcomes_does_not_date_the_head() {
    let mut learner = learner();
    learner.remember(shown(0.0, &["w", "x"]), &config());
    learner.settle(f64::MAX, &config());
    assert!(learner.shown().is_empty());
    assert_eq!((learner.model().updates(), learner.updated_at()), (0, None));
}

#[test]
fn a_smaller_memory_learns_from_every_list_it_no_longer_holds() {
    let mut learner = learner();
    for at in [100.0, 200.0, 300.0] {
        learner.remember(shown(at, &["w", "z"]), &config());
        learner.observe("z", EventKind::Click, at + 1.0);
    }
    learner.remember(shown(400.0, &["w", "z"]), &LearningConfig { shown_requests: 1, ..config() });
    assert_eq!(learner.shown().len(), 1);
    assert_eq!(learner.model().updates(), 3);
}

#[test]
fn retention_clear_and_a_new_contract_forget_the_head() {
    let mut learner = learner();
    learner.remember(shown(0.0, &["w", "x", "y", "z"]), &config());
    learner.observe("z", EventKind::Click, 1.0);
    learner.settle(f64::MAX, &config());
    learner.remember(shown(5_000.0, &["w"]), &config());
    let trained = learner.clone();
    learner.prune(1_000.0);
    assert_eq!(learner.shown().len(), 1, "the newer list is kept");
    assert_eq!(learner.model(), &PersonalModel::new(2), "the head learnt only before retention");
    let mut cleared = trained.clone();
    cleared.clear();
    assert_eq!(cleared, learner_with_features(&trained));
    let mut other = trained.clone();
    other.adopt(&["a".into(), "c".into()]);
    assert_eq!(other.model(), &PersonalModel::new(2));
    assert!(other.shown().is_empty());
    let mut same = trained.clone();
    same.adopt(&["a".into(), "b".into()]);
    assert_eq!(same, trained, "a model with the same signal features carries the head");
}

fn learner_with_features(learner: &Learner) -> Learner {
    let mut fresh = Learner::default();
    fresh.adopt(learner.features());
    fresh
}

#[test]
fn the_default_config_is_valid_and_limits_are_checked() {
    LearningConfig::default().validate().unwrap();
    for bad in [
        LearningConfig { learning_rate: 0.0, ..LearningConfig::default() },
        LearningConfig { l2: f32::NAN, ..LearningConfig::default() },
        LearningConfig { bound: -1.0, ..LearningConfig::default() },
        LearningConfig { shown_requests: MAX_SHOWN_REQUESTS + 1, ..LearningConfig::default() },
        LearningConfig { shown_per_request: 0, ..LearningConfig::default() },
        LearningConfig { label_window_ms: f64::INFINITY, ..LearningConfig::default() },
        LearningConfig { gate_window: 0, ..LearningConfig::default() },
        LearningConfig { gate_margin: f64::NAN, ..LearningConfig::default() },
    ] {
        assert_eq!(bad.validate().unwrap_err().code(), "CONTRACT_MISMATCH", "{bad:?}");
    }
    assert!(crate::features::Feature::all_names().len() <= MAX_HEAD_FEATURES);
}

#[test]
fn the_default_head_fits_its_memory_goal() {
    // The shipped KuaiRand contract has 18 candidate signal features.
    let config = LearningConfig::default();
    let mut learner = Learner::default();
    learner.adopt(&(0..18).map(|k| format!("feature.{k}")).collect::<Vec<_>>());
    for r in 0..config.shown_requests {
        let n = config.shown_per_request;
        let list = ShownList::new(r as f64, 1e9, vec![7; n], vec![0.0; n], vec![0.5; n * 18]);
        learner.remember(list, &config);
    }
    assert!(learner.memory_bytes() <= 64 * 1024, "{} bytes", learner.memory_bytes());
}
