//! Prometheus metrics, counted with atomics on the request path (no lock)
//! and rendered as text on a separate listener (`gateway.metrics_listen`).

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Request outcomes, as the proxy labels them.
pub const OUTCOMES: &[&str] = &[
    "portal",
    "readyz",
    "public",
    "allowed",
    "no_session",
    "denied",
    "step_up",
    "callback",
    "callback_refused",
    "unavailable",
    "no_app",
    "bad_path",
    "bad_framing",
    "bad_key",
];

/// Latency bucket bounds in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Debug)]
struct AppMetrics {
    name: String,
    by_outcome: Vec<AtomicU64>,
    latency: Histogram,
    upstream_errors: AtomicU64,
}

/// Every counter the gateway keeps.
#[derive(Debug)]
pub struct Metrics {
    /// Index 0 is the portal; then the applications in policy order.
    apps: Vec<AppMetrics>,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

impl Metrics {
    pub fn new<'a>(app_ids: impl IntoIterator<Item = &'a str>) -> Self {
        let apps = std::iter::once("portal")
            .chain(app_ids)
            .map(|name| AppMetrics {
                name: name.to_string(),
                by_outcome: OUTCOMES.iter().map(|_| AtomicU64::new(0)).collect(),
                latency: Histogram {
                    buckets: BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
                    ..Default::default()
                },
                upstream_errors: AtomicU64::new(0),
            })
            .collect();
        Self {
            apps,
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        }
    }

    /// The series index of application `id` (0 is the portal's).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.apps
            .iter()
            .skip(1)
            .position(|a| a.name == id)
            .map(|i| i + 1)
    }

    /// Records one finished request of application `app` (0 = portal).
    pub fn record(&self, app: usize, outcome: &str, micros: u64, upstream_error: bool) {
        let Some(m) = self.apps.get(app) else { return };
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            m.by_outcome[i].fetch_add(1, Ordering::Relaxed);
        }
        let secs = micros as f64 / 1e6;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                m.latency.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        m.latency.count.fetch_add(1, Ordering::Relaxed);
        m.latency.sum_micros.fetch_add(micros, Ordering::Relaxed);
        if upstream_error {
            m.upstream_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP portcullis_requests_total Requests by application and outcome."
        );
        let _ = writeln!(out, "# TYPE portcullis_requests_total counter");
        for m in &self.apps {
            for (i, o) in OUTCOMES.iter().enumerate() {
                let n = m.by_outcome[i].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "portcullis_requests_total{{app=\"{}\",outcome=\"{o}\"}} {n}",
                        m.name
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_request_duration_seconds Time from request to response end."
        );
        let _ = writeln!(out, "# TYPE portcullis_request_duration_seconds histogram");
        for m in &self.apps {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "portcullis_request_duration_seconds_bucket{{app=\"{}\",le=\"{bound}\"}} {}",
                    m.name,
                    m.latency.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = m.latency.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "portcullis_request_duration_seconds_bucket{{app=\"{}\",le=\"+Inf\"}} {count}",
                m.name
            );
            let _ = writeln!(
                out,
                "portcullis_request_duration_seconds_sum{{app=\"{}\"}} {}",
                m.name,
                m.latency.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "portcullis_request_duration_seconds_count{{app=\"{}\"}} {count}",
                m.name
            );
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_upstream_errors_total Requests that failed talking to the upstream."
        );
        let _ = writeln!(out, "# TYPE portcullis_upstream_errors_total counter");
        for m in self.apps.iter().skip(1) {
            let _ = writeln!(
                out,
                "portcullis_upstream_errors_total{{app=\"{}\"}} {}",
                m.name,
                m.upstream_errors.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_session_cache_total Session cache lookups by result."
        );
        let _ = writeln!(out, "# TYPE portcullis_session_cache_total counter");
        let _ = writeln!(
            out,
            "portcullis_session_cache_total{{result=\"hit\"}} {}",
            self.cache_hits.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "portcullis_session_cache_total{{result=\"miss\"}} {}",
            self.cache_misses.load(Ordering::Relaxed)
        );
        out
    }
}

/// Serves `GET /metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("gateway.metrics_listen: cannot listen on {addr}: {e}"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applications_are_found_by_id_not_position() {
        let m = Metrics::new(["wiki", "grafana"]);
        assert_eq!(m.index_of("wiki"), Some(1));
        assert_eq!(m.index_of("grafana"), Some(2));
        assert_eq!(m.index_of("portal"), None, "no application is the portal");
        assert_eq!(m.index_of("added-later"), None);
        // Out of range: not counted, and no panic.
        m.record(usize::MAX, "allowed", 1, false);
    }

    #[test]
    fn renders_counts_and_histograms() {
        let m = Metrics::new(["wiki"]);
        m.record(1, "allowed", 700, false);
        m.record(1, "no_session", 100, false);
        m.record(1, "allowed", 30_000, true);
        m.record(0, "portal", 2_000, false);
        m.cache_hits.fetch_add(2, Ordering::Relaxed);
        let text = m.render();
        assert!(
            text.contains("portcullis_requests_total{app=\"wiki\",outcome=\"allowed\"} 2"),
            "{text}"
        );
        assert!(text.contains("portcullis_requests_total{app=\"portal\",outcome=\"portal\"} 1"));
        assert!(
            text.contains(
                "portcullis_request_duration_seconds_bucket{app=\"wiki\",le=\"0.001\"} 2"
            )
        );
        assert!(text.contains("portcullis_request_duration_seconds_count{app=\"wiki\"} 3"));
        assert!(text.contains("portcullis_upstream_errors_total{app=\"wiki\"} 1"));
        assert!(text.contains("portcullis_session_cache_total{result=\"hit\"} 2"));
    }
}
