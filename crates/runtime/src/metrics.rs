//! The Prometheus metrics of every controller, in one registry (names as in design.md §7).

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::RuntimeError;

/// Buckets for reconcile, fetch and build durations: 5 ms to 5 min.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The kinds Driftless reconciles.
const KINDS: [&str; 8] = [
    "GitRepository",
    "Kustomization",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "Provider",
    "Alert",
    "Receiver",
];

/// Every metric Driftless exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `driftless_reconcile_duration_seconds{kind}`.
    pub reconcile_duration: HistogramVec,
    /// `driftless_reconcile_total{kind,result}` with result `success` or `error`.
    pub reconcile_total: IntCounterVec,
    /// `driftless_resource_ready{kind,namespace,name}`: 1 True, 0 False, -1 Unknown.
    pub resource_ready: IntGaugeVec,
    /// `driftless_resource_suspended{kind,namespace,name}`: 1 when `spec.suspend` is true.
    pub resource_suspended: IntGaugeVec,
    /// `driftless_source_cache_hits`: fetches answered from the cache without a checkout.
    pub source_cache_hits: IntGauge,
    /// `driftless_source_cache_misses`: fetches that had to check a new revision out.
    pub source_cache_misses: IntGauge,
    /// `driftless_source_cache_bytes`: bytes of artifacts on disk.
    pub source_cache_bytes: IntGauge,
    /// `driftless_source_cache_fetches`: network fetches of objects into git mirrors.
    pub source_cache_fetches: IntGauge,
    /// `driftless_source_cache_checkouts`: artifact trees written to disk.
    pub source_cache_checkouts: IntGauge,
    /// `driftless_source_cache_ref_lists`: ref advertisements asked of remotes (polls).
    pub source_cache_ref_lists: IntGauge,
    /// `driftless_git_fetch_duration_seconds`.
    pub git_fetch_duration: HistogramVec,
    /// `driftless_kustomize_build_duration_seconds`.
    pub kustomize_build_duration: HistogramVec,
    /// `driftless_apply_objects_total{action}` with action created, configured, unchanged, pruned.
    pub apply_objects_total: IntCounterVec,
    /// `driftless_notification_deliveries_total{provider,result}`: provider `<namespace>/<name>`,
    /// result `success`, `error` (retries exhausted), `dropped` (queue full) or `folded`
    /// (an identical event was sent within the rate-limit window).
    pub notification_deliveries_total: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, RuntimeError> {
        let registry = Registry::new();
        let histogram =
            |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, RuntimeError> {
                let h = HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
                    labels,
                )?;
                registry.register(Box::new(h.clone()))?;
                Ok(h)
            };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, RuntimeError> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let gauge_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, RuntimeError> {
                let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, RuntimeError> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let object = &["kind", "namespace", "name"];
        let metrics = Metrics {
            reconcile_duration: histogram(
                "driftless_reconcile_duration_seconds",
                "Duration of one reconcile, by kind.",
                &["kind"],
            )?,
            reconcile_total: counter(
                "driftless_reconcile_total",
                "Reconciles by kind and result (success or error).",
                &["kind", "result"],
            )?,
            resource_ready: gauge_vec(
                "driftless_resource_ready",
                "Ready condition of each object: 1 True, 0 False, -1 Unknown.",
                object,
            )?,
            resource_suspended: gauge_vec(
                "driftless_resource_suspended",
                "1 when the object's spec.suspend is true, else 0.",
                object,
            )?,
            source_cache_hits: gauge(
                "driftless_source_cache_hits",
                "Source fetches answered by an artifact already in the cache.",
            )?,
            source_cache_misses: gauge(
                "driftless_source_cache_misses",
                "Source fetches that checked a new artifact out.",
            )?,
            source_cache_bytes: gauge(
                "driftless_source_cache_bytes",
                "Bytes of artifacts in the source cache.",
            )?,
            source_cache_fetches: gauge(
                "driftless_source_cache_fetches",
                "Network fetches of git objects into the cache's mirrors (shared by every GitRepository on a URL).",
            )?,
            source_cache_checkouts: gauge(
                "driftless_source_cache_checkouts",
                "Artifact trees checked out into the source cache.",
            )?,
            source_cache_ref_lists: gauge(
                "driftless_source_cache_ref_lists",
                "Ref advertisements asked of git remotes (one per poll).",
            )?,
            git_fetch_duration: histogram(
                "driftless_git_fetch_duration_seconds",
                "Duration of git fetches (ref advertisement, pack download and checkout).",
                &["kind"],
            )?,
            kustomize_build_duration: histogram(
                "driftless_kustomize_build_duration_seconds",
                "Duration of kustomize builds.",
                &["kind"],
            )?,
            apply_objects_total: counter(
                "driftless_apply_objects_total",
                "Objects handled by server-side apply and pruning, by action (created, configured, unchanged, pruned).",
                &["action"],
            )?,
            notification_deliveries_total: counter(
                "driftless_notification_deliveries_total",
                "Alert notifications by provider (<namespace>/<name>) and result (success, error, dropped, folded).",
                &["provider", "result"],
            )?,
            registry,
        };
        metrics.initialize_series();
        Ok(metrics)
    }

    /// Creates the series of every known kind, result and action at zero, so dashboards and
    /// alerts see them (and their HELP) before the first reconcile.
    fn initialize_series(&self) {
        for kind in KINDS {
            self.reconcile_duration.with_label_values(&[kind]);
            for result in ["success", "error"] {
                self.reconcile_total.with_label_values(&[kind, result]);
            }
        }
        self.git_fetch_duration
            .with_label_values(&["GitRepository"]);
        self.kustomize_build_duration
            .with_label_values(&["Kustomization"]);
        for action in ["created", "configured", "unchanged", "pruned"] {
            self.apply_objects_total.with_label_values(&[action]);
        }
    }

    /// Records one finished reconcile.
    pub fn observe_reconcile(&self, kind: &str, elapsed: Duration, ok: bool) {
        self.reconcile_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
        let result = if ok { "success" } else { "error" };
        self.reconcile_total
            .with_label_values(&[kind, result])
            .inc();
    }

    /// Sets the ready and suspended gauges of one object.
    pub fn set_object_state(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        ready: Option<bool>,
        suspended: bool,
    ) {
        let value = match ready {
            Some(true) => 1,
            Some(false) => 0,
            None => -1,
        };
        self.resource_ready
            .with_label_values(&[kind, namespace, name])
            .set(value);
        self.resource_suspended
            .with_label_values(&[kind, namespace, name])
            .set(i64::from(suspended));
    }

    /// Drops the per-object gauges of a deleted object.
    pub fn forget_object(&self, kind: &str, namespace: &str, name: &str) {
        let _ = self
            .resource_ready
            .remove_label_values(&[kind, namespace, name]);
        let _ = self
            .resource_suspended
            .remove_label_values(&[kind, namespace, name]);
    }

    /// Renders the registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_every_design_metric_with_help() {
        let m = Metrics::new().unwrap();
        m.observe_reconcile("Kustomization", Duration::from_millis(20), true);
        m.set_object_state("Kustomization", "apps", "web", Some(false), true);
        m.apply_objects_total
            .with_label_values(&["created"])
            .inc_by(3);
        m.git_fetch_duration
            .with_label_values(&["GitRepository"])
            .observe(0.1);
        m.notification_deliveries_total
            .with_label_values(&["apps/slack", "success"])
            .inc();
        m.kustomize_build_duration
            .with_label_values(&["Kustomization"])
            .observe(0.1);
        let text = m.render();
        for name in [
            "driftless_reconcile_duration_seconds",
            "driftless_reconcile_total",
            "driftless_resource_ready",
            "driftless_resource_suspended",
            "driftless_source_cache_hits",
            "driftless_source_cache_misses",
            "driftless_source_cache_bytes",
            "driftless_git_fetch_duration_seconds",
            "driftless_kustomize_build_duration_seconds",
            "driftless_apply_objects_total",
            "driftless_notification_deliveries_total",
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} missing:\n{text}"
            );
        }
        assert!(
            text.contains(r#"driftless_reconcile_total{kind="Kustomization",result="success"} 1"#)
        );
        assert!(text.contains(
            r#"driftless_resource_ready{kind="Kustomization",name="web",namespace="apps"} 0"#
        ));
        assert!(text.contains(r#"driftless_apply_objects_total{action="created"} 3"#));
        m.forget_object("Kustomization", "apps", "web");
        assert!(!m.render().contains(r#"name="web""#));
    }
}
