import SoukGatewayCommand

// The REST bridge as a process of its own: `souk gateway` without the rest of `souk`.
do {
    try await GatewayCommand.parse().serve()
} catch {
    GatewayCommand.exit(withError: error)
}
