/// A node's stake, derived from its ledger events (never stored, so it cannot drift from them).
///
/// Rules: a deposit adds to `available`; a bond moves available to `bonded`; an unbond moves
/// bonded into `unbonding`, released after ``unbondingDelay``; a release moves matured
/// unbonding back to available; a slash takes from bonded, then from unbonding (newest
/// first), and is gone. Always: `deposited == available + bonded + unbonding + slashed`.
package struct StakeBalance: Sendable, Equatable {
    package private(set) var deposited: Int64 = 0
    package private(set) var available: Int64 = 0
    package private(set) var bonded: Int64 = 0
    package private(set) var slashed: Int64 = 0
    /// Unbonding amounts and when each may be released, oldest first.
    package private(set) var unbondingEntries: [(amount: Int64, releaseAt: Int64)] = []

    package var unbonding: Int64 { unbondingEntries.reduce(0) { $0 + $1.amount } }

    package static func == (a: StakeBalance, b: StakeBalance) -> Bool {
        a.deposited == b.deposited && a.available == b.available && a.bonded == b.bonded && a.slashed == b.slashed
            && a.unbondingEntries.map(\.amount) == b.unbondingEntries.map(\.amount)
            && a.unbondingEntries.map(\.releaseAt) == b.unbondingEntries.map(\.releaseAt)
    }

    /// Seconds between an unbond and its release (the chain's usual week by default).
    package let unbondingDelay: Int64

    package init(unbondingDelay: Int64 = 7 * 86_400) { self.unbondingDelay = unbondingDelay }

    /// The balance after `events`, in order.
    /// - Throws: ``StakeError`` at the first event the rules forbid (a corrupt ledger).
    package static func replay(_ events: [LedgerEvent], unbondingDelay: Int64 = 7 * 86_400) throws -> StakeBalance {
        var balance = StakeBalance(unbondingDelay: unbondingDelay)
        for event in events { try balance.apply(event) }
        return balance
    }

    /// Matured unbonding at `time`.
    package func releasable(at time: Int64) -> Int64 {
        unbondingEntries.filter { $0.releaseAt <= time }.reduce(0) { $0 + $1.amount }
    }

    /// Applies one event, or says why it cannot be applied (nothing changes then).
    package mutating func apply(_ event: LedgerEvent) throws {
        guard event.amount > 0 else { throw StakeError("\(event.kind.rawValue) of \(event.amount): amounts are positive") }
        let amount = event.amount
        switch event.kind {
        case .deposit:
            let (total, overflow) = deposited.addingReportingOverflow(amount)
            guard !overflow else { throw StakeError("deposit of \(amount) overflows the balance") }
            deposited = total
            available += amount
        case .bond:
            guard available >= amount else { throw StakeError("cannot bond \(amount): \(available) available") }
            available -= amount
            bonded += amount
        case .unbond:
            guard bonded >= amount else { throw StakeError("cannot unbond \(amount): \(bonded) bonded") }
            bonded -= amount
            unbondingEntries.append((amount, event.at + unbondingDelay))
        case .release:
            guard releasable(at: event.at) >= amount else {
                throw StakeError("cannot release \(amount): \(releasable(at: event.at)) has finished unbonding")
            }
            var left = amount
            var index = 0
            while left > 0 {
                if unbondingEntries[index].releaseAt <= event.at {
                    let take = min(left, unbondingEntries[index].amount)
                    unbondingEntries[index].amount -= take
                    left -= take
                }
                index += 1
            }
            unbondingEntries.removeAll { $0.amount == 0 }
            available += amount
        case .slash:
            guard bonded + unbonding >= amount else {
                throw StakeError("cannot slash \(amount): \(bonded + unbonding) is staked")
            }
            let fromBonded = min(bonded, amount)
            bonded -= fromBonded
            var left = amount - fromBonded
            var index = unbondingEntries.count - 1
            while left > 0 {
                let take = min(left, unbondingEntries[index].amount)
                unbondingEntries[index].amount -= take
                left -= take
                index -= 1
            }
            unbondingEntries.removeAll { $0.amount == 0 }
            slashed += amount
        }
        assert(deposited == available + bonded + unbonding + slashed, "StakeBalance: \(self) does not add up")
    }
}

/// An event the staking rules do not allow.
package struct StakeError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
