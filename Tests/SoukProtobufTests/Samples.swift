import SoukProtobuf
import TestContracts

/// Messages with every field set, for round-trip tests.
enum Samples {
    static let bytesWithNULs: [UInt8] = [0, 1, 0, 255, 0]
    static let unicode = "Grüße, 世界 — 🚀 \u{10FFFF} tab\there"

    static func scalarsAtMaximum() -> ScalarValues {
        var s = ScalarValues()
        s.doubleValue = .greatestFiniteMagnitude
        s.floatValue = .greatestFiniteMagnitude
        s.int32Value = .max
        s.int64Value = .max
        s.uint32Value = .max
        s.uint64Value = .max
        s.sint32Value = .max
        s.sint64Value = .max
        s.fixed32Value = .max
        s.fixed64Value = .max
        s.sfixed32Value = .max
        s.sfixed64Value = .max
        s.boolValue = true
        s.stringValue = unicode
        s.bytesValue = bytesWithNULs
        return s
    }

    static func scalarsAtMinimum() -> ScalarValues {
        var s = ScalarValues()
        s.doubleValue = -.greatestFiniteMagnitude
        s.floatValue = -.leastNonzeroMagnitude
        s.int32Value = .min
        s.int64Value = .min
        s.uint32Value = 1
        s.uint64Value = 1
        s.sint32Value = .min
        s.sint64Value = .min
        s.fixed32Value = 1
        s.fixed64Value = 1
        s.sfixed32Value = .min
        s.sfixed64Value = .min
        s.boolValue = true
        s.stringValue = "a"
        s.bytesValue = [0]
        return s
    }

    static func repeatedScalars(count: Int = 3) -> RepeatedScalarValues {
        var r = RepeatedScalarValues()
        r.doubleValues = (0..<count).map { Double($0) * 1.5 - 1 }
        r.floatValues = (0..<count).map { Float($0) / 4 }
        r.int32Values = (0..<count).map { Int32($0) - 1 }
        r.int64Values = (0..<count).map { Int64($0) * 1_000_000_000_000 - 1 }
        r.uint32Values = (0..<count).map { UInt32($0) + 7 }
        r.uint64Values = (0..<count).map { UInt64.max - UInt64($0) }
        r.sint32Values = (0..<count).map { -Int32($0) }
        r.sint64Values = (0..<count).map { -Int64($0) * 3 }
        r.fixed32Values = (0..<count).map { UInt32($0) }
        r.fixed64Values = (0..<count).map { UInt64($0) }
        r.sfixed32Values = (0..<count).map { Int32($0) - 2 }
        r.sfixed64Values = (0..<count).map { Int64($0) - 2 }
        r.boolValues = (0..<count).map { $0 % 2 == 0 }
        r.stringValues = (0..<count).map { "item \($0) \(unicode)" }
        r.bytesValues = (0..<count).map { [UInt8($0 % 256), 0, 7] }
        r.enumValues = (0..<count).map { [SignedEnum.one, .negative, .large, .unspecified][$0 % 4] }
        r.messageValues = (0..<count).map { index in
            var s = ScalarValues()
            s.int32Value = Int32(index)
            return s
        }
        r.unpackedInt32Values = (0..<count).map { Int32($0) * 3 }
        r.importedEnumValues = (0..<count).map { [ImportedEnum.alpha, .beta][$0 % 2] }
        return r
    }

    static func thing() -> Souk_Test_Other_V1_Thing {
        var inner = Souk_Test_Other_V1_Thing.Inner()
        inner.value = 42
        inner.state = .on
        var thing = Souk_Test_Other_V1_Thing()
        thing.id = "thing-1"
        thing.kind = .init(rawValue: 1)
        thing.inner = inner
        thing.inners = [inner, inner]
        thing.innerByName = ["first": inner]
        thing.importedKind = .beta
        return thing
    }

    static func imported(_ label: String = "imported") -> ImportedMessage {
        var m = ImportedMessage()
        m.label = label
        m.count = -5
        m.kind = .alpha
        return m
    }

    static func maps() -> MapValues {
        var m = MapValues()
        m.stringToInt32 = ["a": 1, "": -1]
        m.stringToInt64 = ["big": .max]
        m.stringToUint64 = ["max": .max]
        m.stringToDouble = ["pi": 3.25]
        m.stringToBool = ["yes": true, "no": false]
        m.stringToString = ["k": unicode]
        m.stringToBytes = ["nul": bytesWithNULs]
        m.stringToEnum = ["neg": .negative]
        m.stringToMessage = ["max": scalarsAtMaximum()]
        m.stringToImported = ["i": imported()]
        m.stringToImportedEnum = ["b": .beta]
        m.int32ToString = [-1: "minus one", 0: "zero"]
        m.int64ToString = [.min: "min"]
        m.uint32ToUint32 = [.max: 1]
        m.uint64ToString = [.max: "max"]
        m.sint32ToFloat = [-3: 0.5]
        m.sint64ToSint64 = [-9: 9]
        m.fixed32ToFixed32 = [1: 2]
        m.fixed64ToBytes = [3: [0, 0]]
        m.sfixed32ToSfixed32 = [-4: -4]
        m.sfixed64ToMessage = [-5: scalarsAtMinimum()]
        m.boolToString = [true: "t", false: "f"]
        m.boolToEnum = [true: .large]
        var level1 = Nesting.Level1()
        level1.level1Enum = .init(rawValue: 1)
        m.int32ToNested = [7: level1]
        return m
    }

    static func nesting() -> Nesting {
        var level2 = Nesting.Level1.Level2()
        level2.text = "deep"
        level2.level2Enum = .init(rawValue: 1)
        var level1 = Nesting.Level1()
        level1.level2 = level2
        level1.level2List = [level2, level2]
        level1.level1Enum = .init(rawValue: 1)
        var nesting = Nesting()
        nesting.level1 = level1
        nesting.directLevel2 = level2
        nesting.directLevel2Enum = .init(rawValue: 1)
        return nesting
    }

    static func everything() -> Everything {
        var e = Everything()
        e.scalars = scalarsAtMaximum()
        e.repeatedScalars = repeatedScalars()
        e.nesting = nesting()
        var oneofs = OneofValues()
        oneofs.before = "before"
        oneofs.between = 3
        oneofs.choice = .choiceMessage(scalarsAtMinimum())
        oneofs.otherChoice = .otherImportedEnum(.beta)
        e.oneofs = oneofs
        e.maps = maps()
        var names = NameMangling()
        names.snakeCaseName = "snake"
        names.default = "default"
        names.protocol = "protocol"
        names.`self` = "self"
        names.hashValue = 7
        e.names = names
        e.empty = EmptyMessage()
        e.imported = imported()
        e.importedList = [imported("one"), imported("two")]
        e.importedEnum = .beta
        e.thing = thing()
        e.thingInner = thing().inner
        e.thingKind = .init(rawValue: 1)
        e.thingInnerState = .off
        e.signedEnum = .negative
        e.keywordEnum = .init(rawValue: 1)
        e.deprecatedText = "still here"
        e.fieldOneThousand = 1000
        e.fieldMaxNumber = -1
        return e
    }
}
