// The token claims' fuzz target (Tools/fuzz-claims builds and runs it with libFuzzer).
//
// Built with -DFUZZING and -sanitize=fuzzer it is libFuzzer's LLVMFuzzerTestOneInput:
// every input is signed as a token's payload and verified as a user token and a
// service credential, at several instants; nothing may trap. Built normally it
// replays files given as arguments, so that a saved crash can be re-run.
import SoukAuth

func exercise(_ bytes: [UInt8]) {
    SoukAuthFuzzing.verifySigned(payload: bytes)
}

#if FUZZING
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClaims(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    exercise(size == 0 ? [] : Array(UnsafeBufferPointer(start: data!, count: size)))
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main`; hand over to libFuzzer's driver.
typealias FuzzerRunDriver = @convention(c) (
    UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("souk_fuzz_claims_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    guard let symbol = dlsym(nil, "LLVMFuzzerRunDriver") else {
        fatalError("libFuzzer's LLVMFuzzerRunDriver is missing: build with -sanitize=fuzzer")
    }
    var count = argc
    var arguments = argv
    return unsafeBitCast(symbol, to: FuzzerRunDriver.self)(&count, &arguments, fuzzClaims)
}
#else
import Foundation

@main
struct ReplayInputs {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            exercise([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
            print("ok \(path)")
        }
    }
}
#endif
