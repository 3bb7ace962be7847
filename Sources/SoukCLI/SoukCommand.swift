import ArgumentParser
import SoukGatewayCommand

/// `souk`: one command line for every part of the system.
public struct SoukCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "souk",
        abstract: "Souk: users, orders and payments services, and their tools.",
        subcommands: [DevCommand.self, UsersCommand.self, OrdersCommand.self, PaymentsCommand.self, GatewayCommand.self, CallCommand.self, MigrateCommand.self, KeysCommand.self])

    public init() {}
}
