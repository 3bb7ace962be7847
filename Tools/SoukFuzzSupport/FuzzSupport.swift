// What every libFuzzer target of the project shares (Tools/fuzz-frames, Tools/fuzz-claims):
// handing the executable's entry point to libFuzzer's driver, and replaying saved inputs
// in a normal build.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// libFuzzer's per-input callback.
public typealias FuzzTestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// The bytes of one fuzz input, as an array.
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    size == 0 ? [] : Array(UnsafeBufferPointer(start: data!, count: size))
}

/// Runs libFuzzer's driver (linked in with -sanitize=fuzzer) with the process's arguments.
/// SwiftPM links an executable's entry point as `<module>_main`, so each target's own
/// `@_cdecl` entry calls this.
public func runLibFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                         _ testOneInput: FuzzTestOneInput) -> CInt {
    typealias FuzzerRunDriver = @convention(c) (
        UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        FuzzTestOneInput) -> CInt
    guard let symbol = dlsym(nil, "LLVMFuzzerRunDriver") else {
        fatalError("libFuzzer's LLVMFuzzerRunDriver is missing: build with -sanitize=fuzzer")
    }
    var count = argc
    var arguments = argv
    return unsafeBitCast(symbol, to: FuzzerRunDriver.self)(&count, &arguments, testOneInput)
}

/// Feeds each file named on the command line to `exercise`, so that a saved crash can be
/// replayed under a debugger.
public func replayInputs(_ exercise: ([UInt8]) -> Void) throws {
    for path in CommandLine.arguments.dropFirst() {
        exercise([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        print("ok \(path)")
    }
}
