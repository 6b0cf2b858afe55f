import DePINProtocol
import Foundation

/// Revenue that feeds an epoch's pool, in base units, before the configured share is taken.
package struct RevenueEntry: Sendable, Equatable {
    package enum Source: String, Sendable, CaseIterable {
        case subscriptions, ads, purchases
        /// Token transaction fees.
        case tokenFees = "token_fees"
    }
    package var sequence: Int64?
    package var epoch: Int64
    package var source: Source
    package var amount: Int64
    package var reason: String
    package var at: Int64

    package init(sequence: Int64? = nil, epoch: Int64, source: Source, amount: Int64, reason: String, at: Int64) {
        self.sequence = sequence
        self.epoch = epoch
        self.source = source
        self.amount = amount
        self.reason = reason
        self.at = at
    }
}

/// A settled epoch: its pool, what rounding carried on, and the published report (JSON).
package struct EpochRecord: Sendable, Equatable {
    package var epoch: Int64
    package var pool: Int64
    package var carry: Int64
    package var settledAt: Int64
    package var report: String

    package init(epoch: Int64, pool: Int64, carry: Int64, settledAt: Int64, report: String) {
        self.epoch = epoch
        self.pool = pool
        self.carry = carry
        self.settledAt = settledAt
        self.report = report
    }
}
