import DePINProtocol

/// The writer of ``ClaimBook``: rounds go to the store in their order, those laid out meanwhile
/// in one transaction, and what was stored is kept in memory; the rounds that landed are then
/// forgotten.
extension ClaimBook {
    /// A round that writes nothing: the rounds after it need not wait for it.
    func skipWrite(_ number: Int) {
        unwrittenSkipped.insert(number)
        startWriter()
    }

    func startWriter() {
        guard !writing else { return }
        writing = true
        Task { await writeRounds() }
    }

    /// Writes the rounds laid out meanwhile, next in order, all in one transaction (group
    /// commit), until none is left; a round that relied on one whose write failed fails without being written.
    func writeRounds() async {
        while true {
            // The rounds next in order that are laid out (a later one waits for those before it).
            var group: [Write] = []
            while true {
                if let write = unwritten.removeValue(forKey: nextWrite) {
                    group.append(write)
                } else if unwrittenSkipped.remove(nextWrite) == nil {
                    break
                }
                nextWrite += 1
            }
            guard !group.isEmpty else { break }
            var writes: [Write] = []
            for write in group {
                if case .failure(let error) = write.save {
                    lastFailedRound = max(lastFailedRound, write.number)
                    write.done.resume(throwing: error)
                    landed.append(write.number)
                } else if let reliesOn = write.reliesOn, reliesOn <= lastFailedRound {
                    lastFailedRound = max(lastFailedRound, write.number)
                    write.done.resume(
                        throwing: StoreFailure.unavailable("an earlier round of claims this one was checked against could not be stored"))
                    landed.append(write.number)
                } else {
                    writes.append(write)
                }
            }
            guard !writes.isEmpty else { continue }
            do {
                try await store.saveClaims(ClaimsToSave.merged(try writes.map { try $0.save.get() }))
                for write in writes {
                    remember(write)
                    write.done.resume()
                }
            } catch {
                lastFailedRound = max(lastFailedRound, writes[writes.count - 1].number)
                for write in writes { write.done.resume(throwing: error) }
            }
            landed.append(contentsOf: writes.map(\.number))
        }
        writing = false
    }

    /// Keeps what a stored round wrote, for sessions known in memory or issued after the
    /// watermark (a store no other coordinator writes).
    func remember(_ write: Write) {
        guard !store.isShared else { return }
        let watermark = watermark ?? .max
        for (session, change) in write.sessions {
            if change.issued > watermark {
                // Known or not: one look-up.
                modify(&committed[session, default: (Delivered(), [], change.issued)]) {
                    $0.delivered = change.delivered
                    $0.ids.formUnion(change.added)
                }
            } else if let known = committed.index(forKey: session) {
                committed.values[known].delivered = change.delivered
                committed.values[known].ids.formUnion(change.added)
            }
        }
    }

    /// Forgets what the rounds that landed had in flight, and the oldest sessions kept when
    /// there are too many.
    func purgeLanded() {
        let rounds = landed.compactMap { number in keysInFlight.removeValue(forKey: number).map { (number, $0) } }
        landed.removeAll(keepingCapacity: true)
        if keysInFlight.isEmpty {
            // None left in flight: all go at once, without looking each up.
            claimsInFlight.removeAll(keepingCapacity: true)
            totalsInFlight.removeAll(keepingCapacity: true)
        } else {
            // (One look-up each: an entry a later round replaced goes back.)
            for (number, keys) in rounds {
                for key in keys.claims {
                    if let later = claimsInFlight.removeValue(forKey: key), later.round != number { claimsInFlight[key] = later }
                }
                for id in keys.sessions {
                    if let later = totalsInFlight.removeValue(forKey: id), later.round != number { totalsInFlight[id] = later }
                }
            }
        }
        if committed.count > Self.committedSessions {
            // The older half goes; sessions with rounds in flight stay.
            let oldest = committed.map { ($0.key, $0.value.issued) }.sorted { $0.1 < $1.1 }.prefix(committed.count / 2)
            for (key, issued) in oldest where totalsInFlight[key] == nil {
                committed[key] = nil
                watermark = max(watermark ?? issued, issued)
            }
        }
    }
}

/// Runs `change` on `value` in place (a dictionary entry's `_modify`, one look-up).
@inline(__always)
private func modify<Value>(_ value: inout Value, _ change: (inout Value) -> Void) { change(&value) }
