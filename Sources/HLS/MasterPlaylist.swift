/// One `#EXT-X-STREAM-INF` entry: a rendition players may choose.
public struct Variant: Sendable, Hashable {
    /// Peak bits per second, audio included.
    public var bandwidth: Int
    public var averageBandwidth: Int?
    public var width: Int?
    public var height: Int?
    public var codecs: String?
    public var frameRate: Double?
    public var uri: String

    public init(
        bandwidth: Int, averageBandwidth: Int? = nil, width: Int? = nil, height: Int? = nil,
        codecs: String? = nil, frameRate: Double? = nil, uri: String
    ) {
        self.bandwidth = bandwidth
        self.averageBandwidth = averageBandwidth
        self.width = width
        self.height = height
        self.codecs = codecs
        self.frameRate = frameRate
        self.uri = uri
    }
}

/// A master (multivariant) playlist (RFC 8216 section 4.3.4).
public struct MasterPlaylist: Sendable, Hashable {
    public var version: Int
    public var independentSegments: Bool
    public var variants: [Variant]

    public init(version: Int = 3, independentSegments: Bool = true, variants: [Variant]) {
        self.version = version
        self.independentSegments = independentSegments
        self.variants = variants
    }

    public func render() -> String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(version)"]
        if independentSegments { lines.append("#EXT-X-INDEPENDENT-SEGMENTS") }
        for variant in variants {
            var attributes = AttributeList()
            attributes.append("BANDWIDTH", "\(variant.bandwidth)")
            if let average = variant.averageBandwidth { attributes.append("AVERAGE-BANDWIDTH", "\(average)") }
            if let codecs = variant.codecs { attributes.appendQuoted("CODECS", codecs) }
            if let width = variant.width, let height = variant.height { attributes.append("RESOLUTION", "\(width)x\(height)") }
            if let rate = variant.frameRate { attributes.append("FRAME-RATE", String(format3: rate)) }
            lines.append("#EXT-X-STREAM-INF:" + attributes.rendered)
            lines.append(variant.uri)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    /// A decimal with exactly three fraction digits, as FRAME-RATE is written (`29.970`).
    init(format3 value: Double) {
        let millis = Int((value * 1000).rounded())
        self = "\(millis / 1000)." + String(millis % 1000).leftPadded(3)
    }
}
