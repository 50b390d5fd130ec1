//! Latency summaries from raw samples (every measured request is kept, so the
//! quantiles are exact rather than bucketed).

use serde::{Deserialize, Serialize};

/// Latency quantiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
    /// Arithmetic mean.
    pub mean_us: f64,
}

/// The nearest-rank quantile `q` (0..=1) of sorted samples.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises nanosecond samples (sorts them in place).
pub fn summarise(samples: &mut [u64]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort_unstable();
    let us = |ns: u64| ns as f64 / 1_000.0;
    let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    Latency {
        p50_us: us(quantile(samples, 0.50)),
        p90_us: us(quantile(samples, 0.90)),
        p99_us: us(quantile(samples, 0.99)),
        max_us: us(*samples.last().unwrap_or(&0)),
        mean_us: (sum as f64 / samples.len() as f64) / 1_000.0,
    }
}

/// The median of a few values (cold-start runs).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut s: Vec<u64> = (1..=100).rev().map(|x| x * 1000).collect();
        let l = summarise(&mut s);
        assert_eq!(l.p50_us, 50.0);
        assert_eq!(l.p99_us, 99.0);
        assert_eq!(l.max_us, 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
