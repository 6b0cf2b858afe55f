import DePINProtocol
import Testing

@testable import Coordinator

@Suite("Claim rounds as a state machine: the turn, what is in flight, writes in order, failures passed on")
struct ClaimBookStateMachineTests {
    typealias Machine = ClaimBook.StateMachine<String, String>

    static func key(_ session: UInt128, _ id: UInt128) -> ClaimBook.ClaimKey { ClaimBook.ClaimKey(session: session, id: id) }

    /// What round accepting `keys` (each of `bytes`, from edge-a) writes; sessions' totals as given.
    static func accepted(_ keys: [ClaimBook.ClaimKey], totals: [UInt128: Int64], reliesOn: Int? = nil) -> ClaimBook.RoundWrite {
        let bodies = keys.map { key in
            DeliveryReceipt.Body(
                claim: DeliveryClaim(
                    id: key.id.hex, content: "title", session: "s\(key.session)", bytes: 1, segments: 1, ttfbMilliseconds: 1, firstAt: 0, lastAt: 0),
                node: "edge-a", acceptedAt: 0)
        }
        let sessions = totals.mapValues {
            ClaimBook.SessionWrite(delivered: ClaimBook.Delivered(bytes: $0, edges: ["edge-a"]), added: [], issued: 0)
        }
        return ClaimBook.RoundWrite(
            reliesOn: reliesOn, round: ClaimBook.SignedRound(bodies: bodies, leaves: []), claims: keys, batchID: "b", acceptedAt: 0,
            sessions: sessions)
    }

    /// The pending writes and failures of a write action, or nil when the writer is told to stop.
    static func written(_ action: Machine.WriteAction) -> (failed: [String], why: [Machine.Failure], group: [String])? {
        guard case .write(let failed, let group) = action else { return nil }
        return (failed.map(\.0), failed.map(\.1), group)
    }

    @Test("one round at a time: later batches wait in order, and a round takes along those that fit, never skipping one")
    func turn() {
        var machine = Machine()
        #expect(machine.submissionArrived() == .startRound)
        #expect(machine.submissionArrived() == .wait)
        machine.wait("a", claims: 15_000)
        #expect(machine.submissionArrived() == .wait)
        machine.wait("b", claims: 5_000)
        #expect(machine.submissionArrived() == .wait)
        machine.wait("c", claims: 1)
        let first = machine.roundStarted("own", claims: 10)
        #expect(first.number == 1 && first.submissions == ["own", "a"] && first.reliesOn == nil)
        guard case .handTurn(let next) = machine.roundChecked(1, accepted: nil) else {
            Issue.record("the turn was not handed on")
            return
        }
        #expect(next == "b")
        let second = machine.roundStarted(next, claims: 5_000)
        #expect(second.number == 2 && second.submissions == ["b", "c"])
        guard case .free = machine.roundChecked(2, accepted: nil) else {
            Issue.record("the turn was handed to nobody")
            return
        }
        #expect(machine.submissionArrived() == .startRound)
    }

    @Test("a round's claims and totals are in flight until its write lands and the next round starts; a later round's entries stay")
    func inFlight() {
        var machine = Machine()
        let (a, b, c) = (Self.key(1, 1), Self.key(1, 2), Self.key(2, 1))
        _ = machine.submissionArrived()
        _ = machine.roundStarted("r1", claims: 2)
        _ = machine.roundChecked(1, accepted: Self.accepted([a, b], totals: [1: 200]))
        #expect(machine.inFlight(b) == ClaimBook.InFlight(round: 1, index: 1))
        #expect(machine.signedRound(1)?.bodies.count == 2)
        #expect(machine.delivered(inFlight: 1) == ClaimBook.Delivered(bytes: 200, edges: ["edge-a"]))
        #expect(machine.hasRoundInFlight(session: 1) && !machine.hasRoundInFlight(session: 2))
        #expect(machine.writeQueued(1, pending: "w1", laidOut: true, reliesOn: nil) == .startWriter)

        _ = machine.submissionArrived()
        let second = machine.roundStarted("r2", claims: 1)
        #expect(second.reliesOn == 1)
        _ = machine.roundChecked(2, accepted: Self.accepted([c], totals: [1: 300, 2: 1], reliesOn: 1))
        #expect(machine.writeQueued(2, pending: "w2", laidOut: true, reliesOn: 1) == .none)
        // Both are written together (group commit), in order.
        #expect(Self.written(machine.nextWrite())?.group == ["w1", "w2"])
        machine.writeFinished(ok: true)
        // Still in flight until the next round starts.
        #expect(machine.isInFlight(a))
        #expect(Self.written(machine.nextWrite()) == nil)

        _ = machine.submissionArrived()
        #expect(machine.roundStarted("r3", claims: 1).reliesOn == nil)
        #expect(!machine.isInFlight(a) && !machine.isInFlight(c) && machine.delivered(inFlight: 1) == nil)
        #expect(machine.signedRound(1) == nil)
    }

    @Test("when an earlier round lands, entries a later round in flight replaced stay")
    func laterEntriesStay() {
        var machine = Machine()
        let (a, b) = (Self.key(1, 1), Self.key(1, 2))
        _ = machine.submissionArrived()
        _ = machine.roundStarted("r1", claims: 1)
        _ = machine.roundChecked(1, accepted: Self.accepted([a], totals: [1: 100]))
        _ = machine.writeQueued(1, pending: "w1", laidOut: true, reliesOn: nil)
        _ = machine.submissionArrived()
        _ = machine.roundStarted("r2", claims: 1)
        _ = machine.roundChecked(2, accepted: Self.accepted([b], totals: [1: 250], reliesOn: 1))
        #expect(Self.written(machine.nextWrite())?.group == ["w1"])
        machine.writeFinished(ok: true)
        _ = machine.submissionArrived()
        #expect(machine.roundStarted("r3", claims: 1).reliesOn == 2)
        #expect(!machine.isInFlight(a) && machine.inFlight(b) == ClaimBook.InFlight(round: 2, index: 0))
        #expect(machine.delivered(inFlight: 1)?.bytes == 250)
    }

    @Test("rounds are written in their order: one laid out early waits for those before it; rounds with nothing to write do not block")
    func order() {
        var machine = Machine()
        #expect(machine.writeQueued(2, pending: "w2", laidOut: true, reliesOn: nil) == .startWriter)
        #expect(Self.written(machine.nextWrite()) == nil)  // round 1 is not ready: the writer stops
        #expect(machine.writeSkipped(1) == .startWriter)
        #expect(Self.written(machine.nextWrite())?.group == ["w2"])
        machine.writeFinished(ok: true)
        #expect(machine.writeSkipped(3) == .none)  // the writer still runs
        #expect(machine.writeQueued(4, pending: "w4", laidOut: true, reliesOn: nil) == .none)
        #expect(Self.written(machine.nextWrite())?.group == ["w4"])
        machine.writeFinished(ok: true)
        #expect(Self.written(machine.nextWrite()) == nil)
    }

    @Test("a failed write fails every round checked against it, a layout failure too; rounds relying on none are written")
    func failures() {
        var machine = Machine()
        _ = machine.writeQueued(1, pending: "w1", laidOut: true, reliesOn: nil)
        #expect(Self.written(machine.nextWrite())?.group == ["w1"])
        // Meanwhile: round 2 relied on round 1, round 3 on round 2, round 4 on none.
        _ = machine.writeQueued(2, pending: "w2", laidOut: true, reliesOn: 1)
        _ = machine.writeQueued(3, pending: "w3", laidOut: true, reliesOn: 2)
        _ = machine.writeQueued(4, pending: "w4", laidOut: true, reliesOn: nil)
        machine.writeFinished(ok: false)
        let next = Self.written(machine.nextWrite())
        #expect(next?.failed == ["w2", "w3"] && next?.why == [.reliedOnFailedRound, .reliedOnFailedRound] && next?.group == ["w4"])
        machine.writeFinished(ok: true)
        // A round that could not be laid out fails in its turn, and so does one relying on it.
        _ = machine.writeQueued(5, pending: "w5", laidOut: false, reliesOn: nil)
        _ = machine.writeQueued(6, pending: "w6", laidOut: true, reliesOn: 5)
        let last = Self.written(machine.nextWrite())
        #expect(last?.failed == ["w5", "w6"] && last?.why == [.layout, .reliedOnFailedRound] && last?.group == [])
        #expect(Self.written(machine.nextWrite()) == nil)
    }
}
