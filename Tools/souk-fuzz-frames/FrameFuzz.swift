// The frame decoder's fuzz target (Tools/fuzz-frames builds and runs it with libFuzzer).
//
// Built with -DFUZZING and -sanitize=fuzzer it is libFuzzer's LLVMFuzzerTestOneInput:
// every input goes through the decoder whole (with and without a preface) and byte
// by byte, and both must agree. Built normally it replays files given as arguments,
// so a crash libFuzzer saved can be re-run under a debugger.
import SoukFuzzSupport
import SoukRPC

/// Decodes one input every way the decoder can be fed; traps when the ways disagree.
func exercise(_ bytes: [UInt8]) {
    let limits = FrameLimits(maxFrameLength: 1 << 16)
    let whole = SoukRPCFraming.decodeAll(bytes, limits: limits)
    let byByte = SoukRPCFraming.decodeByteAtATime(bytes, limits: limits)
    precondition(whole == byByte, "the decoder's result depends on how the bytes arrive")
    _ = SoukRPCFraming.decodeAll(bytes, limits: limits, expectPreface: true)
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    exercise(fuzzInput(data, size))
    return 0
}

@_cdecl("souk_fuzz_frames_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzFrames)
}
#else
@main
struct ReplayInputs {
    static func main() throws { try replayInputs(exercise) }
}
#endif
