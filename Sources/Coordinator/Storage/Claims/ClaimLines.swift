import DePINProtocol

/// A round's accepted claims as stored with its receipt batch: one line per claim, in leaf
/// order, its fields separated by spaces (`id node content session bytes segments ttfb first
/// last accepted`). Every field is hex, digits, or an identifier of letters, digits, `-` and `_`, so
/// the text needs no escaping; the batch gives the acceptance time and the leaf is the line.
///
/// ## Performance characteristics
/// One append per field when a round is written, one split per line when one is read: a
/// round of 20,000 claims is one row of about 4 MB instead of 20,000 rows and their indexes.
enum ClaimLines {
    /// Seconds between the first and the last acceptance time of one batch's claims, at most
    /// (the batch is stored under the first; ClaimBook keeps to it).
    static let spread: Int64 = 60

    /// The lines of `claims`, in the order given (their leaves).
    static func encode(_ claims: [ClaimRecord]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(claims.count * 200)
        func field(_ value: String) {
            text += value.utf8
            text.append(UInt8(ascii: " "))
        }
        func number(_ value: Int64, then separator: UInt8 = UInt8(ascii: " ")) {
            JSONText.appendDecimal(value, to: &text)
            text.append(separator)
        }
        for claim in claims {
            field(claim.id)
            field(claim.node)
            field(claim.content)
            field(claim.session)
            number(claim.bytes)
            number(Int64(claim.segments ?? 0))
            number(Int64(claim.ttfbMilliseconds ?? 0))
            number(claim.firstAt ?? claim.acceptedAt)
            number(claim.lastAt ?? claim.acceptedAt)
            number(claim.acceptedAt, then: UInt8(ascii: "\n"))
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The claims of batch `batch`.
    /// - Throws: ``StoreFailure/corrupt(_:)`` when a line does not have its ten fields.
    static func decode(_ text: String, batch: String) throws -> [ClaimRecord] {
        var claims: [ClaimRecord] = []
        for (leaf, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == 10, let bytes = Int64(fields[4]), let segments = Int(fields[5]), let ttfb = Int(fields[6]),
                let firstAt = Int64(fields[7]), let lastAt = Int64(fields[8]), let acceptedAt = Int64(fields[9])
            else {
                throw StoreFailure.corrupt("claim \(leaf) of receipt batch \(batch) is damaged")
            }
            claims.append(
                ClaimRecord(
                    id: String(fields[0]), node: String(fields[1]), content: String(fields[2]), session: String(fields[3]), bytes: bytes,
                    acceptedAt: acceptedAt, segments: segments, ttfbMilliseconds: ttfb, firstAt: firstAt, lastAt: lastAt, batch: batch, leaf: leaf))
        }
        return claims
    }

    /// Where a claim id is kept: its batch and leaf, or no batch for a claim kept on its own row.
    struct Place {
        var id: String
        var batch: String
        var leaf: Int
    }

    /// The claims at `places`, from their batches' lines where `texts` has them; the ids of the
    /// rest, kept on their own rows (the layout of before), are returned for the caller to read.
    /// - Throws: ``StoreFailure/corrupt(_:)`` when a batch's lines are damaged or too few.
    static func claims(at places: [Place], texts: [String: String]) throws -> (claims: [ClaimRecord], ownRows: [String]) {
        var decoded: [String: [ClaimRecord]] = [:]
        var claims: [ClaimRecord] = []
        var ownRows: [String] = []
        for place in places {
            guard let text = texts[place.batch] else {
                ownRows.append(place.id)
                continue
            }
            if decoded[place.batch] == nil { decoded[place.batch] = try decode(text, batch: place.batch) }
            guard let lines = decoded[place.batch], lines.indices.contains(place.leaf), lines[place.leaf].id == place.id else {
                throw StoreFailure.corrupt("claim \(place.id) is not at leaf \(place.leaf) of receipt batch \(place.batch)")
            }
            claims.append(lines[place.leaf])
        }
        return (claims, ownRows)
    }

    /// Claims in the order the store answers them: by acceptance time, then id.
    static func sorted(_ claims: [ClaimRecord]) -> [ClaimRecord] {
        claims.sorted { ($0.acceptedAt, $0.id) < ($1.acceptedAt, $1.id) }
    }

    /// Which claims of a save go into each batch's lines (those naming it, in leaf order, when
    /// their leaves are exactly 0 to n - 1), and which are kept on their own rows.
    static func split(_ claims: [ClaimRecord], batches: [ReceiptBatch]) -> (lines: [String: [ClaimRecord]], ownRows: [ClaimRecord]) {
        // A round's claims as ClaimBook lays them out: all of one batch, in leaf order.
        if batches.count == 1, claims.enumerated().allSatisfy({ isLine($0.element, of: batches[0].id, leaf: $0.offset) }) {
            return ([batches[0].id: claims], [])
        }
        let named = Set(batches.map(\.id))
        var lines: [String: [ClaimRecord]] = [:]
        var ownRows: [ClaimRecord] = []
        for claim in claims {
            if let batch = claim.batch, named.contains(batch), let leaf = claim.leaf, isLine(claim, of: batch, leaf: leaf) {
                lines[batch, default: []].append(claim)
            } else {
                ownRows.append(claim)
            }
        }
        for (batch, members) in lines {
            let ordered = members.sorted { $0.leaf! < $1.leaf! }
            if ordered.enumerated().allSatisfy({ $0.offset == $0.element.leaf }) {
                lines[batch] = ordered
            } else {
                lines[batch] = nil
                ownRows += members
            }
        }
        return (lines, ownRows)
    }

    /// Whether `claim` can be line `leaf` of batch `batch`: it names them and has every field
    /// a line keeps.
    private static func isLine(_ claim: ClaimRecord, of batch: String, leaf: Int) -> Bool {
        claim.leaf == leaf && claim.batch == batch && claim.segments != nil && claim.ttfbMilliseconds != nil && claim.firstAt != nil
            && claim.lastAt != nil && claim.receipt.isEmpty
    }
}

/// Claims and their receipt batches laid out as the stores keep them: which claims are lines
/// of which batch (and those lines' text), which are kept on rows of their own. Made before a
/// store's transaction, on the caller's task, so the store's single writer does not.
package struct ClaimsToSave: Sendable {
    package let claims: [ClaimRecord]
    package let batches: [ReceiptBatch]
    let lines: [String: [ClaimRecord]]
    let texts: [String: String]
    let ownRows: [ClaimRecord]

    package init(_ claims: [ClaimRecord], batches: [ReceiptBatch]) {
        self.claims = claims
        self.batches = batches
        (lines, ownRows) = ClaimLines.split(claims, batches: batches)
        texts = lines.mapValues(ClaimLines.encode)
    }

    private init(claims: [ClaimRecord], batches: [ReceiptBatch], lines: [String: [ClaimRecord]], texts: [String: String], ownRows: [ClaimRecord]) {
        self.claims = claims
        self.batches = batches
        self.lines = lines
        self.texts = texts
        self.ownRows = ownRows
    }

    /// Several saves as one (their batches are distinct).
    package static func merged(_ saves: [ClaimsToSave]) -> ClaimsToSave {
        guard saves.count != 1 else { return saves[0] }
        return ClaimsToSave(
            claims: saves.flatMap(\.claims), batches: saves.flatMap(\.batches),
            lines: saves.reduce(into: [:]) { $0.merge($1.lines) { first, _ in first } },
            texts: saves.reduce(into: [:]) { $0.merge($1.texts) { first, _ in first } }, ownRows: saves.flatMap(\.ownRows))
    }
}
