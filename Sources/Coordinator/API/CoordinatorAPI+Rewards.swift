import DePINProtocol
import Foundation
import Hummingbird

extension CoordinatorAPI {
    /// Revenue and what it paid:
    ///
    /// - `POST /v1/admin/revenue` (admin): revenue for an epoch (subscriptions, ads, purchases,
    ///   token fees).
    /// - `GET /v1/epochs`, `GET /v1/epochs/{n}` (the whole settlement) and
    ///   `GET /v1/epochs/{n}/miners/{id}` (one payout and every input behind it).
    func rewardRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        routes.group("v1/admin/revenue").add(middleware: admin).post { request, context in
            let entry: RevenueRequest = try await Self.decode(request)
            guard let source = RevenueEntry.Source(rawValue: entry.source) else {
                throw APIError(.badRequest, "source '\(entry.source.prefix(40))' is not subscriptions, ads, purchases or token_fees")
            }
            guard entry.amount > 0 else { throw APIError(.badRequest, "amount must be a positive number of base units") }
            guard !entry.reason.isEmpty, entry.reason.count <= 500 else { throw APIError(.badRequest, "a reason of 1 to 500 characters is required") }
            let time = Int64(Date().timeIntervalSince1970)
            let current = epochs.epoch(at: time)
            let epoch = entry.epoch ?? current
            guard epoch >= current - 1000, epoch <= current else { throw APIError(.badRequest, "epoch \(epoch) is not a current or recent epoch (now \(current))") }
            do {
                let stored = try await store.addRevenue(RevenueEntry(epoch: epoch, source: source, amount: entry.amount, reason: entry.reason, at: time))
                return try Self.json(["epoch": String(stored.epoch), "source": source.rawValue, "amount": String(stored.amount)], status: .created)
            } catch let failure as StoreFailure where failure.code == .duplicate {
                throw APIError(.conflict, failure.message)
            }
        }
        routes.get("v1/epochs") { request, context in
            let list = try await epochSummaries(limit: 100)
            return try Self.encode(["epochs": list])
        }
        routes.get("v1/epochs/:epoch") { request, context in
            let record = try await settledEpoch(context.parameters.get("epoch"))
            return Self.json(record.report)
        }
        routes.get("v1/epochs/:epoch/miners/:miner") { request, context in
            let record = try await settledEpoch(context.parameters.get("epoch"))
            let miner = context.parameters.get("miner") ?? ""
            guard let report = try? JSONDecoder().decode(EpochReport.self, from: Data(record.report.utf8)) else {
                throw StoreFailure.corrupt("the report of epoch \(record.epoch) does not decode")
            }
            guard let explanation = report.explanation(of: miner) else {
                throw APIError(.notFound, "miner \(miner.prefix(64)) did no measured work in epoch \(record.epoch)")
            }
            return try Self.encode(explanation)
        }
        return routes
    }

    private func settledEpoch(_ text: String?) async throws -> EpochRecord {
        guard let text, let number = Int64(text) else { throw APIError(.badRequest, "an epoch is a whole number") }
        guard let record = try await store.epoch(number) else { throw APIError(.notFound, "epoch \(number) is not settled") }
        return record
    }
}
