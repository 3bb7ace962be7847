import Metrics
import Prometheus

/// The metrics of a whole process: one Prometheus registry behind swift-metrics, so that
/// whatever reports through swift-metrics (the RPC server's and clients' interceptors) and
/// what reports to the registry directly show up together on `/metrics`.
public enum ProcessMetrics {
    /// The registry, bootstrapping swift-metrics onto it the first time it is asked for
    /// (swift-metrics allows one bootstrap per process).
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
