// The token claims' fuzz target (Tools/fuzz-claims builds and runs it with libFuzzer).
//
// Built with -DFUZZING and -sanitize=fuzzer it is libFuzzer's LLVMFuzzerTestOneInput:
// every input is signed as a token's payload and verified as a user token and a
// service credential, at several instants; nothing may trap. Built normally it
// replays files given as arguments, so that a saved crash can be re-run.
import SoukAuth
import SoukFuzzSupport

func exercise(_ bytes: [UInt8]) {
    SoukAuthFuzzing.verifySigned(payload: bytes)
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClaims(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    exercise(fuzzInput(data, size))
    return 0
}

@_cdecl("souk_fuzz_claims_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzClaims)
}
#else
@main
struct ReplayInputs {
    static func main() throws { try replayInputs(exercise) }
}
#endif
