import DePINProtocol
import Testing

@Suite("Session ids")
struct SessionIDTests {
    @Test("an id reads back as its parts; malformed ones are not ids")
    func parts() {
        let mac: UInt128 = 0x0123_4567_89ab_cdef_0011_2233_4455_6677
        let id = SessionID.format(issued: 1_800_000_000, random: "00ff00ff00ff00ff", mac: mac)
        #expect(id == "1800000000-00ff00ff00ff00ff-0123456789abcdef0011223344556677")
        let parts = SessionID.withParts(of: id) { issued, random, read in (issued, String(decoding: random, as: UTF8.self), read) }
        #expect(parts?.0 == 1_800_000_000 && parts?.1 == "00ff00ff00ff00ff" && parts?.2 == mac)
        #expect(SessionID.key(of: id) == mac && SessionID.issued(of: id) == 1_800_000_000)
        for bad in [
            "", "1800000000-00ff00ff00ff00ff-0123456789abcdef001122334455667", "x800000000-00ff00ff00ff00ff-0123456789abcdef0011223344556677",
            "1800000000-00FF00ff00ff00ff-0123456789abcdef0011223344556677", "1800000000_00ff00ff00ff00ff-0123456789abcdef0011223344556677",
            "-00ff00ff00ff00ff-0123456789abcdef0011223344556677",
        ] {
            #expect(SessionID.withParts(of: bad) { _, _, _ in true } == nil, "\(bad)")
        }
    }
}
