@testable import Coordinator
import DePINProtocol
import Foundation
import Testing

@Suite("Registry rules: classes, stake, routability, strict messages")
struct RegistryTests {
    func request(_ deviceClass: String, cores: Int = 8, ram: Double = 16, gpu: Bool = true, ssd: Bool = true) -> RegistrationRequest {
        RegistrationRequest(
            publicKey: "k", deviceClass: deviceClass, cores: cores, ramGB: ram, mbps: 100, gpu: gpu, diskGB: 500, ssd: ssd,
            latitude: 1, longitude: 2, url: "https://e:1")
    }

    @Test("each class's minimums are checked and the refusal says what is missing")
    func minimums() {
        #expect(DeviceClass.named("pc")!.shortfall(request("pc")) == nil)
        #expect(DeviceClass.named("pc")!.shortfall(request("pc", cores: 2, gpu: false)) == "class pc needs 4 cores (has 2), a GPU")
        #expect(DeviceClass.named("server")!.shortfall(request("server", ram: 8, ssd: false)) == "class server needs 16 GB RAM (has 8), an SSD")
        #expect(DeviceClass.named("mobile")!.shortfall(request("mobile", cores: 4, ram: 4, gpu: false, ssd: false)) == nil)
        #expect(DeviceClass.named("fridge") == nil)
    }

    @Test("stake: the whitepaper's amounts, said in DHB")
    func stake() {
        let pc = DeviceClass.named("pc")!
        #expect(pc.stakeShortfall(bonded: 1_000_000 * DeviceClass.baseUnitsPerDHB) == nil)
        #expect(pc.stakeShortfall(bonded: 999_999 * DeviceClass.baseUnitsPerDHB + 50_000_000) == "class pc needs 1,000,000 DHB bonded; 999,999.5 is")
        #expect(DeviceClass.named("server")!.stake == 10_000_000 * DeviceClass.baseUnitsPerDHB)
        #expect(DeviceClass.named("mobile")!.stake == 100_000 * DeviceClass.baseUnitsPerDHB)
    }

    @Test("routable only when delivering, staked, not slashed, healthy, heartbeating and under its load limit")
    func routability() throws {
        let policy = RoutingPolicy(heartbeatTimeout: 30, maximumLoad: 0.9)
        var node = NodeRecord(
            id: "n", publicKey: "k", deviceClass: "pc", cores: 8, ramGB: 16, mbps: 100, gpu: true, diskGB: 500, ssd: true,
            latitude: 0, longitude: 0, url: "https://n", registeredAt: 0, lastHeartbeat: 100)
        var stake = StakeBalance()
        try stake.apply(LedgerEvent(node: "n", kind: .deposit, amount: 2_000_000 * DeviceClass.baseUnitsPerDHB, reason: "t", at: 0))
        #expect(policy.refusal(node, stake: stake, now: 110)?.contains("needs 1,000,000 DHB bonded") == true)
        try stake.apply(LedgerEvent(node: "n", kind: .bond, amount: 1_000_000 * DeviceClass.baseUnitsPerDHB, reason: "t", at: 0))
        #expect(policy.refusal(node, stake: stake, now: 110) == nil)
        #expect(policy.refusal(node, stake: stake, now: 131) == "no heartbeat for 31 s")
        node.load = 0.95
        #expect(policy.refusal(node, stake: stake, now: 110) == "load 0.95 is at its limit")
        node.load = 0.1
        node.healthy = false
        #expect(policy.refusal(node, stake: stake, now: 110) == "reported unhealthy")
        node.healthy = true
        var mobile = node
        mobile.deviceClass = "mobile"
        #expect(policy.refusal(mobile, stake: stake, now: 110) == "class mobile does not deliver to viewers")
        try stake.apply(LedgerEvent(node: "n", kind: .slash, amount: 1, reason: "failed challenges", at: 105))
        #expect(policy.refusal(node, stake: stake, now: 110) == "slashed")
    }

    @Test("registration JSON: unknown fields, wrong types, missing fields and huge bodies are refused by name")
    func strictJSON() throws {
        let good = try JSONEncoder().encode(request("pc"))
        #expect(try StrictJSON.decode(RegistrationRequest.self, from: good) == request("pc"))
        let cases: [(String, String)] = [
            (#"{"publicKey":"k","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"url":"u","stake":5}"#, "unknown field 'stake'"),
            (#"{"publicKey":"k","deviceClass":"pc","cores":"eight","ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"url":"u"}"#, "field 'cores' has the wrong type"),
            (#"{"publicKey":"k","deviceClass":"pc","ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"url":"u"}"#, "missing field 'cores'"),
            (#"[1,2]"#, "must be a JSON object"),
            (#"{"publicKey":"#, "not JSON"),
        ]
        for (text, words) in cases {
            #expect { try StrictJSON.decode(RegistrationRequest.self, from: Data(text.utf8)) } throws: { "\($0)".contains(words) }
        }
        let huge = Data(repeating: UInt8(ascii: " "), count: StrictJSON.maxBytes + 1)
        #expect { try StrictJSON.decode(HeartbeatRequest.self, from: huge) } throws: { "\($0)".contains("at most") }
    }

    @Test("region names map to places")
    func regions() {
        #expect(Regions.point("EU-West") == GeoPoint(latitude: 53.35, longitude: -6.26))
        #expect(Regions.point("atlantis") == nil)
        let valid = Regions.table.values.allSatisfy { $0.isValid }
        #expect(valid)
    }
}
