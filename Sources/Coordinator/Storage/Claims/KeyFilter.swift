import Foundation

/// A Bloom filter of `session_claims` keys: whether a key may have been added, or certainly was
/// not (a false alarm for about 1 key in 100 that was not, once full). Its bit positions come
/// from `Hasher`, seeded at random per process, so no edge can choose ids that all collide.
///
/// ## Performance characteristics
/// Ten bits a key of its capacity (10 MiB for 8 million keys); a look-up or an insert is one
/// hash of the key and 7 bits.
struct KeyFilter {
    private var bits: [UInt64]
    private let mask: UInt64
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        // A power of two of at least 10 bits a key.
        var size: UInt64 = 64
        while size < UInt64(capacity) * 10 { size <<= 1 }
        bits = Array(repeating: 0, count: Int(size / 64))
        mask = size - 1
    }

    /// Whether it holds as many keys as it was made for (its false positives rise beyond).
    var isFull: Bool { count >= capacity }

    mutating func insert(_ key: SQLiteClaimIndex.WaitingRows.Key) {
        count += 1
        positions(key) { bits[Int($0 >> 6)] |= 1 << ($0 & 63) }
    }

    func mayContain(_ key: SQLiteClaimIndex.WaitingRows.Key) -> Bool {
        var all = true
        positions(key) { if bits[Int($0 >> 6)] & (1 << ($0 & 63)) == 0 { all = false } }
        return all
    }

    /// The key's 7 bit positions (double hashing of one 64-bit hash).
    private func positions(_ key: SQLiteClaimIndex.WaitingRows.Key, _ body: (UInt64) -> Void) {
        var hasher = Hasher()
        key.hash(into: &hasher)
        let hash = UInt64(bitPattern: Int64(hasher.finalize()))
        let step = (hash &* 0x9E37_79B9_7F4A_7C15) >> 29 | 1
        for index in 0..<UInt64(7) { body((hash &+ index &* step) & mask) }
    }
}
