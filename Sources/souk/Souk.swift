import ArgumentParser
import SoukCLI

/// The `souk` executable: the commands live in SoukCLI, where tests can run them.
@main
struct Souk: AsyncParsableCommand {
    static let configuration = SoukCommand.configuration
}
