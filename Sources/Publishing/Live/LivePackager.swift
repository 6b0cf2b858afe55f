import Crypto
import DePINProtocol
import Foundation
import HLS
import Media

/// Packages a live stream's parts as encrypted Low-Latency HLS and hands every file to the
/// title's destinations (the local folder, the hosting edges) as it is made:
///
/// - `{rung}/{msn}.{part}.ts`: each part, AES-128-CBC on its own with the IV its segment's
///   media sequence number gives (HLS's default), so any player that plays AES-128 segments plays
///   the parts (each part's plaintext is whole MPEG-TS packets beginning with the PAT and PMT);
/// - `{rung}/{msn}.ts`: the segment, its parts' plaintext concatenated and encrypted the same way;
/// - `{rung}/index.m3u8` after every part, `master.m3u8` once.
///
/// When the stream ends every playlist gets EXT-X-ENDLIST, and the recording is described by a
/// ``ContentManifest`` over the `source` rung's segments, as `depin publish` would have written.
///
/// Parts arrive from the encoding threads one at a time; `started` comes before the first.
package final class LivePackager: @unchecked Sendable {
    package struct Options: Sendable {
        package var id: String
        package var key: [UInt8]
        /// The EXT-X-KEY URI in every playlist.
        package var keyURI: String
        /// Whole segments in each live playlist.
        package var windowSegments: Int
        package var settings: LiveSettings

        package init(id: String, key: [UInt8], keyURI: String, windowSegments: Int = 10, settings: LiveSettings) {
            self.id = id
            self.key = key
            self.keyURI = keyURI
            self.windowSegments = windowSegments
            self.settings = settings
        }
    }

    private struct Rung {
        var rendition: Rendition
        var window: LiveWindow
        var plaintext: [UInt8] = []
        /// The part being made, encrypted as its bytes come.
        var growing: Growing?
    }
    private struct Growing {
        var segment: Int
        var part: Int
        var path: String
        var encryptor: StreamEncryptor
        var ciphertext: [UInt8] = []
        /// Encryption failed midway: the part is sent whole when it ends.
        var broken = false
    }

    package let options: Options
    package let latency = LiveLatency()
    private let cipher: SegmentCipher
    private let lock = NSLock()
    private var destinations: [any LiveDestination]
    private var info: LiveStreamInfo?
    private var rungs: [Rung] = []
    /// Every whole segment made, per rung: the recording.
    private var recorded: [[ContentManifest.Segment]] = []
    private var createdAt = Int64(Date().timeIntervalSince1970)

    package init(options: Options, destinations: [any LiveDestination]) throws {
        self.options = options
        self.destinations = destinations
        cipher = try SegmentCipher(key: options.key)
    }

    /// Adds a destination mid-stream (a host that replaced one that went away): it is given what
    /// the playlists list now (segments and parts, read back from the local folder), then the
    /// master and every rung's playlist, then every file from here on.
    package func add(destination: any LiveDestination) {
        lock.withLock {
            destinations.append(destination)
            guard info != nil else { return }
            if let folder = destinations.lazy.compactMap({ $0 as? LiveFolder }).first {
                for index in rungs.indices {
                    let name = rungs[index].rendition.name
                    for (uri, kind) in rungs[index].window.listedFiles {
                        guard let data = FileManager.default.contents(atPath: "\(folder.root)/\(name)/\(uri)") else { continue }
                        destination.put("\(name)/\(uri)", Array(data), kind: kind, entered: nil)
                    }
                }
            }
            destination.put("master.m3u8", masterText(), kind: .master, entered: nil)
            for index in rungs.indices { destination.put(playlistPath(index), playlistText(index), kind: .playlist, entered: nil) }
        }
    }

    /// Stops sending to `destination`.
    package func remove(destination: any LiveDestination) {
        lock.withLock { destinations.removeAll { $0 === destination } }
    }

    /// The ladder is known: writes the master playlist.
    package func started(_ info: LiveStreamInfo) {
        lock.withLock {
            self.info = info
            createdAt = Int64(Date().timeIntervalSince1970)
            let target = Int((Double(options.settings.partsPerSegment) * options.settings.partSeconds).rounded(.up))
            recorded = info.renditions.map { _ in [] }
            rungs = info.renditions.map {
                Rung(rendition: $0, window: LiveWindow(targetDuration: max(target, 1), partTarget: options.settings.partSeconds, windowSegments: options.windowSegments))
            }
            send("master.m3u8", masterText(), kind: .master)
        }
    }

    /// What the ladder made: more of a part, or a finished one.
    package func take(_ output: LiveOutput) {
        switch output {
        case .growing(let rendition, let segment, let part, let entered, let bytes): grow(rendition, segment, part, entered, bytes)
        case .finished(let part): add(part)
        }
    }

    /// More plaintext of a part being made: its whole AES blocks go to the destinations now.
    private func grow(_ rendition: Int, _ segment: Int, _ part: Int, _ entered: Date, _ bytes: [UInt8]) {
        lock.withLock {
            guard rungs.indices.contains(rendition) else { return }
            if rungs[rendition].growing.map({ $0.segment != segment || $0.part != part }) ?? true {
                let path = "\(rungs[rendition].rendition.name)/" + LiveWindow.partURI(segment, part)
                rungs[rendition].growing = Growing(
                    segment: segment, part: part, path: path, encryptor: cipher.streamEncryptor(iv: SegmentCipher.iv(sequence: segment)))
                for destination in destinations { destination.beginPart(path, entered: measured(path, entered)) }
            }
            guard var growing = rungs[rendition].growing, !growing.broken else { return }
            rungs[rendition].growing = nil  // no copy-on-write of the ciphertext
            defer { rungs[rendition].growing = growing }
            guard let blocks = bytes.withUnsafeBytes({ try? growing.encryptor.update($0) }) else {
                growing.broken = true  // the whole part is encrypted again when it ends
                return
            }
            guard !blocks.isEmpty else { return }
            growing.ciphertext += blocks
            for destination in destinations { destination.appendPart(growing.path, blocks) }
        }
    }

    /// One finished part of one rung.
    package func add(_ part: LivePart) {
        lock.withLock {
            guard rungs.indices.contains(part.rendition) else { return }
            let name = rungs[part.rendition].rendition.name
            let iv = SegmentCipher.iv(sequence: part.segment)
            let path = "\(name)/" + LiveWindow.partURI(part.segment, part.part)
            guard let encrypted = finishPart(part, path: path, iv: iv) else { return }
            for destination in destinations { destination.endPart(path, encrypted, entered: measured(path, part.entered)) }
            if let entered = measured(path, part.entered) { latency.record("packaged", seconds: Date().timeIntervalSince(entered)) }
            rungs[part.rendition].plaintext += part.bytes
            let gone = rungs[part.rendition].window.add(part: part)
            if part.endsSegment {
                let plaintext = rungs[part.rendition].plaintext
                rungs[part.rendition].plaintext = []
                if let segment = try? cipher.encrypt(plaintext, iv: iv) {
                    send("\(name)/" + LiveWindow.segmentURI(part.segment), segment, kind: .segment)
                    record(part.rendition, part.segment, segment)
                }
            }
            send(playlistPath(part.rendition), playlistText(part.rendition), kind: .playlist)
            // Parts of segments well behind the window are no longer listed anywhere.
            for sequence in gone {
                for index in 0..<options.settings.partsPerSegment { drop("\(name)/" + LiveWindow.partURI(sequence, index)) }
            }
        }
    }

    /// The stream ended: every playlist gets EXT-X-ENDLIST.
    /// - Returns: the recording's manifest, nil when no whole segment was made.
    package func finish() -> ContentManifest? {
        lock.withLock {
            for index in rungs.indices {
                rungs[index].window.end()
                send(playlistPath(index), playlistText(index), kind: .playlist)
            }
            return recordingManifest()
        }
    }

    /// Waits until every destination has stored or given up on what it was given.
    package func drain() async {
        for destination in lock.withLock({ destinations }) { await destination.drain() }
    }

    // MARK: - Under the lock

    /// The part's whole ciphertext: what went out while it grew and the rest, or (when nothing
    /// went out as it grew, or the growing part is another) all of it encrypted now.
    private func finishPart(_ part: LivePart, path: String, iv: [UInt8]) -> [UInt8]? {
        defer { rungs[part.rendition].growing = nil }
        if var growing = rungs[part.rendition].growing, growing.segment == part.segment, growing.part == part.part, !growing.broken,
            growing.ciphertext.count + growing.encryptor.pendingCount <= part.bytes.count
        {
            let rest = part.bytes[(growing.ciphertext.count + growing.encryptor.pendingCount)...]
            if let tail = try? rest.withUnsafeBytes({ try growing.encryptor.update($0) + growing.encryptor.finish() }) {
                for destination in destinations { destination.appendPart(path, tail) }
                return growing.ciphertext + tail
            }
        }
        return try? cipher.encrypt(part.bytes, iv: iv)
    }

    /// Latency is measured on the source rung's parts (every rung's are made together).
    private func measured(_ path: String, _ entered: Date) -> Date? {
        path.hasPrefix(ContentManifest.sourceRendition + "/") ? entered : nil
    }

    private func send(_ path: String, _ bytes: [UInt8], kind: LiveFileKind) {
        for destination in destinations { destination.put(path, bytes, kind: kind, entered: nil) }
    }

    private func drop(_ path: String) { for destination in destinations { destination.delete(path) } }

    private func playlistPath(_ index: Int) -> String { "\(rungs[index].rendition.name)/index.m3u8" }

    private func playlistText(_ index: Int) -> [UInt8] {
        let reports = rungs.indices.filter { $0 != index }.compactMap { other -> LivePlaylist.RenditionReport? in
            guard let last = rungs[other].window.lastPart else { return nil }
            return .init(uri: "../\(rungs[other].rendition.name)/index.m3u8", lastSequence: last.sequence, lastPart: last.part)
        }
        let key = SegmentKey(method: .aes128, uri: options.keyURI)
        return Array(rungs[index].window.playlist(key: key, reports: reports).render().utf8)
    }

    private func masterText() -> [UInt8] {
        guard let info else { return [] }
        let audio = info.hasAudio ? PlaylistSet.audioAndOverhead : 64_000
        let variants = info.renditions.map { rendition in
            Variant(
                bandwidth: rendition.maxBitrate + audio, averageBandwidth: rendition.videoBitrate + audio,
                width: rendition.width, height: rendition.height,
                codecs: RenditionCodecs.string(profile: options.settings.encoder.profile, width: rendition.width, height: rendition.height, hasAudio: info.hasAudio),
                frameRate: info.frameRate, uri: "\(rendition.name)/index.m3u8")
        }
        return Array(MasterPlaylist(version: 6, independentSegments: true, variants: variants).render().utf8)
    }

    private func record(_ rung: Int, _ sequence: Int, _ ciphertext: [UInt8]) {
        guard sequence == recorded[rung].count, let duration = rungs[rung].window.finished.last?.duration else { return }
        recorded[rung].append(
            ContentManifest.Segment(
                index: sequence, duration: duration, length: ciphertext.count,
                sha256: JSONText.hex(SHA256.hash(data: ciphertext)), merkleRoot: JSONText.hex(MerkleTree(data: ciphertext).root)))
    }

    private func recordingManifest() -> ContentManifest? {
        // Whole segments only, as many as every rung has (the last may be missing in one).
        let count = recorded.map(\.count).min() ?? 0
        guard let info, let top = info.renditions.first, count > 0 else { return nil }
        let source = recorded[0].prefix(count)
        let bytes = source.map(\.length).reduce(0, +)
        let seconds = source.map(\.duration).reduce(0, +)
        let peak = source.map { Int(Double($0.length * 8) / max($0.duration, 0.001)) }.max() ?? 0
        let description = ContentManifest.Source(
            width: top.width, height: top.height, frameRate: info.frameRate,
            codecs: RenditionCodecs.string(profile: options.settings.encoder.profile, width: top.width, height: top.height, hasAudio: info.hasAudio),
            hasAudio: info.hasAudio, bandwidth: peak, averageBandwidth: Int(Double(bytes * 8) / max(seconds, 0.001)),
            video: "re-encoded", audio: info.hasAudio ? "re-encoded" : nil)
        var manifest = ContentManifest(
            id: options.id, createdAt: createdAt, segmentSeconds: Double(options.settings.partsPerSegment) * options.settings.partSeconds,
            source: description, segments: Array(source), ladder: Array(info.renditions.dropFirst()), transcode: ContentManifest.defaultTranscodeSettings)
        let ladder = zip(info.renditions, recorded).dropFirst().map { ($0.name, Array($1.prefix(count))) }
        if !ladder.isEmpty { manifest.renditionSegments = Dictionary(uniqueKeysWithValues: ladder) }
        return manifest
    }
}
