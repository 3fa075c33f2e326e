use super::*;
use crate::item::{Candidate, Item};

/// `super::order` on a list of candidate objects, without a time budget.
fn order(scores: &[f32], candidates: &[Candidate], constraints: &Constraints) -> Vec<u32> {
    super::order(scores, &CandidateColumns::from_candidates(candidates), constraints, &mut || Ok(())).unwrap()
}

fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            item: Item { id: format!("c{i}"), author: Some(format!("a{}", i % 2)), ..Item::default() },
            ..Candidate::default()
        })
        .collect()
}

fn is_permutation(order: &[u32], n: usize) -> bool {
    let mut seen = vec![false; n];
    order.len() == n && order.iter().all(|&i| !std::mem::replace(&mut seen[i as usize], true))
}

#[test]
fn sorts_by_score_with_server_rank_breaking_ties() {
    let scores = [0.1, 0.9, 0.5, 0.9];
    assert_eq!(order(&scores, &candidates(4), &Constraints::default()), vec![1, 3, 2, 0]);
}

#[test]
fn pinned_candidates_keep_their_position() {
    let mut list = candidates(5);
    list[0].pinned = true;
    list[3].pinned = true;
    let scores = [0.0, 0.1, 0.2, 0.3, 0.9];
    let result = order(&scores, &list, &Constraints::default());
    assert_eq!(result, vec![0, 4, 2, 3, 1]);
}

#[test]
fn no_candidate_moves_further_than_the_bound() {
    let n = 30;
    let list = candidates(n);
    // Reverse preference: everyone wants to move as far as possible.
    let scores: Vec<f32> = (0..n).map(|i| i as f32).collect();
    for d in [0, 1, 2, 5] {
        let constraints = Constraints { max_displacement: Some(d), ..Constraints::default() };
        let result = order(&scores, &list, &constraints);
        assert!(is_permutation(&result, n));
        for (position, &i) in result.iter().enumerate() {
            assert!((i as usize).abs_diff(position) <= d, "d={d}: {result:?}");
        }
    }
}

#[test]
fn displacement_bound_holds_around_pins() {
    let n = 12;
    let mut list = candidates(n);
    for i in [3, 4, 8] {
        list[i].pinned = true;
    }
    let scores: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let constraints = Constraints { max_displacement: Some(2), ..Constraints::default() };
    let result = order(&scores, &list, &constraints);
    assert!(is_permutation(&result, n));
    for (position, &i) in result.iter().enumerate() {
        assert!((i as usize).abs_diff(position) <= 2, "{result:?}");
        if list[i as usize].pinned {
            assert_eq!(i as usize, position);
        }
    }
}

#[test]
fn diversity_limits_runs_of_one_author() {
    let list = candidates(8); // authors alternate a0, a1
                              // Author a0 (even indices) scores highest.
    let scores: Vec<f32> =
        (0..8).map(|i| if i % 2 == 0 { 10.0 - i as f32 } else { 1.0 - i as f32 * 0.1 }).collect();
    let constraints = Constraints {
        diversity: Some(Diversity { by: DiversityKey::Author, max_run: 2 }),
        ..Constraints::default()
    };
    let result = order(&scores, &list, &constraints);
    assert!(is_permutation(&result, 8));
    assert_eq!(&result[..3], &[0, 2, 1], "a third a0 in a row is deferred");
    let authors: Vec<_> = result.iter().map(|&i| i % 2).collect();
    for window in authors.windows(3).take(4) {
        assert!(!(window[0] == window[1] && window[1] == window[2]), "{result:?}");
    }
}

#[test]
fn placement_is_near_linear_for_lists_that_were_quadratic() {
    // One author for all (every run is blocked and relaxed), and a displacement bound: the
    // cases that took 10.8 s (5 000 candidates, maxRun 50) and 31 s (100 000, maxDisplacement
    // 50) with the O(n²) placement.
    let n = 100_000;
    let list: Vec<Candidate> = (0..n)
        .map(|i| Candidate {
            item: Item { id: format!("c{i}"), author: Some("one".into()), ..Item::default() },
            pinned: i % 97 == 0,
            ..Candidate::default()
        })
        .collect();
    let scores: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32).collect();
    for constraints in [
        Constraints { max_displacement: Some(50), ..Constraints::default() },
        Constraints {
            max_displacement: Some(50),
            diversity: Some(Diversity { by: DiversityKey::Author, max_run: 1666 }),
        },
        Constraints {
            diversity: Some(Diversity { by: DiversityKey::Author, max_run: 50 }),
            ..Constraints::default()
        },
    ] {
        let started = std::time::Instant::now();
        let result = order(&scores, &list, &constraints);
        let elapsed = started.elapsed();
        assert!(is_permutation(&result, n));
        assert!(elapsed.as_secs_f64() < 2.0, "{constraints:?}: {elapsed:?}");
    }
}

#[test]
fn placement_stops_when_the_budget_says_so() {
    let list = candidates(5_000);
    let scores = vec![1.0; 5_000];
    let constraints = Constraints { max_displacement: Some(3), ..Constraints::default() };
    let mut looks = 0;
    let result = super::order(&scores, &CandidateColumns::from_candidates(&list), &constraints, &mut || {
        looks += 1;
        if looks > 2 {
            Err(Error::TimeBudgetExceeded { budget_ms: 1.0, elapsed_ms: 2.0 })
        } else {
            Ok(())
        }
    });
    assert_eq!(result.unwrap_err().code(), "TIME_BUDGET_EXCEEDED");
    assert_eq!(looks, 3, "one look per thousand positions or so");
}

#[test]
fn a_run_of_zero_is_an_invalid_request() {
    let constraints = Constraints {
        diversity: Some(Diversity { by: DiversityKey::Author, max_run: 0 }),
        ..Constraints::default()
    };
    assert_eq!(constraints.validate().unwrap_err().code(), "INVALID_REQUEST");
}

// proptest is a native-only dev-dependency (its RNG has no wasm32 entropy source).
#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The placement rule written directly (each position scans every unplaced candidate: O(n²)
    /// and more), as the near-linear `placer` must reproduce it exactly.
    fn reference_order(scores: &[f32], candidates: &[Candidate], constraints: &Constraints) -> Vec<u32> {
        let columns = CandidateColumns::from_candidates(candidates);
        let preferred = preference(scores);
        let n = candidates.len();
        let mut slots: Vec<Option<u32>> = (0..n).map(|i| candidates[i].pinned.then_some(i as u32)).collect();
        let mut free_before = Vec::with_capacity(n + 1);
        let mut free = 0;
        for slot in &slots {
            free_before.push(free);
            free += usize::from(slot.is_none());
        }
        free_before.push(free);
        let mut placed: Vec<bool> = (0..n).map(|i| candidates[i].pinned).collect();
        let mut by_rank: Vec<u32> = (0..n as u32).filter(|&i| !placed[i as usize]).collect();
        let within = |i: usize, position: usize| {
            constraints.max_displacement.is_none_or(|d| i.abs_diff(position) <= d)
        };
        for position in 0..n {
            if slots[position].is_some() {
                continue;
            }
            // Some candidate must go now if the first k unplaced ones exactly fill the free
            // positions up to the k-th one's deadline.
            let must_choose_from = constraints.max_displacement.and_then(|d| {
                by_rank.iter().enumerate().find_map(|(k, &i)| {
                    let deadline = (i as usize + d).clamp(position, n - 1);
                    (free_before[deadline + 1] - free_before[position] <= k + 1).then_some(i as usize)
                })
            });
            let allowed = |i: u32| {
                !placed[i as usize]
                    && within(i as usize, position)
                    && must_choose_from.is_none_or(|l| i as usize <= l)
            };
            let keeps_diversity = |i: u32| {
                let Some(diversity) = constraints.diversity else { return true };
                let Some(key) = diversity.key(&columns, i) else { return true };
                let run = slots[..position]
                    .iter()
                    .rev()
                    .take(diversity.max_run)
                    .take_while(|slot| slot.is_some_and(|c| diversity.key(&columns, c) == Some(key)))
                    .count();
                run < diversity.max_run
            };
            let choice = preferred
                .iter()
                .copied()
                .filter(|&i| allowed(i))
                .find(|&i| keeps_diversity(i))
                .or_else(|| preferred.iter().copied().find(|&i| allowed(i)))
                .unwrap_or(by_rank[0]);
            placed[choice as usize] = true;
            slots[position] = Some(choice);
            by_rank.retain(|&i| i != choice);
        }
        slots.into_iter().map(|slot| slot.unwrap()).collect()
    }

    /// A list with random pins and authors, its scores (any f32, NaN and infinities included)
    /// and random constraints.
    fn any_request() -> impl Strategy<Value = (Vec<Candidate>, Vec<f32>, Constraints)> {
        // Few distinct scores, so ties (broken by server rank) are common too.
        let score = prop_oneof![any::<f32>(), (0..4u8).prop_map(f32::from)];
        let candidate = (any::<bool>(), proptest::option::of(0..4u8), score);
        let constraints =
            (proptest::option::of(0..8usize), proptest::option::of((proptest::bool::ANY, 1..4usize)));
        (proptest::collection::vec(candidate, 0..60), constraints).prop_map(
            |(list, (max_displacement, diversity))| {
                let candidates = list
                    .iter()
                    .enumerate()
                    .map(|(i, &(pinned, author, _))| Candidate {
                        item: Item {
                            id: format!("c{i}"),
                            author: author.map(|a| format!("a{a}")),
                            containers: vec![format!("g{}", i % 3)],
                            ..Item::default()
                        },
                        pinned,
                        ..Candidate::default()
                    })
                    .collect();
                let scores = list.iter().map(|&(_, _, score)| score).collect();
                let diversity = diversity.map(|(by_author, max_run)| Diversity {
                    by: if by_author { DiversityKey::Author } else { DiversityKey::Container },
                    max_run,
                });
                (candidates, scores, Constraints { max_displacement, diversity })
            },
        )
    }

    proptest! {
        #[test]
        fn the_order_is_a_permutation_that_keeps_pins_and_the_displacement_bound(
            (candidates, scores, constraints) in any_request(),
        ) {
            let result = order(&scores, &candidates, &constraints);
            prop_assert!(is_permutation(&result, candidates.len()), "{:?}", result);
            for (position, &i) in result.iter().enumerate() {
                if candidates[i as usize].pinned {
                    prop_assert_eq!(i as usize, position, "a pinned candidate moved");
                }
                if let Some(d) = constraints.max_displacement {
                    prop_assert!((i as usize).abs_diff(position) <= d, "moved further than {}: {:?}", d, result);
                }
            }
            prop_assert_eq!(order(&scores, &candidates, &constraints), result, "same input, same output");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// The near-linear placement is the greedy rule, exactly, on any list.
        #[test]
        fn the_placement_equals_the_rule_written_directly((candidates, scores, constraints) in any_request()) {
            prop_assert_eq!(
                order(&scores, &candidates, &constraints),
                reference_order(&scores, &candidates, &constraints)
            );
        }
    }

    proptest! {
        /// The integer keys sort as `total_cmp` descending with ties by index, whatever the
        /// scores (NaN of either sign, ±0, infinities, subnormals, ties).
        #[test]
        fn the_preference_is_total_cmp_descending_then_server_rank(
            scores in proptest::collection::vec(
                prop_oneof![any::<f32>(), (0..3u8).prop_map(f32::from), Just(-0.0f32), Just(-f32::NAN)],
                0..80,
            ),
        ) {
            let mut expected: Vec<u32> = (0..scores.len() as u32).collect();
            expected.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
            prop_assert_eq!(preference(&scores), expected);
        }
    }
}
