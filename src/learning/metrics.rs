//! Ranking quality of one list: what the offline evaluation reports and what the personal
//! head's gate compares on the device, computed by one function.

/// The cut-off of NDCG@10 and Recall@10.
pub const CUTOFF: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestMetrics {
    pub ndcg: f64,
    pub ndcg5: f64,
    pub recall: f64,
    pub mrr: f64,
}

/// Metrics of one ranked list: `scores` higher is better, ties keep list order; a label above
/// 0 is relevant (a list without one scores 0 everywhere).
pub fn request_metrics(scores: &[f32], labels: &[f32]) -> RequestMetrics {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let positives = labels.iter().filter(|&&l| l > 0.0).count();
    if positives == 0 {
        return RequestMetrics::default();
    }
    let gain = |rank: usize| 1.0 / (rank as f64 + 2.0).log2();
    let ndcg_at = |cutoff: usize| {
        let dcg: f64 = order
            .iter()
            .take(cutoff)
            .enumerate()
            .filter(|(_, &i)| labels[i] > 0.0)
            .map(|(r, _)| gain(r))
            .sum();
        dcg / (0..positives.min(cutoff)).map(gain).sum::<f64>()
    };
    let hits = order.iter().take(CUTOFF).filter(|&&i| labels[i] > 0.0).count();
    let first = order.iter().position(|&i| labels[i] > 0.0).expect("a positive exists");
    RequestMetrics {
        ndcg: ndcg_at(CUTOFF),
        ndcg5: ndcg_at(5),
        recall: hits as f64 / positives as f64,
        mrr: 1.0 / (first as f64 + 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        // Positives at ranks 2 and 4 (1-based) after sorting by score.
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        let labels = [0.0, 1.0, 0.0, 1.0, 0.0];
        let m = request_metrics(&scores, &labels);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg - dcg / ideal).abs() < 1e-12);
        assert_eq!(m.recall, 1.0);
        assert_eq!(m.mrr, 0.5);
        assert_eq!(m.ndcg5, m.ndcg, "both positives are in the top 5");
        let perfect = request_metrics(&[0.1, 0.9], &[0.0, 1.0]);
        assert_eq!((perfect.ndcg, perfect.mrr), (1.0, 1.0));
        // One positive at rank 6: counted by NDCG@10, not by NDCG@5.
        let late = request_metrics(&[7.0, 6.0, 5.0, 4.0, 3.0, 2.0], &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert!((late.ndcg - 1.0 / 7f64.log2()).abs() < 1e-12);
        assert_eq!(late.ndcg5, 0.0);
    }

    #[test]
    fn a_negative_label_is_not_relevant() {
        let m = request_metrics(&[0.9, 0.8], &[-1.0, 0.0]);
        assert_eq!(m, RequestMetrics::default());
    }
}
