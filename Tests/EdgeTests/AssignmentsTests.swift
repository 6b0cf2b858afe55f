import DePINProtocol
import Synchronization
import Testing

@testable import Edge

@Suite("assignments: where an edge fills each title from")
struct AssignmentsTests {
    @Test("sources are asked of the coordinator again once older than the age a caller allows (a streaming title's tiers change), at most once per refresh interval; fresh ones are used as they are")
    func refreshedWhenOld() async throws {
        let assignments = Assignments()
        let polls = Mutex(0)
        let hosts = Mutex(["https://paris"])
        assignments.setRefresher {
            let count = polls.withLock { $0 += 1; return $0 }
            let urls = hosts.withLock { $0 }
            assignments.apply(
                TaskPollAnswer(cursor: Int64(count), tasks: [AssignedTask(content: "show", kind: AssignedTask.Kinds.delivery, sources: urls, token: "t")])
            ) { _ in false }
        }
        // Nothing known: asked once.
        #expect(await assignments.sources(refreshingFor: "show", olderThan: .seconds(20))?.urls == ["https://paris"])
        #expect(polls.withLock { $0 } == 1)
        // Fresh: not asked again, whatever changed at the coordinator.
        hosts.withLock { $0 = ["https://boston", "https://paris"] }
        #expect(await assignments.sources(refreshingFor: "show", olderThan: .seconds(20))?.urls == ["https://paris"])
        #expect(await assignments.sources(refreshingFor: "show")?.urls == ["https://paris"])
        #expect(polls.withLock { $0 } == 1)
        // Older than allowed, but asked less than the refresh interval ago: what is known.
        #expect(await assignments.sources(refreshingFor: "show", olderThan: .zero)?.urls == ["https://paris"])
        #expect(polls.withLock { $0 } == 1)
        // Past the interval: asked again, and the new tier is learned.
        try await Task.sleep(for: Assignments.refreshInterval + .milliseconds(100))
        #expect(await assignments.sources(refreshingFor: "show", olderThan: .seconds(1))?.urls == ["https://boston", "https://paris"])
        #expect(polls.withLock { $0 } == 2)
    }
}
