import Crypto
import DePINProtocol
import Foundation
import HLS
import Media

/// Publishes one input as an encrypted HLS title: `DIR/{id}/source/{n}.ts`, playlists for the
/// source and every derivable rendition, `manifest.json`, and the key kept apart at
/// `DIR/{id}.key` (0600). Everything is written under a hidden staging folder and renamed into
/// place at the end, so a failure or an interrupt leaves no half-written title.
package struct Publisher {
    /// What a publish reports as it goes.
    package enum Event {
        case started(MediaInfo)
        case advanced(seconds: Double, total: Double)
        case segment(ContentManifest.Segment)
    }

    package struct Options {
        package var input: String
        package var outputDirectory: String
        package var id: String
        package var segmentSeconds: Double = 4
        package var forceReencode = false
        package var encoder = EncoderSettings()
        /// Where the key file goes; nil: `DIR/{id}.key`.
        package var keyOutput: String?
        /// The EXT-X-KEY URI; nil: the key file's path relative to each media playlist.
        package var keyURI: String?

        package init(
            input: String, outputDirectory: String, id: String, segmentSeconds: Double = 4, forceReencode: Bool = false,
            encoder: EncoderSettings = EncoderSettings(), keyOutput: String? = nil, keyURI: String? = nil
        ) {
            self.input = input
            self.outputDirectory = outputDirectory
            self.id = id
            self.segmentSeconds = segmentSeconds
            self.forceReencode = forceReencode
            self.encoder = encoder
            self.keyOutput = keyOutput
            self.keyURI = keyURI
        }
    }

    package struct Result {
        package var manifest: ContentManifest
        package var contentDirectory: String
        package var keyPath: String
        package var seconds: Double
        package var bytes: Int
    }

    package let options: Options
    package let progress: (Event) -> Void

    package init(options: Options, progress: @escaping (Event) -> Void) {
        self.options = options
        self.progress = progress
    }

    package func publish() throws -> Result {
        let id = options.id
        guard Identifier.isValid(id) else { throw PublishError("content id '\(id)' \(Identifier.rule)") }
        let fileManager = FileManager.default
        guard fileManager.isReadableFile(atPath: options.input) else {
            throw PublishError("cannot read \(options.input): no such readable file")
        }
        let root = options.outputDirectory
        do {
            try fileManager.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw PublishError("cannot create the output folder \(root): \(error.localizedDescription)")
        }
        let final = root + "/" + id
        let keyPath = options.keyOutput ?? root + "/\(id).key"
        guard !fileManager.fileExists(atPath: final) else {
            throw PublishError("\(final) already exists; choose another --id or remove it")
        }
        guard !fileManager.fileExists(atPath: keyPath) else {
            throw PublishError("the key file \(keyPath) already exists; remove it or choose another --id")
        }
        let staging = root + "/.\(id).partial-\(UInt32.random(in: 0...UInt32.max))"
        let stagedKey = keyPath + ".partial-\(UInt32.random(in: 0...UInt32.max))"
        PublishCleanup.shared.register([staging, stagedKey])
        defer { PublishCleanup.shared.unregister() }
        do {
            let result = try build(staging: staging, keyFile: stagedKey, final: final, keyPath: keyPath)
            try rename(stagedKey, to: keyPath)
            do {
                try rename(staging, to: final)
            } catch {
                try? fileManager.removeItem(atPath: keyPath)
                throw error
            }
            return result
        } catch {
            try? fileManager.removeItem(atPath: staging)
            try? fileManager.removeItem(atPath: stagedKey)
            throw error
        }
    }

    private func build(staging: String, keyFile: String, final: String, keyPath: String) throws -> Result {
        let started = ContinuousClock.now
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: staging + "/" + ContentManifest.sourceRendition, withIntermediateDirectories: true)
        let key = SegmentCipher.makeKey()
        let cipher = try SegmentCipher(key: key)
        // The key first, 0600, so it is never readable by others even while staged.
        guard fileManager.createFile(atPath: keyFile, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw PublishError("cannot write the key file \(keyFile)")
        }

        var records: [ContentManifest.Segment] = []
        var totalBytes = 0
        let info = try MediaInfo.probe(path: options.input)
        progress(.started(info))
        let segmenting = try Segmenter.segment(
            path: options.input,
            options: SegmentingOptions(targetDuration: options.segmentSeconds, encoder: options.encoder, forceReencode: options.forceReencode),
            progress: { seconds in progress(.advanced(seconds: seconds, total: info.duration)) }
        ) { segment in
            let ciphertext = try cipher.encrypt(segment.bytes, iv: SegmentCipher.iv(sequence: segment.index))
            let path = staging + "/\(ContentManifest.sourceRendition)/\(segment.index).ts"
            guard fileManager.createFile(atPath: path, contents: Data(ciphertext)) else {
                throw PublishError("cannot write \(path)")
            }
            let record = ContentManifest.Segment(
                index: segment.index, duration: segment.duration, length: ciphertext.count,
                sha256: JSONText.hex(SHA256.hash(data: ciphertext)),
                merkleRoot: JSONText.hex(MerkleTree(data: ciphertext).root))
            records.append(record)
            totalBytes += ciphertext.count
            progress(.segment(record))
        }

        let durations = records.map(\.duration)
        let totalSeconds = durations.reduce(0, +)
        let peak = zip(records, durations).map { Int(Double($0.length * 8) / max($1, 0.001)) }.max() ?? 0
        let average = Int(Double(totalBytes * 8) / max(totalSeconds, 0.001))
        let hasAudio = info.audio != nil
        let source = ContentManifest.Source(
            width: segmenting.width, height: segmenting.height, frameRate: segmenting.frameRate, codecs: segmenting.codecs,
            hasAudio: hasAudio, bandwidth: peak, averageBandwidth: average,
            video: segmenting.videoReencoded ? "re-encoded" : "copied",
            audio: hasAudio ? (segmenting.audioReencoded ? "re-encoded" : "copied") : nil)
        let ladder = Ladder.derive(sourceWidth: segmenting.width, sourceHeight: segmenting.height)
        let manifest = ContentManifest(
            id: options.id, createdAt: Int64(Date().timeIntervalSince1970), segmentSeconds: options.segmentSeconds,
            source: source, segments: records, ladder: ladder, transcode: options.encoder)
        try manifest.validate()

        let keyURI = options.keyURI ?? (options.keyOutput == nil ? "../../\(options.id).key" : URL(fileURLWithPath: keyPath).absoluteString)
        let playlists = PlaylistSet(manifest: manifest, keyURI: keyURI)
        try write(playlists.master.render(), to: staging + "/master.m3u8")
        for name in [ContentManifest.sourceRendition] + ladder.map(\.name) {
            try fileManager.createDirectory(atPath: staging + "/" + name, withIntermediateDirectories: true)
            try write(playlists.media.render(), to: staging + "/\(name)/index.m3u8")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(String(decoding: try encoder.encode(manifest), as: UTF8.self) + "\n", to: staging + "/manifest.json")
        let elapsed = ContinuousClock.now - started
        return Result(
            manifest: manifest, contentDirectory: final, keyPath: keyPath,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, bytes: totalBytes)
    }

    private func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw PublishError("cannot write \(path)")
        }
    }

    private func rename(_ from: String, to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            throw PublishError("cannot move \(from) to \(to): \(String(cString: strerror(errno)))")
        }
    }
}

/// A publish failure, said in one line.
package struct PublishError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
