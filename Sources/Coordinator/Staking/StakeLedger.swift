import DePINProtocol
import Foundation
import Synchronization

/// The staking ledger: deposits, bonds, unbonds, releases and slashes, appended to the store
/// only when the staking rules (``StakeBalance/apply(_:)``) allow them, with each node's balance
/// kept in memory for routing decisions.
///
/// The store is the truth (coordinators sharing a database each append to it):
/// ``balance(of:)`` replays a node's events from it; ``remembered(_:)`` is this coordinator's
/// view, current for what it wrote and read.
///
/// Thread-safe: one `Mutex` guards the balances.
package final class StakeLedger: Sendable {
    let store: any LedgerStore
    private let known = Mutex<[String: StakeBalance]>([:])

    package init(store: any LedgerStore) { self.store = store }

    /// Replays every event in the store.
    /// - Throws: ``StoreFailure/corrupt(_:)`` when an event breaks the staking rules.
    package func reload() async throws {
        var replayed: [String: StakeBalance] = [:]
        for event in try await store.ledger(node: nil) {
            do {
                try replayed[event.node, default: StakeBalance()].apply(event)
            } catch {
                throw StoreFailure.corrupt("ledger entry \(event.sequence ?? -1) for \(event.node): \(error)")
            }
        }
        known.withLock { $0 = replayed }
    }

    /// The node's balance from its events in the store, remembered.
    package func balance(of node: String) async throws -> StakeBalance {
        let balance: StakeBalance
        do {
            balance = try StakeBalance.replay(try await store.ledger(node: node))
        } catch let error as StakeError {
            throw StoreFailure.corrupt("the ledger of \(node) breaks the staking rules: \(error)")
        }
        known.withLock { $0[node] = balance }
        return balance
    }

    /// Every node's balance as this coordinator last knew it (for a pass over all nodes).
    package var balances: [String: StakeBalance] { known.withLock { $0 } }

    /// The node's balance as this coordinator last knew it (none: nothing staked).
    package func remembered(_ node: String) -> StakeBalance { known.withLock { $0[node] ?? StakeBalance() } }

    /// True when the node's stake has been slashed (as this coordinator knows the ledger).
    package func isSlashed(_ node: String) -> Bool { known.withLock { ($0[node]?.slashed ?? 0) > 0 } }

    /// Appends `event` if the staking rules allow it.
    /// - Returns: the node's new balance.
    /// - Throws: ``RegistryError`` (400 for a malformed event, 403 for one the rules refuse);
    ///   nothing is written then.
    package func record(_ event: LedgerEvent) async throws -> StakeBalance {
        guard Identifier.isValid(event.node) || event.node.count == 32 else { throw RegistryError.badRequest("node id '\(event.node.prefix(64))' is not valid") }
        guard !event.reason.isEmpty, event.reason.count <= 500 else { throw RegistryError.badRequest("a reason of 1 to 500 characters is required") }
        var balance = try await balance(of: event.node)
        do { try balance.apply(event) } catch { throw RegistryError.refused("\(error)") }
        _ = try await store.append(event)
        known.withLock { $0[event.node] = balance }
        return balance
    }

    /// What slashing `fraction` of a class's stake (`classStake`) takes from the node: no more
    /// than it has bonded, at least one base unit; nil when it has nothing bonded or was
    /// slashed before (a node is slashed once).
    package func slashAmount(_ node: String, classStake: Int64, fraction: Double) async throws -> Int64? {
        guard !isSlashed(node) else { return nil }
        let bonded = try await balance(of: node).bonded
        guard bonded > 0 else { return nil }
        return min(bonded, max(1, Int64(Double(classStake) * fraction)))
    }
}
