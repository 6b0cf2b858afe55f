import CFFmpeg

/// RFC 6381 codec strings for the master playlist's CODECS attribute.
enum Codecs {
    /// `avc1.PPCCLL` from the H.264 parameters (constraint flags from the avcC record when the
    /// extradata has one), plus `mp4a.40.2` (AAC-LC) when there is audio.
    static func string(video: UnsafePointer<AVCodecParameters>, hasAudio: Bool) -> String {
        let p = video.pointee
        var profile = Int(p.profile)
        var constraints = 0
        var level = Int(p.level)
        if p.extradata_size >= 4, let extra = p.extradata, extra[0] == 1 {
            profile = Int(extra[1])
            constraints = Int(extra[2])
            level = Int(extra[3])
        }
        if profile <= 0 { profile = 100 }
        if level <= 0 { level = 40 }
        let avc = "avc1." + hex(profile) + hex(constraints) + hex(level)
        return hasAudio ? "\(avc),mp4a.40.2" : avc
    }

    private static func hex(_ value: Int) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[(value >> 4) & 15], digits[value & 15]])
    }
}
