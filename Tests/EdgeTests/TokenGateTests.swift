import Crypto
import DePINProtocol
import Foundation
import HTTPTypes
import Testing

@testable import Edge

@Suite("Token gate: verified tokens remembered within a fixed bound")
struct TokenGateTests {
    @Test("past its capacity the gate forgets the oldest token and keeps remembering new ones; a forgotten token is verified again")
    func boundedAndNeverSaturated() async throws {
        let key = Curve25519.Signing.PrivateKey()
        let issuer = await PlaybackTokens(signingKey: key)
        let gate = TokenGate(coordinator: "http://coordinator.invalid/", capacity: 3)
        try await gate.install(publicKey: key.publicKey.rawRepresentation)
        var tokens: [String] = []
        for index in 0..<10 {
            let token = try await issuer.issue(content: "film", session: "s\(index)", lifetime: 600)
            tokens.append(token)
            #expect(await gate.refusal(token, content: "film") == nil)
            #expect(gate.allowsRemembered(token, content: "film"), "token \(index) is remembered once verified")
            #expect(gate.rememberedCount == min(index + 1, 3))
        }
        #expect(!gate.allowsRemembered(tokens[0], content: "film"), "the oldest was forgotten")
        #expect(gate.allowsRemembered(tokens[7], content: "film") && !gate.allowsRemembered(tokens[7], content: "other"))
        #expect(await gate.refusal(tokens[0], content: "film") == nil, "a forgotten token is verified again")
        #expect(gate.session(of: tokens[0]) == "s0" && gate.rememberedCount == 3)
        let other = try await issuer.issue(content: "other", session: "x", lifetime: 600)
        #expect(await gate.refusal(other, content: "film")?.status == .forbidden)
        #expect(gate.rememberedCount == 3)
    }
}
