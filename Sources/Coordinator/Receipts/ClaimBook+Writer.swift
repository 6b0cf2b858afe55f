import DePINProtocol

/// The writer of ``ClaimBook``: it writes what ``StateMachine/nextWrite()`` hands it (rounds in
/// their order, those laid out meanwhile in one transaction), tells the session totals' source
/// what was stored, and answers each round's check.
extension ClaimBook {
    /// Starts the writer when the state machine says so.
    func perform(_ action: StateMachine<Submission, Write>.WriterAction) {
        guard action == .startWriter else { return }
        Task { await writeRounds() }
    }

    /// Writes the rounds ready, next in order, all in one transaction (group commit), until
    /// none is left; a round that could not be laid out, or that relied on one whose write
    /// failed, fails without being written.
    func writeRounds() async {
        while case .write(let failed, let group) = machine.nextWrite() {
            for (write, failure) in failed {
                switch (failure, write.save) {
                case (.layout, .failure(let error)): write.done.resume(throwing: error)
                case (.layout, .success), (.reliedOnFailedRound, _):
                    write.done.resume(
                        throwing: StoreFailure.unavailable("an earlier round of claims this one was checked against could not be stored"))
                }
            }
            guard !group.isEmpty else { continue }
            do {
                try await store.saveClaims(ClaimsToSave.merged(try group.map { try $0.save.get() }))
                machine.writeFinished(ok: true)
                for write in group {
                    sessionTotals.stored(write.sessions)
                    write.done.resume()
                }
            } catch {
                machine.writeFinished(ok: false)
                for write in group { write.done.resume(throwing: error) }
            }
        }
    }
}
