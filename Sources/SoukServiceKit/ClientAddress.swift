import SoukRPCCore

/// The addresses whose `x-forwarded-for` a service believes: its own proxies (the gateway).
/// Behind the gateway every call comes from the gateway's address; the client's is the one the
/// gateway forwards. From anyone else the metadata is ignored, so no client can pose as another
/// address by sending it.
public struct TrustedProxies: Sendable, Equatable {
    /// IPv4 networks (address and prefix length) and exact IPv6 addresses.
    private var networks: [(address: UInt32, prefix: Int)] = []
    private var exact: Set<String> = []

    /// Loopback only (127.0.0.0/8 and ::1): a gateway on the same machine, as `souk dev` runs it.
    public static let loopback = try! TrustedProxies(parsing: "127.0.0.0/8,::1")

    /// None: every call's socket address is its client's.
    public static let none = TrustedProxies()

    private init() {}

    /// `10.0.0.0/8,192.168.1.7,::1`: IPv4 addresses or networks, IPv6 addresses, joined by commas.
    public init(parsing text: String) throws(TrustedProxiesError) {
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            if part.contains(":") {
                exact.insert(part.lowercased())
                continue
            }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(pieces.count), let address = Self.ipv4(pieces[0]) else { throw TrustedProxiesError(part: part) }
            let prefix = pieces.count == 2 ? Int(pieces[1]) : 32
            guard let prefix, (0...32).contains(prefix) else { throw TrustedProxiesError(part: part) }
            networks.append((address, prefix))
        }
    }

    /// Whether `address` (an IP, no port) is one of the proxies.
    public func trusts(_ address: Substring) -> Bool {
        if let value = Self.ipv4(address) {
            return networks.contains { network in
                let mask: UInt32 = network.prefix == 0 ? 0 : ~UInt32(0) << (32 - network.prefix)
                return value & mask == network.address & mask
            }
        }
        return exact.contains(address.lowercased())
    }

    /// The client's IP address of a call: its socket's, or, when that is a trusted proxy's, the
    /// last address in its `x-forwarded-for` (the one the proxy itself saw).
    public func clientAddress(of context: ServerContext) -> String {
        let peer = Self.host(of: context.peer)
        guard trusts(peer), let forwarded = context.metadata["x-forwarded-for"],
              let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty,
              last.utf8.count <= 64 else {
            return String(peer)
        }
        return last
    }

    /// `127.0.0.1:5301` → `127.0.0.1`, `[::1]:5301` → `::1`, `in-process` as it is.
    static func host(of peer: String) -> Substring {
        var address = Substring(peer)
        if let colon = address.lastIndex(of: ":"), address[address.index(after: colon)...].allSatisfy(\.isNumber),
           address.hasPrefix("[") || address.filter({ $0 == ":" }).count == 1 {
            address = address[..<colon]
        }
        if address.hasPrefix("["), address.hasSuffix("]") { address = address.dropFirst().dropLast() }
        return address
    }

    static func ipv4(_ text: Substring) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard (1...3).contains(octet.count), octet.utf8.allSatisfy({ (48...57).contains($0) }), let byte = UInt8(octet) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    public static func == (lhs: TrustedProxies, rhs: TrustedProxies) -> Bool {
        lhs.exact == rhs.exact && lhs.networks.elementsEqual(rhs.networks) { $0.address == $1.address && $0.prefix == $1.prefix }
    }
}

/// A part of a trusted-proxies list that is neither an IPv4 address or network nor an IPv6 address.
public struct TrustedProxiesError: Error, Sendable {
    public let part: String
}
