@testable import Coordinator
import Testing

@Suite("Staking ledger: balances derived from events")
struct StakeBalanceTests {
    /// Random valid histories (and some invalid attempts, which must change nothing).
    @Test("balances always equal the sum of the events, whatever the history", arguments: 1...20)
    func balancesAddUp(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var balance = StakeBalance(unbondingDelay: 100)
        var events: [LedgerEvent] = []
        var time: Int64 = 0
        for _ in 0..<300 {
            time += Int64.random(in: 0...40, using: &random)
            let kind = LedgerEvent.Kind.allCases.randomElement(using: &random)!
            let event = LedgerEvent(node: "n", kind: kind, amount: Int64.random(in: 1...1_000, using: &random), reason: "test", at: time)
            let before = balance
            do {
                try balance.apply(event)
                events.append(event)
            } catch {
                #expect(balance == before, "a refused \(kind.rawValue) changed the balance")
            }
        }
        // Replaying the accepted events gives the same balance.
        #expect(try StakeBalance.replay(events, unbondingDelay: 100) == balance)
        let sum = { (kind: LedgerEvent.Kind) in events.filter { $0.kind == kind }.reduce(Int64(0)) { $0 + $1.amount } }
        #expect(balance.deposited == sum(.deposit))
        #expect(balance.slashed == sum(.slash))
        #expect(balance.deposited == balance.available + balance.bonded + balance.unbonding + balance.slashed)
        #expect(balance.available == sum(.deposit) - sum(.bond) + sum(.release))
        #expect(balance.available >= 0 && balance.bonded >= 0 && balance.unbonding >= 0)
    }

    @Test("each rule refuses with the reason")
    func rules() throws {
        var balance = StakeBalance(unbondingDelay: 10)
        func event(_ kind: LedgerEvent.Kind, _ amount: Int64, at: Int64 = 0) -> LedgerEvent {
            LedgerEvent(node: "n", kind: kind, amount: amount, reason: "t", at: at)
        }
        #expect { try balance.apply(event(.bond, 1)) } throws: { "\($0)".contains("0 available") }
        try balance.apply(event(.deposit, 100))
        try balance.apply(event(.bond, 80))
        #expect { try balance.apply(event(.unbond, 81)) } throws: { "\($0)".contains("80 bonded") }
        try balance.apply(event(.unbond, 30, at: 5))
        #expect { try balance.apply(event(.release, 30, at: 14)) } throws: { "\($0)".contains("0 has finished unbonding") }
        try balance.apply(event(.release, 30, at: 15))
        #expect(balance.available == 50 && balance.bonded == 50)
        try balance.apply(event(.unbond, 20, at: 20))
        try balance.apply(event(.slash, 40, at: 21))  // 30 from bonded, 10 from unbonding
        #expect(balance.bonded == 0 && balance.unbonding == 10 && balance.slashed == 40)
        #expect { try balance.apply(event(.slash, 11)) } throws: { "\($0)".contains("10 is staked") }
        #expect { try balance.apply(event(.deposit, 0)) } throws: { "\($0)".contains("positive") }
    }
}
