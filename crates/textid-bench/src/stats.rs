//! Latency percentiles and duration parsing.

use std::time::Duration;

/// Summary of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: u64,
    /// 95th percentile (nearest rank).
    pub p95: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

/// The `q`-th percentile (0 < q <= 100) of `sorted` (ascending) by the nearest-rank
/// method: the smallest sample such that at least q % of the samples are at most it.
/// `None` for no samples.
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // ceil(q/100 * n), at least rank 1, at most rank n. Computed in integers where
    // possible so that e.g. p50 of 10 samples is rank 5 exactly.
    let rank = ((q / 100.0) * n as f64).ceil() as usize;
    let rank = rank.clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// Sorts `samples` and summarises them.
pub fn summarize(samples: &mut [u64]) -> Summary {
    samples.sort_unstable();
    Summary {
        count: samples.len(),
        p50: percentile(samples, 50.0).unwrap_or(0),
        p95: percentile(samples, 95.0).unwrap_or(0),
        p99: percentile(samples, 99.0).unwrap_or(0),
        max: samples.last().copied().unwrap_or(0),
    }
}

/// Microseconds as milliseconds with three decimals' precision kept.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Parses `20s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 20s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit '{other}' in '{s}' (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{s}' is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.001), Some(1));

        let ten: Vec<u64> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(percentile(&ten, 50.0), Some(50));
        assert_eq!(percentile(&ten, 95.0), Some(100));
        assert_eq!(percentile(&ten, 99.0), Some(100));

        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summarize_sorts_first() {
        let mut v = vec![5, 1, 4, 2, 3];
        let s = summarize(&mut v);
        assert_eq!(
            s,
            Summary {
                count: 5,
                p50: 3,
                p95: 5,
                p99: 5,
                max: 5
            }
        );
        assert_eq!(summarize(&mut []), Summary::default());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }
}
