import SoukRPCCore

/// Finds the route of a request path, as grpc-gateway matches `google.api.http` templates:
/// literal segments, `{field}` segments matching one path segment, and a `:verb` suffix on
/// the last segment (`/v1/orders/{order_id}:cancel`).
struct RouteMatcher: Sendable {
    /// What a path matched.
    enum Match {
        /// A route of this verb, its metrics label (`GET /v1/orders/{order_id}`), and its path
        /// variables' values.
        case route(HTTPRoute, label: String, pathParameters: [String: String])
        /// The path is served, but not with this verb: the verbs that are.
        case wrongVerb(allowed: [String])
        case none
    }

    /// A class: the matcher walks every template for every request, and a struct holding a
    /// route (strings, closures) would be copied, each of its references retained, at each step.
    private final class Template: Sendable {
        enum Segment: Sendable, Equatable {
            case literal(String)
            case variable(String)
        }

        let segments: [Segment]
        let customVerb: String?
        let route: HTTPRoute
        let label: String

        init(_ route: HTTPRoute) {
            self.route = route
            label = "\(route.verb.rawValue) \(route.pathTemplate)"
            var customVerb: String?
            var path = route.pathTemplate
            // A custom verb is a ':' after the last '/' outside braces.
            if let colon = path.lastIndex(of: ":"), let slash = path.lastIndex(of: "/"), colon > slash,
               !path[colon...].contains("}") {
                customVerb = String(path[path.index(after: colon)...])
                path = String(path[..<colon])
            }
            self.customVerb = customVerb
            segments = path.split(separator: "/", omittingEmptySubsequences: true).map { part in
                part.hasPrefix("{") && part.hasSuffix("}") ? .variable(String(part.dropFirst().dropLast())) : .literal(String(part))
            }
        }

        /// The variables' values when `path` (already split, verb apart) fits this template.
        func match(_ parts: [Substring], verb: String?) -> [String: String]? {
            guard parts.count == segments.count, verb == customVerb else { return nil }
            var values: [String: String] = [:]
            for (segment, part) in zip(segments, parts) {
                switch segment {
                case .literal(let literal):
                    // Bytes, as grpc-gateway compares them (and cheaper than comparing characters).
                    guard part.utf8.elementsEqual(literal.utf8) else { return nil }
                case .variable(let name):
                    guard !part.isEmpty, let decoded = String(part).removingPercentEncoding else { return nil }
                    values[name] = decoded
                }
            }
            return values
        }
    }

    /// The templates by their number of segments: a path is compared only with those of its length.
    private let templatesBySegmentCount: [[Template]]

    init(routes: [HTTPRoute]) {
        let templates = routes.map(Template.init)
        var bySegmentCount = [[Template]](repeating: [], count: (templates.map(\.segments.count).max() ?? 0) + 1)
        for template in templates { bySegmentCount[template.segments.count].append(template) }
        templatesBySegmentCount = bySegmentCount
    }

    /// The route for `method` on `path` (no query string).
    func match(method: String, path: String) -> Match {
        var body = Substring(path)
        var verb: String? = nil
        if let colon = body.lastIndex(of: ":"), !body[colon...].contains("/") {
            verb = String(body[body.index(after: colon)...])
            body = body[..<colon]
        }
        let parts = body.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count < templatesBySegmentCount.count else { return .none }
        var allowed: [String] = []
        for template in templatesBySegmentCount[parts.count] {
            guard let values = template.match(parts, verb: verb) else { continue }
            if template.route.verb.rawValue == method { return .route(template.route, label: template.label, pathParameters: values) }
            allowed.append(template.route.verb.rawValue)
        }
        return allowed.isEmpty ? .none : .wrongVerb(allowed: allowed)
    }
}

extension String {
    /// Percent-decoding of a path segment; nil when it is malformed or not UTF-8.
    var removingPercentEncoding: String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
