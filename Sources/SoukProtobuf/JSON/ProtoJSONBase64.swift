/// Base64 for proto3 `bytes` fields, without Foundation.
enum ProtoJSONBase64 {
  static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

  /// Maps both the standard and the URL-safe alphabet to 6-bit values; 0xFF marks anything else.
  static let decodeTable: [UInt8] = {
    var table = [UInt8](repeating: 0xFF, count: 256)
    alphabet.withUTF8Buffer { letters in
      for (value, letter) in letters.enumerated() { table[Int(letter)] = UInt8(value) }
    }
    table[Int(UInt8(ascii: "-"))] = 62
    table[Int(UInt8(ascii: "_"))] = 63
    return table
  }()

  /// Standard alphabet, with padding.
  static func encode(_ data: [UInt8], into out: inout [UInt8]) {
    out.reserveCapacity(out.count + (data.count + 2) / 3 * 4)
    alphabet.withUTF8Buffer { letters in
      data.withUnsafeBufferPointer { input in
        var position = 0
        while input.count - position >= 3 {
          let chunk = UInt32(input[position]) << 16 | UInt32(input[position + 1]) << 8 | UInt32(input[position + 2])
          out.append(letters[Int(chunk >> 18)])
          out.append(letters[Int(chunk >> 12 & 0x3F)])
          out.append(letters[Int(chunk >> 6 & 0x3F)])
          out.append(letters[Int(chunk & 0x3F)])
          position += 3
        }
        switch input.count - position {
        case 1:
          let chunk = UInt32(input[position]) << 16
          out.append(letters[Int(chunk >> 18)])
          out.append(letters[Int(chunk >> 12 & 0x3F)])
          out.append(0x3D)
          out.append(0x3D)
        case 2:
          let chunk = UInt32(input[position]) << 16 | UInt32(input[position + 1]) << 8
          out.append(letters[Int(chunk >> 18)])
          out.append(letters[Int(chunk >> 12 & 0x3F)])
          out.append(letters[Int(chunk >> 6 & 0x3F)])
          out.append(0x3D)
        default:
          break
        }
      }
    }
  }

  /// Accepts either alphabet (even mixed, as other proto3 runtimes do), padding optional but correct if present.
  /// Returns nil for anything else, including whitespace.
  static func decode(_ text: String) -> [UInt8]? {
    var text = text
    return text.withUTF8 { input -> [UInt8]? in
      var length = input.count
      var padding = 0
      while length > 0 && padding < 2 && input[length - 1] == 0x3D {
        length -= 1
        padding += 1
      }
      if padding > 0 && (length + padding) % 4 != 0 { return nil }
      if length % 4 == 1 { return nil }
      var out: [UInt8] = []
      out.reserveCapacity(length / 4 * 3 + 2)
      return decodeTable.withUnsafeBufferPointer { table -> [UInt8]? in
        var position = 0
        while length - position >= 4 {
          let a = table[Int(input[position])], b = table[Int(input[position + 1])]
          let c = table[Int(input[position + 2])], d = table[Int(input[position + 3])]
          if (a | b | c | d) & 0xC0 != 0 { return nil }
          let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
          out.append(UInt8(truncatingIfNeeded: chunk >> 16))
          out.append(UInt8(truncatingIfNeeded: chunk >> 8))
          out.append(UInt8(truncatingIfNeeded: chunk))
          position += 4
        }
        switch length - position {
        case 2:
          let a = table[Int(input[position])], b = table[Int(input[position + 1])]
          if (a | b) & 0xC0 != 0 { return nil }
          out.append(a << 2 | b >> 4)
        case 3:
          let a = table[Int(input[position])], b = table[Int(input[position + 1])]
          let c = table[Int(input[position + 2])]
          if (a | b | c) & 0xC0 != 0 { return nil }
          out.append(a << 2 | b >> 4)
          out.append(b << 4 | c >> 2)
        default:
          break
        }
        return out
      }
    }
  }
}

/// Bytes that generated code carries as base64 text (the contracts' descriptors): decoded
/// once, when first asked for. Line breaks in the text are ignored.
public enum EmbeddedBytes {
    public static func base64(_ text: String) -> [UInt8] {
        guard let bytes = ProtoJSONBase64.decode(String(text.filter { $0 != "\n" })) else {
            preconditionFailure("embedded base64 text is malformed: regenerate it with Tools/generate")
        }
        return bytes
    }
}
