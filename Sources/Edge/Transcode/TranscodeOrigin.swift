import Crypto
import DePINProtocol
import EdgeCache
import Foundation
import HLS
import Logging
import Metrics
import NIOCore
import Synchronization

/// Makes ladder renditions on demand: a miss for `/v/{content}/{rendition}/{n}.ts`, where the
/// title's manifest lists `rendition`, is answered by transcoding `source/{n}.ts` instead of
/// asking upstream.
///
/// The source segment comes through the cache (so it is filled from upstream once and kept),
/// is checked against the manifest's length and SHA-256, decrypted with the title's key, and
/// handed to a `depin transcode-worker` child process. Its output is encrypted (same key, IV =
/// segment number) and streamed into the cache fill as it is encoded, so the first viewer gets
/// bytes long before the segment is finished. Requests for other renditions of the same
/// segment that arrive before the worker starts join the same pass.
package final class TranscodeOrigin: Producer {
    package typealias Fetch = @Sendable (CacheKey) async throws -> ByteBuffer

    private let worker: TranscodeWorker
    private let keys: any ContentKeyProvider
    private let fetchObject = Mutex<Fetch?>(nil)
    private let jobs = Mutex<[SegmentID: TranscodeJob]>([:])
    private let manifests = Mutex<[String: ContentManifest]>([:])
    private let slots: AsyncSemaphore
    private let logger: Logger
    private let counters = Counters()
    /// Told of every rendition segment made whole: its size and SHA-256 as served.
    private let onMade: @Sendable ([MadeRendition]) -> Void

    private struct Counters: Sendable {
        let made = Counter(label: "depin_transcodes_total", dimensions: [("result", "made")])
        let badInput = Counter(label: "depin_transcodes_total", dimensions: [("result", "bad_input")])
        let failed = Counter(label: "depin_transcodes_total", dimensions: [("result", "failed")])
        let renditions = Counter(label: "depin_transcoded_renditions_total")
        let seconds = Timer(label: "depin_transcode_seconds")
    }

    /// - Parameter jobs: workers allowed at once.
    package init(
        worker: TranscodeWorker, keys: any ContentKeyProvider, jobs: Int, logger: Logger, onMade: @escaping @Sendable ([MadeRendition]) -> Void = { _ in }
    ) {
        self.onMade = onMade
        self.worker = worker
        self.keys = keys
        self.slots = AsyncSemaphore(count: max(jobs, 1))
        self.logger = logger
    }

    /// Connects the origin to the cache it feeds (for manifests and source segments).
    package func attach(_ fetch: @escaping Fetch) { fetchObject.withLock { $0 = fetch } }

    package var description: String { "transcoder" }

    /// Stops the warm spare worker (when the edge stops).
    package func shutdown() { worker.shutdown() }

    package func produces(_ key: CacheKey) -> Bool { Self.parse(key) != nil }

    /// `{rendition}/{n}.ts` with a rendition other than the source.
    static func parse(_ key: CacheKey) -> (rendition: String, index: Int)? {
        let parts = key.path.split(separator: "/")
        guard parts.count == 2, parts[0] != ContentManifest.sourceRendition, parts[1].hasSuffix(".ts") else { return nil }
        let number = parts[1].dropLast(3)
        guard let index = Int(number), index >= 0, String(index) == number else { return nil }
        return (String(parts[0]), index)
    }

    package func fetch(
        _ key: CacheKey, from offset: Int,
        onHead: (OriginHead) async throws -> Void,
        onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        guard let (name, index) = Self.parse(key) else { throw OriginError.notFound("\(key): not a rendition segment") }
        let manifest: ContentManifest
        do {
            manifest = try await self.manifest(key.content)
        } catch {
            throw OriginError.notFound("\(key): the title has no usable manifest (\(error))")
        }
        guard let rendition = manifest.rendition(named: name), index < manifest.segments.count else {
            throw OriginError.notFound("\(key): \(name) is not in the title's ladder or segment \(index) does not exist")
        }
        let segment = SegmentID(content: key.content, index: index)
        let (stream, continuation) = TranscodeJob.Output.makeStream()
        let runner = jobs.withLock { jobs -> TranscodeJob? in
            if let job = jobs[segment], job.add(rendition, continuation) { return nil }
            let job = TranscodeJob(segment: segment, manifest: manifest)
            _ = job.add(rendition, continuation)
            jobs[segment] = job
            return job
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let runner { group.addTask { await self.run(runner) } }
            // The head waits for the first bytes, so a transcode that fails early is a clear
            // 502 and never a response cut short.
            var first = true
            for try await chunk in stream {
                if first {
                    try await onHead(OriginHead(totalLength: nil, lastModified: Int64(Date().timeIntervalSince1970)))
                    first = false
                }
                try await onChunk(chunk)
            }
            try await group.waitForAll()
        }
    }

    /// Runs one job to the end; every rendition's stream finishes or fails.
    private func run(_ job: TranscodeJob) async {
        let segment = job.segment
        defer { jobs.withLock { if $0[segment] === job { $0[segment] = nil } } }
        let started = ContinuousClock.now
        do {
            let (plaintext, cipher) = try await source(of: job)
            await slots.acquire()
            defer { slots.release() }
            let wanted = job.start()
            let iv = SegmentCipher.iv(sequence: segment.index)
            // Each rendition's encryptor, and the size and hash of what it served.
            let encryptors = Mutex(wanted.map { _ in (cipher: cipher.streamEncryptor(iv: iv), hash: SHA256(), bytes: Int64(0)) })
            let request = TranscodeRequest(renditions: wanted.map(\.rendition), settings: job.manifest.transcode, sourceBytes: plaintext.count)
            try await worker.run(request, source: plaintext) { index, bytes in
                let encrypted = try encryptors.withLock { encryptors in
                    let out = try bytes.withUnsafeBytes { try encryptors[index].cipher.update($0) }
                    encryptors[index].hash.update(data: out)
                    encryptors[index].bytes += Int64(out.count)
                    return out
                }
                if !encrypted.isEmpty { wanted[index].output.yield(ByteBuffer(bytes: encrypted)) }
            }
            var made: [MadeRendition] = []
            for (index, entry) in wanted.enumerated() {
                let (tail, hash, bytes) = try encryptors.withLock { encryptors in
                    let tail = try encryptors[index].cipher.finish()
                    encryptors[index].hash.update(data: tail)
                    return (tail, encryptors[index].hash.finalize(), encryptors[index].bytes + Int64(tail.count))
                }
                entry.output.yield(ByteBuffer(bytes: tail))
                entry.output.finish()
                made.append(MadeRendition(content: segment.content, rendition: entry.rendition.name, segment: segment.index, bytes: bytes, sha256: hash.hexString))
            }
            onMade(made)
            counters.made.increment()
            counters.renditions.increment(by: wanted.count)
            counters.seconds.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            logger.info(
                "transcoded \(segment.content)/source/\(segment.index).ts to \(wanted.map(\.rendition.name).joined(separator: ", ")) in \(ContinuousClock.now - started)")
        } catch {
            let names = job.start().map(\.rendition.name).joined(separator: ",")
            let reason: String
            if let failure = error as? TranscodeFailure {
                switch failure.code {
                case .input: reason = "the source segment cannot be transcoded: \(failure.message)"
                case .source: reason = failure.message
                case .worker, .timedOut: reason = failure.message
                }
                if failure.code == .input { counters.badInput.increment() } else { counters.failed.increment() }
            } else {
                reason = "\(error)"
                counters.failed.increment()
            }
            let message = "transcode of \(segment.content)/\(names)/\(segment.index).ts failed: \(reason)"
            logger.warning("\(message)")
            for entry in job.start() { entry.output.finish(throwing: OriginError.production(message)) }
        }
    }

    /// The source segment, checked against the manifest and decrypted, and the title's cipher.
    private func source(of job: TranscodeJob) async throws -> ([UInt8], SegmentCipher) {
        let segment = job.segment
        let record = job.manifest.segments[segment.index]
        let key = try CacheKey(content: segment.content, path: "\(ContentManifest.sourceRendition)/\(segment.index).ts")
        let ciphertext: [UInt8]
        do {
            ciphertext = Array(try await fetch(key).readableBytesView)
        } catch {
            throw TranscodeFailure.source("cannot get the source segment \(key): \(error)")
        }
        guard ciphertext.count == record.length, SHA256.hash(data: ciphertext).hexString == record.sha256 else {
            throw TranscodeFailure.source("the source segment \(key) does not match the manifest (length or SHA-256): refusing to transcode it")
        }
        let cipher = try SegmentCipher(key: try await keys.key(for: segment.content))
        do {
            return (try cipher.decrypt(ciphertext, iv: SegmentCipher.iv(sequence: segment.index)), cipher)
        } catch {
            throw TranscodeFailure.source("cannot decrypt \(key) with the title's key: \(error)")
        }
    }

    /// The title's manifest, fetched through the cache once and remembered (manifests never change).
    private func manifest(_ content: String) async throws -> ContentManifest {
        if let known = manifests.withLock({ $0[content] }) { return known }
        let buffer = try await fetch(try CacheKey(content: content, path: "manifest.json"))
        let manifest = try JSONDecoder().decode(ContentManifest.self, from: Data(buffer.readableBytesView))
        try manifest.validate()
        guard manifest.id == content else { throw ProtocolError.invalid("the manifest is for \(manifest.id), not \(content)") }
        manifests.withLock { known in
            if known.count >= 1024 { known.removeAll() }
            known[content] = manifest
        }
        return manifest
    }

    private func fetch(_ key: CacheKey) async throws -> ByteBuffer {
        guard let fetch = fetchObject.withLock({ $0 }) else { throw TranscodeFailure.source("the transcoder is not attached to a cache") }
        return try await fetch(key)
    }
}
