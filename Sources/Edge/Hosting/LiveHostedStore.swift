import DePINProtocol
import Foundation
import HLS
import NIOCore
import Synchronization

/// The live titles this edge hosts while they stream: every part, segment and playlist the
/// title's ingest pushes (`PUT /live-hosting/{content}/{path}`), under `{root}/{content}/`,
/// served from here as it is (never through the cache: a live playlist changes with every part).
///
/// What is accepted is checked: the path must be one a live title has (`master.m3u8`,
/// `{rung}/index.m3u8`, `{rung}/{msn}.ts`, `{rung}/{msn}.{part}.ts`), media must be whole AES
/// blocks within a size limit, a media playlist must parse as Low-Latency HLS and may never go
/// backwards (its media sequence and its newest part only move on; after EXT-X-ENDLIST nothing
/// changes). Each file is written to a temporary name and renamed, so a reader sees a playlist
/// whole or not at all. Parts and segments that fell well behind the window are deleted, so a
/// stream of any length takes bounded disk.
///
/// A request for a part or segment not here yet but just ahead of the newest waits for it (up
/// to ``arrivalWait``), so a player that asks for the hinted part gets it the moment it lands.
///
/// Thread-safe: the per-title state is behind one `Mutex`.
package final class LiveHostedStore: Sendable {
    package let root: String
    /// How long a request for a part about to arrive waits for it.
    package let arrivalWait: Duration
    /// Live titles hosted at once, at most.
    static let maxTitles = 64
    static let maxPlaylistBytes = 1 << 20
    static let maxPartBytes = 16 << 20
    static let maxSegmentBytes = 64 << 20
    /// Segments kept behind the oldest one a playlist lists (a player may still be reading them).
    static let keptBehind = 3

    private struct Rung {
        var progress = LiveProgress()
        /// A playlist of the rung came.
        var listed = false
        /// Segments stored, oldest first, for pruning.
        var stored: [Int] = []
        /// The newest playlist, ready for viewers' tokens: whole, and as a delta update.
        var templates: LiveTemplates?
    }
    private struct Title {
        var rungs: [String: Rung] = [:]
        var hasMaster = false
        var touched = ContinuousClock.now
    }
    private struct State {
        var titles: [String: Title] = [:]
        /// Parts still arriving, by `content/path`.
        var arriving: [String: GrowingFile<ByteBuffer>] = [:]
        var arrivingBytes = 0
    }
    /// Bytes of parts still arriving, at most, over every title.
    static let maxArrivingBytes = 256 << 20
    private let state = Mutex(State())
    private let arrivals = Arrivals()

    package init(root: String, arrivalWait: Duration = .seconds(3)) throws {
        self.root = root
        self.arrivalWait = arrivalWait
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root + "/.tmp", withIntermediateDirectories: true)
    }

    /// True when `content` is a live title pushed here.
    package func hosts(_ content: String) -> Bool { state.withLock { $0.titles[content] != nil } }

    /// True when `path` of `content` is served from here: the master playlist once it came, a
    /// rung's files once its playlist came. (A host that replaced another mid-stream is given
    /// the window before the playlists that list it; until then its viewers are served as a
    /// delivery edge's are, from the other hosts.)
    package func serves(content: String, path: String) -> Bool {
        let rung = path.split(separator: "/").first.map(String.init) ?? path
        return state.withLock { state in
            guard let title = state.titles[content] else { return false }
            return path == "master.m3u8" ? title.hasMaster : title.rungs[rung]?.listed ?? false
        }
    }

    /// What a live file's path says it is.
    enum LivePath: Equatable {
        case master
        case playlist(rung: String)
        case segment(rung: String, sequence: Int)
        case part(rung: String, sequence: Int, part: Int)

        init?(_ path: String) {
            if path == "master.m3u8" {
                self = .master
                return
            }
            let pieces = path.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count == 2, Self.isRung(pieces[0]) else { return nil }
            let rung = String(pieces[0])
            if pieces[1] == "index.m3u8" {
                self = .playlist(rung: rung)
                return
            }
            guard pieces[1].hasSuffix(".ts") else { return nil }
            let numbers = pieces[1].dropLast(3).split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(numbers.count), numbers.allSatisfy({ $0.count <= 9 && !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }) else {
                return nil
            }
            let sequence = Int(numbers[0])!
            self = numbers.count == 1 ? .segment(rung: rung, sequence: sequence) : .part(rung: rung, sequence: sequence, part: Int(numbers[1])!)
        }

        static func isRung(_ name: Substring) -> Bool {
            (1...32).contains(name.utf8.count) && Identifier.isValid(String(name))
        }

        var limit: Int {
            switch self {
            case .master, .playlist: LiveHostedStore.maxPlaylistBytes
            case .segment: LiveHostedStore.maxSegmentBytes
            case .part: LiveHostedStore.maxPartBytes
            }
        }
    }

    /// The most bytes an upload of `path` may carry (0: not a live path).
    package func uploadLimit(path: String) -> Int { LivePath(path)?.limit ?? 0 }

    /// Checks and stores one pushed file.
    /// - Returns: false when the same playlist was there already.
    /// - Throws: ``HostingError`` saying what did not check out; nothing is written then.
    @discardableResult
    package func put(content: String, path: String, body: ByteBuffer) throws(HostingError) -> Bool {
        guard let kind = LivePath(path) else {
            throw .invalid("\(path.prefix(100)) is not a live file (master.m3u8, RUNG/index.m3u8, RUNG/MSN.ts, RUNG/MSN.PART.ts)")
        }
        let bytes = Data(body.readableBytesView)
        guard bytes.count <= kind.limit else { throw .invalid("\(path) is over \(kind.limit) bytes") }
        try admit(content)
        switch kind {
        case .master:
            guard bytes.starts(with: Array("#EXTM3U".utf8)), String(decoding: bytes, as: UTF8.self).contains("#EXT-X-STREAM-INF") else {
                throw .invalid("master.m3u8 is not a master playlist")
            }
            try write(bytes, content: content, path: path)
            state.withLock { $0.titles[content]?.hasMaster = true }
        case .playlist(let rung):
            let playlist: LivePlaylist
            do { playlist = try LivePlaylist.parse(String(decoding: bytes, as: UTF8.self)) } catch {
                throw .invalid("\(path) is not a live playlist: \(error)")
            }
            let newest = playlist.lastPart ?? (playlist.mediaSequence - 1, Int.max)
            let templates = LiveTemplates(String(decoding: bytes, as: UTF8.self), playlist, content: content)
            // Checked, written and noted under the lock: two uploads of one playlist never
            // interleave, so what is on disk only moves forwards.
            let prune: [Int] = try state.withLock { state throws(HostingError) in
                var known = state.titles[content]?.rungs[rung] ?? Rung()
                if known.progress.ended { throw .conflict("\(content)/\(rung) has ended (EXT-X-ENDLIST); it changes no more") }
                guard known.progress.accepts(playlist) else {
                    throw .conflict(
                        "\(path) would go backwards: media sequence \(playlist.mediaSequence), newest part \(newest.0).\(newest.1); this host has \(known.progress.sequence), \(known.progress.last.sequence).\(known.progress.last.part)")
                }
                try write(bytes, content: content, path: path)
                known.progress.advance(to: playlist)
                known.listed = true
                known.templates = templates
                let cut = playlist.mediaSequence - Self.keptBehind
                let gone = known.stored.filter { $0 < cut }
                known.stored.removeAll { $0 < cut }
                state.titles[content]?.rungs[rung] = known
                return gone
            }
            for sequence in prune { removeSegment(content: content, rung: rung, sequence: sequence) }
        case .segment(let rung, let sequence), .part(let rung, let sequence, _):
            guard !bytes.isEmpty, bytes.count % 16 == 0 else { throw .invalid("\(path) is \(bytes.count) bytes: not whole AES-128 blocks") }
            try checkInWindow(content: content, rung: rung, sequence: sequence, path: path)
            try write(bytes, content: content, path: path)
            if case .segment = kind {
                state.withLock { state in
                    if state.titles[content]?.rungs[rung] == nil { state.titles[content]?.rungs[rung] = Rung() }
                    state.titles[content]?.rungs[rung]?.stored.append(sequence)
                }
            }
        }
        arrivals.announce(content + "/" + path)
        return true
    }

    /// A part as it arrives: ``beginPart(content:path:)``, ``append(_:to:)`` for every chunk of
    /// its body, then ``endPart(_:)`` (or ``abandon(_:why:)``). Viewers are served its bytes
    /// meanwhile, as they come.
    package struct Arrival: Sendable {
        let content: String
        let path: String
        let sequence: Int
        let rung: String
        let file = GrowingFile<ByteBuffer>()
        var count = 0
    }

    /// Begins storing a part whose body is still coming.
    /// - Throws: ``HostingError`` when it is not a part, or behind the window, or too much is
    ///   arriving at once; nothing is kept then.
    package func beginPart(content: String, path: String) throws(HostingError) -> Arrival {
        guard case .part(let rung, let sequence, _) = LivePath(path) else {
            throw .invalid("\(path.prefix(100)) is not a live part (RUNG/MSN.PART.ts)")
        }
        try admit(content)
        try checkInWindow(content: content, rung: rung, sequence: sequence, path: path)
        let arrival = Arrival(content: content, path: path, sequence: sequence, rung: rung)
        let key = content + "/" + path
        let replaced = state.withLock { $0.arriving.updateValue(arrival.file, forKey: key) }
        replaced?.fail("a newer upload of \(path) began")
        arrivals.announce(key)
        return arrival
    }

    /// More of an arriving part.
    /// - Throws: ``HostingError`` when the part grows past its limit or the edge holds too much
    ///   arriving at once; the part is abandoned then.
    package func append(_ chunk: ByteBuffer, to arrival: inout Arrival) throws(HostingError) {
        let size = chunk.readableBytes
        let room = state.withLock { state in
            guard state.arrivingBytes + size <= Self.maxArrivingBytes else { return false }
            state.arrivingBytes += size
            return true
        }
        arrival.count += size
        guard room else {
            arrival.count -= size
            abandon(arrival, why: "this edge holds \(Self.maxArrivingBytes >> 20) MiB of arriving parts")
            throw .storage("this edge holds \(Self.maxArrivingBytes >> 20) MiB of parts still arriving; try again")
        }
        guard arrival.count <= Self.maxPartBytes else {
            abandon(arrival, why: "over \(Self.maxPartBytes) bytes")
            throw .invalid("\(arrival.path) is over \(Self.maxPartBytes) bytes")
        }
        arrival.file.append(chunk)
    }

    /// The part's body ended: checks it, stores it, and its readers end.
    /// - Throws: ``HostingError`` when it is not whole AES blocks; it is abandoned then.
    package func endPart(_ arrival: Arrival) throws(HostingError) {
        guard arrival.count > 0, arrival.count % 16 == 0 else {
            abandon(arrival, why: "not whole AES-128 blocks")
            throw .invalid("\(arrival.path) is \(arrival.count) bytes: not whole AES-128 blocks")
        }
        var whole = ByteBuffer()
        whole.reserveCapacity(arrival.count)
        for chunk in arrival.file.chunks { whole.writeImmutableBuffer(chunk) }
        do { try write(whole.withUnsafeReadableBytes { Data($0) }, content: arrival.content, path: arrival.path) } catch {
            abandon(arrival, why: error.message)
            throw error
        }
        // On disk before it leaves the arriving set: a reader finds it in one or the other.
        arrival.file.finish()
        forget(arrival)
        arrivals.announce(arrival.content + "/" + arrival.path)
    }

    /// The part's upload broke off: its readers' responses are reset, nothing is stored.
    package func abandon(_ arrival: Arrival, why: String) {
        arrival.file.fail("the upload of \(arrival.path) broke off: \(why)")
        forget(arrival)
    }

    private func forget(_ arrival: Arrival) {
        let key = arrival.content + "/" + arrival.path
        state.withLock { state in
            state.arrivingBytes -= arrival.count
            if state.arriving[key] === arrival.file { state.arriving[key] = nil }
        }
    }

    /// A live file to serve.
    package enum File: Sendable {
        case whole(Data)
        /// A part still arriving: serve its bytes as they come.
        case arriving(GrowingFile<ByteBuffer>)
    }

    /// True when the whole file `path` of `content` is here now (no waiting).
    package func has(content: String, path: String) -> Bool { access("\(root)/\(content)/\(path)", F_OK) == 0 }

    /// The file `path` of `content`; for a part or segment just ahead of the newest, waits for it
    /// (its first bytes, for a part).
    /// - Returns: nil when it is not here (and not about to be).
    package func read(content: String, path: String) async -> File? {
        let file = "\(root)/\(content)/\(path)"
        let key = content + "/" + path
        var waited = false
        while true {
            // The arriving set first: a part leaves it only once it is on disk.
            let arriving = state.withLock { $0.arriving[key] }
            if let arriving { return .arriving(arriving) }
            if let data = FileManager.default.contents(atPath: file) { return .whole(data) }
            guard !waited, let kind = LivePath(path), awaited(content: content, kind) else { return nil }
            waited = true
            await arrivals.wait(for: key, upTo: arrivalWait) { self.state.withLock { $0.arriving[key] != nil } || access(file, F_OK) == 0 }
        }
    }

    /// `rung`'s newest playlist made ready for a viewer's token (as a delta update when `delta`
    /// asks for one and it offers them), without reading the disk; nil before one came.
    package func viewerPlaylist(content: String, rung: String, delta: Bool) -> (template: TokenTemplate, targetDuration: Int)? {
        state.withLock { state in
            guard let known = state.titles[content]?.rungs[rung], let template = known.templates?.template(delta: delta) else { return nil }
            return (template, known.progress.targetDuration)
        }
    }

    /// Holds a playlist request until `rung`'s playlist lists part `part` of segment `sequence`
    /// (or, without a part, the whole segment), for at most three target durations.
    package func reload(content: String, rung: String, sequence: Int, part: Int?) async -> LiveReload {
        await arrivals.holdReload(on: Self.playlistKey(content, rung), answer: progress(content: content, rung: rung, sequence: sequence, part: part))
    }

    /// The same, calling `done` with the outcome instead of suspending a task (at once when the
    /// playlist here has it already).
    package func whenReloaded(content: String, rung: String, sequence: Int, part: Int?, then done: @escaping @Sendable (LiveReload) -> Void) {
        arrivals.holdReload(
            on: Self.playlistKey(content, rung), answer: progress(content: content, rung: rung, sequence: sequence, part: part), then: done)
    }

    /// What `rung`'s playlist is announced as when a new one is stored.
    private static func playlistKey(_ content: String, _ rung: String) -> String { content + "/" + rung + "/index.m3u8" }

    /// What a blocking reload for `sequence`/`part` comes to now (nil: wait), and the rung's
    /// target duration.
    private func progress(content: String, rung: String, sequence: Int, part: Int?) -> @Sendable () -> (LiveReload?, targetDuration: Int) {
        {
            self.state.withLock { state in
                guard let known = state.titles[content]?.rungs[rung]?.progress else { return (.timedOut, 2) }
                return (known.reload(sequence: sequence, part: part), known.targetDuration)
            }
        }
    }

    // MARK: -

    private func checkInWindow(content: String, rung: String, sequence: Int, path: String) throws(HostingError) {
        try state.withLock { state throws(HostingError) in
            let known = state.titles[content]?.rungs[rung]?.progress ?? LiveProgress()
            guard sequence >= known.sequence - Self.keptBehind else { throw .conflict("\(path) is behind the window (media sequence \(known.sequence))") }
        }
    }

    /// Whether a missing file is worth waiting for: a part or segment of a rung that streams,
    /// at most two segments past its newest.
    private func awaited(content: String, _ kind: LivePath) -> Bool {
        state.withLock { state in
            switch kind {
            case .segment(let rung, let sequence), .part(let rung, let sequence, _):
                guard let known = state.titles[content]?.rungs[rung]?.progress, !known.ended else { return false }
                return sequence >= known.last.sequence && sequence <= known.last.sequence + 2
            case .master, .playlist:
                return false
            }
        }
    }

    /// Seconds after its last upload a title may be forgotten to make room for a new one.
    static let idleSeconds: Int64 = 300

    private func admit(_ content: String) throws(HostingError) {
        let forgotten: [String] = try state.withLock { state throws(HostingError) in
            if state.titles[content] != nil {
                state.titles[content]!.touched = .now
                return []
            }
            var forgotten: [String] = []
            if state.titles.count >= Self.maxTitles {
                // Room is made from titles that ended or went quiet (their recordings are hosted
                // as published titles, or they were abandoned).
                let idle = ContinuousClock.now - .seconds(Self.idleSeconds)
                forgotten = state.titles.filter { _, title in
                    title.touched < idle || (!title.rungs.isEmpty && title.rungs.values.allSatisfy(\.progress.ended))
                }.map(\.key)
                for id in forgotten { state.titles[id] = nil }
            }
            guard state.titles.count < Self.maxTitles else { throw .storage("this edge hosts \(Self.maxTitles) live titles already") }
            state.titles[content] = Title()
            return forgotten
        }
        for id in forgotten { try? FileManager.default.removeItem(atPath: "\(root)/\(id)") }
    }

    /// Deletes a segment and its parts (numbered from 0 with no gap).
    private func removeSegment(content: String, rung: String, sequence: Int) {
        let folder = "\(root)/\(content)/\(rung)"
        unlink("\(folder)/\(sequence).ts")
        var part = 0
        while unlink("\(folder)/\(sequence).\(part).ts") == 0 { part += 1 }
    }

    private func write(_ data: Data, content: String, path: String) throws(HostingError) {
        try replaceFile(at: "\(root)/\(content)/\(path)", with: data, staging: root + "/.tmp", sync: false)
    }
}
