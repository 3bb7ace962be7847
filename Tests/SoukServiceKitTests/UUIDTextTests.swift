import Foundation
import SoukServiceKit
import Testing

@Suite("UUIDs as Souk's contracts write them")
struct UUIDTextTests {
    @Test("the lower-case text reads back, and agrees with Foundation's", arguments: 0..<200)
    func roundTrip(_: Int) throws {
        let id = UUID()
        #expect(id.lowercasedText == id.uuidString.lowercased())
        #expect(UUID(text: id.lowercasedText) == id)
        #expect(UUID(text: id.uuidString) == id)
    }

    @Test("anything but 8-4-4-4-12 hex digits is no UUID",
          arguments: ["", "nope", "0b6d1f9e3c2a4e8b9f576a1d2c3e4f50", "0b6d1f9e-3c2a-4e8b-9f57-6a1d2c3e4f5",
                      "0b6d1f9e-3c2a-4e8b-9f57-6a1d2c3e4f500", "0b6d1f9e_3c2a-4e8b-9f57-6a1d2c3e4f50",
                      "0b6d1f9g-3c2a-4e8b-9f57-6a1d2c3e4f50", "{0b6d1f9e-3c2a-4e8b-9f57-6a1d2c3e4f5}",
                      "0b6d1f9é-3c2a-4e8b-9f57-6a1d2c3e4f5", "'; DROP TABLE orders; --xxxxxxxxxxxx"])
    func refused(text: String) {
        #expect(UUID(text: text) == nil)
        #expect(UUID(uuidString: text) == nil, "Foundation agrees")
    }
}
