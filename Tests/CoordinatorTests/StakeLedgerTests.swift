@testable import Coordinator
import DePINProtocol
import Foundation
import TestSupport
import Testing

@Suite("Stake ledger over a real store")
struct StakeLedgerTests {
    @Test("events the staking rules refuse write nothing; a node is slashed once, by no more than it bonded; a reload replays the store")
    func rules() async throws {
        let dir = TemporaryDirectory("ledger")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let ledger = StakeLedger(store: store)
        let node = NodeIdentity().id
        _ = try await ledger.record(LedgerEvent(node: node, kind: .deposit, amount: 1_000, reason: "deposit", at: 1))
        let bonded = try await ledger.record(LedgerEvent(node: node, kind: .bond, amount: 600, reason: "bond", at: 2))
        #expect(bonded.bonded == 600 && ledger.remembered(node) == bonded)

        await #expect { try await ledger.record(LedgerEvent(node: node, kind: .bond, amount: 500, reason: "more than is free", at: 3)) }
            throws: { ($0 as? RegistryError)?.code == .refused }
        await #expect { try await ledger.record(LedgerEvent(node: "not an id!", kind: .deposit, amount: 1, reason: "x", at: 3)) }
            throws: { ($0 as? RegistryError)?.code == .badRequest }
        await #expect { try await ledger.record(LedgerEvent(node: node, kind: .deposit, amount: 1, reason: "", at: 3)) }
            throws: { ($0 as? RegistryError)?.code == .badRequest }
        #expect(try await store.ledger(node: nil).count == 2)

        let amount = try await ledger.slashAmount(node, classStake: 10_000, fraction: 0.5)
        #expect(amount == 600, "no more than is bonded")
        _ = try await ledger.record(LedgerEvent(node: node, kind: .slash, amount: 600, reason: "failed challenges", evidence: "{}", at: 4))
        #expect(ledger.isSlashed(node))
        let again = try await ledger.slashAmount(node, classStake: 10_000, fraction: 0.5)
        #expect(again == nil, "slashed once")

        let fresh = StakeLedger(store: store)
        #expect(!fresh.isSlashed(node))
        try await fresh.reload()
        #expect(fresh.isSlashed(node) && fresh.remembered(node) == ledger.remembered(node))
        try await store.close()
    }
}
