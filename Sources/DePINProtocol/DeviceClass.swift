import Foundation

/// The whitepaper's device classes: minimum resources, the tasks each may take, and the stake
/// each must have bonded (DESIGN.md, "Device classes").
package struct DeviceClass: Sendable, Equatable {
    package enum Task: String, Sendable, CaseIterable {
        case hosting
        case transcoding
        case delivery
    }

    package let name: String
    package let minimumCores: Int
    package let minimumRAMGB: Double
    package let needsGPU: Bool
    package let needsSSD: Bool
    package let tasks: Set<Task>
    /// Base units (1 DHB = 10^8).
    package let stake: Int64

    package static let baseUnitsPerDHB: Int64 = 100_000_000

    package static let all: [DeviceClass] = [
        DeviceClass(name: "mobile", minimumCores: 4, minimumRAMGB: 4, needsGPU: false, needsSSD: false, tasks: [.hosting], stake: 100_000 * baseUnitsPerDHB),
        DeviceClass(
            name: "pc", minimumCores: 4, minimumRAMGB: 8, needsGPU: true, needsSSD: false, tasks: [.transcoding, .hosting, .delivery],
            stake: 1_000_000 * baseUnitsPerDHB),
        DeviceClass(
            name: "server", minimumCores: 8, minimumRAMGB: 16, needsGPU: false, needsSSD: true, tasks: [.hosting, .delivery],
            stake: 10_000_000 * baseUnitsPerDHB),
    ]

    package static func named(_ name: String) -> DeviceClass? { all.first { $0.name == name } }

    /// Why `request` does not meet this class's minimums, or nil when it does.
    package func shortfall(_ request: RegistrationRequest) -> String? {
        var missing: [String] = []
        if request.cores < minimumCores { missing.append("\(minimumCores) cores (has \(request.cores))") }
        if request.ramGB < minimumRAMGB { missing.append("\(Self.format(minimumRAMGB)) GB RAM (has \(Self.format(request.ramGB)))") }
        if needsGPU && !request.gpu { missing.append("a GPU") }
        if needsSSD && !request.ssd { missing.append("an SSD") }
        return missing.isEmpty ? nil : "class \(name) needs " + missing.joined(separator: ", ")
    }

    /// Why the bonded stake is not enough, or nil when it is.
    package func stakeShortfall(bonded: Int64) -> String? {
        bonded >= stake
            ? nil
            : "class \(name) needs \(Self.dhb(stake)) DHB bonded; \(Self.dhb(bonded)) is"
    }

    /// Base units as DHB, thousands separated, without trailing zeros.
    package static func dhb(_ units: Int64) -> String {
        let whole = units / baseUnitsPerDHB, fraction = units % baseUnitsPerDHB
        let digits = Array(String(whole))
        var text = ""
        for (position, digit) in digits.enumerated() {
            if position > 0 && (digits.count - position) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return fraction == 0 ? text : text + "." + String(format: "%08lld", fraction).replacingOccurrences(of: "0+$", with: "", options: .regularExpression)
    }

    static func format(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }
}
