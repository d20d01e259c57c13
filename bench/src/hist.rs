//! Latencies as HDR histograms: every sample kept at three significant figures
//! in fixed memory, so an open loop of a million commands costs the client
//! nothing per sample, and the tail (p99.9, max) is exact enough to trust.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The latencies of one measurement, in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

/// The percentiles a report shows.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub count: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            // 1 µs to 10 minutes; anything longer is clamped to it.
            histogram: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(micros.max(1));
    }

    pub fn add(&mut self, other: &Self) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    fn at(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.histogram.value_at_quantile(quantile))
    }

    pub fn summary(&self) -> Summary {
        Summary {
            count: self.histogram.len(),
            p50: self.at(0.5),
            p90: self.at(0.9),
            p99: self.at(0.99),
            p999: self.at(0.999),
            max: Duration::from_micros(self.histogram.max()),
        }
    }

    /// The cumulative distribution, as (latency in ms, share of samples at or
    /// below it) points, one per distinct recorded value.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.histogram.len() as f64;
        let mut below = 0_u64;
        self.histogram
            .iter_recorded()
            .map(|value| {
                below += value.count_at_value();
                (
                    self.histogram.highest_equivalent(value.value_iterated_to()) as f64 / 1000.0,
                    below as f64 / total,
                )
            })
            .collect()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

/// A duration in milliseconds, as tables show it.
pub fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_cdf_follow_the_samples() {
        let mut latencies = Latencies::default();
        for micros in 1..=1000 {
            latencies.record(Duration::from_micros(micros));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 1000);
        assert!((499..=501).contains(&summary.p50.as_micros()), "{summary}");
        assert!((989..=991).contains(&summary.p99.as_micros()), "{summary}");
        let cdf = latencies.cdf();
        assert_eq!(cdf.last().map(|point| point.1), Some(1.0));
        assert!(cdf.windows(2).all(|pair| pair[0] <= pair[1]));
    }
}
