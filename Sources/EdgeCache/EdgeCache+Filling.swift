import Crypto
import Logging
import Metrics
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EdgeCache {
    /// Fetches `fill.key` from the origins in order, resuming where a failed one stopped, checks
    /// it, and publishes it; or fails the fill with what each origin said.
    func perform(_ fill: Fill) async {
        let key = fill.key
        let started = ContinuousClock.now
        var hasher = SHA256()
        var written = 0
        var head: Fill.Head?
        var expected: [UInt8]?
        var complete = false
        // Whether the origin that sent the last bytes marked the body's end.
        var endIsMarked = true
        var problems: [String] = []
        // The body as it comes, when it is to be kept in memory once stored (and fits there).
        var whole: ByteBuffer? = fill.keepsInMemory && configuration.memoryCapacity > 0 ? ByteBuffer() : nil
        var notFound = 0
        let limit = configuration.maxObjectSize
        let headerSize = ObjectFileFormat.headerSize

        let (up, down) = originHealth.partition(count: origins.count)
        // A key the producer makes is made, never fetched; otherwise origins marked down are
        // tried only when no healthy origin answered at all.
        var route: [(origin: any Origin, index: Int?)] = (up + down).map { (origins[$0], $0) }
        // A producer that does not know the key after all (not its kind of title) says "not
        // found" and the upstreams are asked; any other failure of it is the answer.
        if let producer, producer.produces(key) { route.insert((producer, nil), at: 0) }
        var produced: (any Error)?
        for (origin, index) in route where !complete {
            if notFound > 0, let index, down.contains(index) { break }
            do {
                var skip = 0
                try await origin.fetch(key, from: written) { answer in
                    if let total = answer.totalLength {
                        guard total <= limit else {
                            throw OriginError.invalid("\(origin)/\(key) is \(total) bytes, over the \(limit)-byte object limit")
                        }
                        if let known = head?.totalLength, known != total {
                            throw OriginError.invalid("\(origin)/\(key) is \(total) bytes, an earlier origin said \(known)")
                        }
                    }
                    guard answer.offset <= written else {
                        throw OriginError.invalid("\(origin)/\(key) resumed at byte \(answer.offset), wanted \(written)")
                    }
                    if let sha = answer.sha256 {
                        if let expected, expected != sha {
                            throw OriginError.invalid("\(origin)/\(key) vouches for a different SHA-256 than an earlier origin")
                        }
                        expected = sha
                    }
                    skip = written - answer.offset
                    endIsMarked = answer.endIsMarked
                    if head == nil {
                        let published = Fill.Head(
                            totalLength: answer.totalLength, lastModified: answer.lastModified, sha256Hex: answer.sha256?.hexString)
                        head = published
                        fill.publishHead(published)
                    }
                } onChunk: { chunk in
                    var chunk = chunk
                    if skip > 0 {
                        let drop = min(skip, chunk.readableBytes)
                        chunk.moveReaderIndex(forwardBy: drop)
                        skip -= drop
                    }
                    guard chunk.readableBytes > 0 else { return }
                    guard written + chunk.readableBytes <= (head?.totalLength ?? limit) else {
                        throw OriginError.invalid("\(origin)/\(key) sent more bytes than it announced")
                    }
                    try fill.file.write(chunk, at: headerSize + written)
                    if whole != nil {
                        if whole!.readableBytes + chunk.readableBytes <= configuration.memoryObjectLimit {
                            whole!.writeImmutableBuffer(chunk)
                        } else {
                            whole = nil
                        }
                    }
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                    written += chunk.readableBytes
                    fill.progress(written: written)
                }
                if let total = head?.totalLength, written != total {
                    throw OriginError.unavailable("\(origin)/\(key) ended after \(written) of \(total) bytes")
                }
                complete = true
                if let index { originHealth.succeeded(index) }
            } catch let error as OriginError where error.code == .notFound {
                if index == nil { continue }
                notFound += 1
                problems.append(error.message)
                if let index { originHealth.succeeded(index) }
            } catch is CancellationError {
                problems.append("cancelled (shutting down)")
                break
            } catch {
                problems.append("\(error)")
                guard let index else {
                    produced = error
                    break
                }
                if origin.isMarkedDownOnFailure, originHealth.failed(index) {
                    logger.warning("upstream \(origin) failed (\(error)); trying it last for \(originHealth.downFor)")
                }
            }
            if Task.isCancelled { break }
        }

        var failure: (any Error)?
        if !complete {
            // An upstream that answered "not found" outranks ones that could not be reached.
            failure =
                notFound > 0
                ? OriginError.notFound(key.description)
                : produced ?? OriginError.unavailable("no origin could deliver \(key): \(problems.joined(separator: "; "))")
        } else {
            let digest = Array(hasher.finalize())
            if let expected, expected != digest {
                failure = OriginError.invalid("\(key): SHA-256 of the received bytes does not match what the origin vouched for")
            } else {
                fill.endWriting()
                let now = Int64(Date.nowSeconds)
                let metadata = ObjectMetadata(
                    key: key.description, length: written, sha256: digest.hexString,
                    lastModified: head?.lastModified ?? now, storedAt: now)
                do {
                    // A body that ended with its connection may be cut short: served as it came,
                    // stored only when a digest vouched for it (checked above).
                    try publish(fill, metadata: metadata, keep: endIsMarked || expected != nil)
                    if let whole, whole.readableBytes == written { keepInMemory(key, whole) }
                    fill.finish(.complete(metadata))
                    counters.stored.increment()
                    counters.fillSeconds.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                    return
                } catch {
                    failure = error
                }
            }
        }
        let error = failure ?? OriginError.unavailable("\(key): fill failed")
        store.remove(path: fill.temporaryPath)
        state.withLock { _ = $0.inflight.removeValue(forKey: key) }
        fill.finish(.failed(error))
        if (error as? OriginError)?.code == .notFound {
            counters.notFound.increment()
        } else {
            counters.failed.increment()
            logger.error("fill \(key) failed: \(error)")
        }
    }

    /// Renames a checked fill into place and indexes it, evicting what no longer fits. An object
    /// bigger than the whole budget is served to its waiters but not kept.
    private func publish(_ fill: Fill, metadata: ObjectMetadata, keep: Bool = true) throws(StoreError) {
        let size = Self.diskSize(metadata.length)
        var kept = size <= configuration.capacity && keep
        if !keep {
            logger.warning("cache: \(fill.key) ended when its origin closed the connection, without a length or a digest; served, not stored")
        } else if !kept {
            logger.notice("cache: \(fill.key) (\(metadata.length) bytes) is larger than the budget; served, not stored")
        } else if metadata.length <= 1 << 20 {
            kept = configuration.isKept(fill.key, try fill.file.read(at: ObjectFileFormat.headerSize, length: metadata.length))
        }
        guard kept else {
            store.remove(path: fill.temporaryPath)
            state.withLock { _ = $0.inflight.removeValue(forKey: fill.key) }
            return
        }
        let path = try store.publish(temporaryPath: fill.temporaryPath, file: fill.file, metadata: metadata)
        let (victims, objects, used) = state.withLock { state in
            state.inflight.removeValue(forKey: fill.key)
            state.index[fill.key] = Entry(metadata: metadata, path: path)
            state.policy.insert(fill.key, size: size)
            state.used += size
            return (Self.evictOverBudget(&state, capacity: configuration.capacity), state.index.count, state.used)
        }
        victims.forEach(store.remove(path:))
        if !victims.isEmpty { counters.evictions.increment(by: victims.count) }
        recordGauges(objects: objects, used: used)
    }
}

