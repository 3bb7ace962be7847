import SoukRPCCore
import SoukServiceKit
import Testing

@Suite("Trusted proxies: whose x-forwarded-for names the client of a call")
struct TrustedProxiesTests {
    func context(peer: String, forwardedFor: String?) -> ServerContext {
        var metadata = Metadata()
        if let forwardedFor { metadata.append("x-forwarded-for", forwardedFor) }
        return ServerContext(method: MethodDescriptor(service: "s.S", method: "M", inputType: "", outputType: ""),
                             metadata: metadata, peer: peer)
    }

    @Test("from a trusted proxy, the last x-forwarded-for address is the client; without one, the proxy itself")
    func fromAProxy() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.7,::1")
        #expect(proxies.clientAddress(of: context(peer: "10.1.2.3:5000", forwardedFor: "203.0.113.7")) == "203.0.113.7")
        #expect(proxies.clientAddress(of: context(peer: "192.168.1.7:5000", forwardedFor: "1.1.1.1, 203.0.113.8")) == "203.0.113.8")
        #expect(proxies.clientAddress(of: context(peer: "[::1]:5000", forwardedFor: "2001:db8::1")) == "2001:db8::1")
        #expect(proxies.clientAddress(of: context(peer: "10.1.2.3:5000", forwardedFor: nil)) == "10.1.2.3")
    }

    @Test("from anyone else, x-forwarded-for is ignored: the socket's address is the client")
    func fromAnyoneElse() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8")
        #expect(proxies.clientAddress(of: context(peer: "11.0.0.1:5000", forwardedFor: "203.0.113.7")) == "11.0.0.1")
        #expect(proxies.clientAddress(of: context(peer: "192.168.1.8:1", forwardedFor: "203.0.113.7")) == "192.168.1.8")
        #expect(TrustedProxies.none.clientAddress(of: context(peer: "127.0.0.1:1", forwardedFor: "203.0.113.7")) == "127.0.0.1")
        #expect(TrustedProxies.loopback.clientAddress(of: context(peer: "in-process", forwardedFor: "203.0.113.7")) == "in-process")
    }

    @Test("loopback is trusted by default: a gateway on the same machine")
    func loopback() {
        #expect(TrustedProxies.loopback.trusts("127.0.0.1") && TrustedProxies.loopback.trusts("127.9.9.9"))
        #expect(TrustedProxies.loopback.trusts("::1") && !TrustedProxies.loopback.trusts("128.0.0.1"))
    }

    @Test("a list part that is no address is refused, named", arguments: ["10.0.0.0/33", "10.0.0", "300.1.1.1", "gateway", "10.0.0.1/x"])
    func refused(part: String) {
        #expect(throws: TrustedProxiesError.self) { _ = try TrustedProxies(parsing: "127.0.0.1,\(part)") }
        do {
            _ = try TrustedProxies(parsing: part)
        } catch {
            #expect(error.part == part)
        }
    }
}
