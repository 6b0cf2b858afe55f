import Testing

@testable import ServerGuards

@Suite("Connection budget")
struct ConnectionBudgetTests {
    @Test("admits up to its limit, refuses past it, and admits again once a place is given back")
    func admitsToItsLimit() {
        let budget = ConnectionBudget(limit: 2)
        #expect(budget.admit())
        #expect(budget.admit())
        #expect(!budget.admit())
        #expect(budget.current == 2)
        budget.release()
        #expect(budget.admit())
    }

    @Test("half of the descriptors less a reserve of 128 go to connections, never fewer than 16")
    func derivedFromDescriptors() {
        #expect(ConnectionBudget(descriptors: 1024).limit == 448)
        #expect(ConnectionBudget(descriptors: 256).limit == 64)
        #expect(ConnectionBudget(descriptors: 100).limit == 16)
    }

    @Test("refusals are reported at most once every 10 s")
    func refusalsReportedSparingly() {
        let budget = ConnectionBudget(limit: 1)
        let start = ContinuousClock.now
        #expect(budget.shouldReportRefusal(now: start))
        #expect(!budget.shouldReportRefusal(now: start + .seconds(1)))
        #expect(!budget.shouldReportRefusal(now: start + .seconds(9)))
        #expect(budget.shouldReportRefusal(now: start + .seconds(11)))
        #expect(!budget.shouldReportRefusal(now: start + .seconds(12)))
    }
}
