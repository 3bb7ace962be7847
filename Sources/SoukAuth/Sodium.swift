import CSodium

/// libsodium must be initialised once before use; `sodium_init` is idempotent and thread-safe.
enum Sodium {
    static let ready: Bool = sodium_init() >= 0

    static func ensureReady() {
        precondition(ready, "libsodium could not be initialised")
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        ensureReady()
        var bytes = [UInt8](repeating: 0, count: count)
        randombytes_buf(&bytes, count)
        return bytes
    }

    /// base64url without padding, as JWT wants.
    static func base64URL(_ bytes: [UInt8]) -> String {
        base64(bytes, variant: Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING))
    }

    /// Decodes base64url without padding; nil for anything else.
    static func fromBase64URL(_ text: Substring) -> [UInt8]? {
        fromBase64(text, variant: Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING))
    }

    /// Decodes standard base64 with padding; nil for anything else.
    static func fromBase64(_ text: Substring) -> [UInt8]? {
        fromBase64(text, variant: Int32(sodium_base64_VARIANT_ORIGINAL))
    }

    /// Standard base64 with padding, for key files.
    static func base64(_ bytes: [UInt8]) -> String {
        base64(bytes, variant: Int32(sodium_base64_VARIANT_ORIGINAL))
    }

    private static func base64(_ bytes: [UInt8], variant: Int32) -> String {
        ensureReady()
        let capacity = sodium_base64_encoded_len(bytes.count, variant)
        var output = [CChar](repeating: 0, count: capacity)
        bytes.withUnsafeBufferPointer { input in
            _ = sodium_bin2base64(&output, capacity, input.baseAddress, input.count, variant)
        }
        return output.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    private static func fromBase64(_ text: Substring, variant: Int32) -> [UInt8]? {
        ensureReady()
        let input = Array(text.utf8)
        if input.isEmpty { return [] }
        var output = [UInt8](repeating: 0, count: input.count * 3 / 4 + 3)
        var length = 0
        var end: UnsafePointer<CChar>? = nil
        let status = input.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                sodium_base642bin(&output, output.count, chars.baseAddress, chars.count, nil, &length, &end, variant)
            }
        }
        guard status == 0 else { return nil }
        // sodium_base642bin stops at the first invalid character; the whole input must be consumed.
        let consumed = input.withUnsafeBufferPointer { bytes in
            end.map { UnsafeRawPointer($0) - UnsafeRawPointer(bytes.baseAddress!) } ?? -1
        }
        guard consumed == input.count else { return nil }
        return Array(output[0..<length])
    }
}
