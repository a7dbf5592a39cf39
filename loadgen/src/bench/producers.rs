//! Several producers in one run: how the records are split between them, and the window
//! their throughput is summed over.

use std::time::Duration;

/// `total` records split between `producers` (the first ones take the remainder), so the run
/// sends the same records whatever the number of producers.
pub fn split_count(total: u64, producers: u32) -> Vec<u64> {
    let n = u64::from(producers.max(1));
    (0..n)
        .map(|k| total / n + u64::from(k < total % n))
        .collect()
}

/// The window every producer's records were sent and acknowledged in: from the earliest first
/// send to the latest last acknowledgement. Each span is `(end, elapsed)`: when the producer
/// finished, measured from a common start, and how long it ran from its first send.
pub fn window(spans: &[(Duration, Duration)]) -> Duration {
    let end = spans.iter().map(|(end, _)| *end).max().unwrap_or_default();
    let start = spans
        .iter()
        .map(|(end, elapsed)| end.saturating_sub(*elapsed))
        .min()
        .unwrap_or_default();
    end.saturating_sub(start)
}

/// Summed throughput: every producer's acknowledged records (or bytes) over the [`window`].
pub fn per_second(total: u64, window: Duration) -> f64 {
    total as f64 / window.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_evenly_with_the_remainder_first() {
        assert_eq!(split_count(10, 1), vec![10]);
        assert_eq!(split_count(10, 3), vec![4, 3, 3]);
        assert_eq!(split_count(16, 8), vec![2; 8]);
        assert_eq!(split_count(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split_count(10, 0), vec![10]);
        for n in 1..=24 {
            assert_eq!(split_count(1_000_003, n).iter().sum::<u64>(), 1_000_003);
        }
    }

    #[test]
    fn throughput_is_summed_over_the_union_of_the_producers_windows() {
        let s = Duration::from_secs;
        // One producer ran 0..4 s, another 1..5 s: 5 s in all, not 4 (the longest) nor 8.
        let spans = [(s(4), s(4)), (s(5), s(4))];
        assert_eq!(window(&spans), s(5));
        // 1000 records each: their own rates (250/s) add up to 500/s, but they overlapped
        // only partly; 2000 records in the 5 s they took together is 400/s.
        assert_eq!(per_second(2000, window(&spans)), 400.0);
        // Eight producers over the same 2 s: their rates add up.
        let same = [(s(2), s(2)); 8];
        assert_eq!(per_second(8 * 500, window(&same)), 8.0 * 250.0);
        assert_eq!(window(&[]), Duration::ZERO);
        assert!(per_second(5, Duration::ZERO).is_finite());
    }
}
