import Prometheus
import Synchronization

/// The gateway's metrics, their collectors made once per label set and kept: asking the
/// registry on every request costs a lock, a name built from its parts and a lookup.
final class GatewayMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[String: Counter]>([:])
    private let histograms = Mutex<[String: DurationHistogram]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// One answered request: its route template (or document path) and status, and its time.
    func request(route: String, status: Int, duration: Duration) {
        counter("requests|\(route)|\(status)") {
            $0.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", String(status))])
        }.increment()
        let histogram = histograms.withLock { histograms in
            if let known = histograms[route] { return known }
            let made = registry.makeDurationHistogram(descriptor: Self.latency, labels: [("route", route)], buckets: Self.buckets)
            histograms[route] = made
            return made
        }
        histogram.record(duration)
    }

    /// One call to a service, by its outcome's code name.
    func call(service: String, method: String, code: String) {
        counter("calls|\(service)|\(method)|\(code)") {
            $0.makeCounter(descriptor: Self.calls, labels: [("service", service), ("method", method), ("code", code)])
        }.increment()
    }

    private func counter(_ key: String, _ make: (PrometheusCollectorRegistry) -> Counter) -> Counter {
        counters.withLock { counters in
            if let known = counters[key] { return known }
            let made = make(registry)
            counters[key] = made
            return made
        }
    }

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "souk_gateway", metricName: "requests", unitName: "total",
                             helpText: "HTTP requests answered, by route template and status.")
    }
    static var latency: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "souk_gateway", metricName: "request_duration", unitName: "seconds",
                             helpText: "Time from a request's head to its answer, by route template.")
    }
    static var calls: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "souk_gateway", metricName: "service_calls", unitName: "total",
                             helpText: "Calls made to the services, by service, method and status code.")
    }
    static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(10),
    ]
}
