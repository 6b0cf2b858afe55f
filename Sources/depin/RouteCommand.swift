import ArgumentParser
import DePINProtocol
import Foundation

/// `depin route`: the routing look-up from the command line.
struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route", abstract: "Ask a coordinator for the nearest edges for a title.")

    @Option(name: .long, help: "Coordinator URL, such as http://127.0.0.1:8080.") var coordinator: String
    @Option(name: .long, help: "Content id.") var content: String
    @Option(name: .long, help: "Viewer latitude.") var lat: Double?
    @Option(name: .long, help: "Viewer longitude.") var lon: Double?
    @Option(name: .long, help: "Viewer region name (instead of --lat/--lon; with neither, the coordinator places you by your address).") var region: String?
    @Option(name: .long, help: "Edges to return.") var limit = 5

    func run() async throws {
        var components = URLComponents(string: coordinator.hasSuffix("/") ? String(coordinator.dropLast()) + "/v1/route" : coordinator + "/v1/route")
        var items = [URLQueryItem(name: "content", value: content), URLQueryItem(name: "limit", value: String(limit))]
        if let lat, let lon {
            items += [URLQueryItem(name: "lat", value: String(lat)), URLQueryItem(name: "lon", value: String(lon))]
        } else if let region {
            items.append(URLQueryItem(name: "region", value: region))
        } else if lat != nil || lon != nil {
            throw ValidationError("give both --lat and --lon")
        }
        // Neither: the coordinator places this machine by its address (--geo-prefixes).
        components?.queryItems = items
        guard let url = components?.url else { throw ValidationError("--coordinator must be a URL") }
        let result = try await RouteClient.get(url)
        guard result.status == 200 else {
            FileHandle.standardError.write(Data("route: \(result.status): \(String(decoding: result.body, as: UTF8.self))\n".utf8))
            throw ExitCode(1)
        }
        let answer = try JSONDecoder().decode(RouteAnswer.self, from: result.body)
        if answer.edges.isEmpty { print("no eligible edge for \(answer.content)") }
        for (rank, edge) in answer.edges.enumerated() {
            print(String(format: "%d. %@  %@  %.1f km", rank + 1, edge.id, edge.url, edge.distanceKilometres))
        }
    }
}
