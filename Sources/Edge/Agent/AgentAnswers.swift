import AsyncHTTPClient
import DePINProtocol
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Recurring

extension CoordinatorAgent {
    /// Answers a capacity probe with the work of every core this machine has.
    func respond(to probe: WorkProbe) async {
        let started = ContinuousClock.now
        guard let nonces = await probe.solve(threads: ProcessInfo.processInfo.activeProcessorCount, stopAt: Double(probe.deadline)) else {
            logger.warning("capacity probe \(probe.id): malformed, or not done by its deadline; it counts as unanswered")
            return
        }
        do {
            let verdict = try await link.post("/v1/probes", WorkProbeAnswer(id: probe.id, nonces: nonces), as: WorkProbeVerdict.self)
            let cores = String(format: "%.1f", verdict.measuredCores)
            if let standing = verdict.standing {
                logger.warning("capacity probe \(probe.id): \(verdict.outcome), \(cores) cores measured; \(standing)")
            } else {
                logger.info("capacity probe: \(verdict.outcome), \(cores) cores measured (\(probe.parts) parts in \(ContinuousClock.now - started))")
            }
        } catch {
            logger.warning("capacity probe \(probe.id): answer not taken: \(error)")
        }
    }

    /// Answers a proof-of-retrievability challenge with the chunk and its Merkle path.
    func respond(to challenge: Challenge) async {
        let proof: (data: Data, proof: MerkleProof)
        do {
            proof = try hosted.prove(content: challenge.content, segment: challenge.segment, chunk: challenge.chunk)
        } catch {
            logger.error("challenge \(challenge.id): \(error); it will count as unanswered")
            return
        }
        // An answer the network lost is sent again until the deadline; one the coordinator
        // refused is not.
        var backoff = Backoff(base: .milliseconds(250), cap: .seconds(2))
        while true {
            do {
                let verdict = try await link.post(
                    "/v1/challenges", ChallengeResponse(id: challenge.id, data: proof.data.base64EncodedString(), proof: proof.proof), as: ChallengeVerdict.self)
                if verdict.outcome != "pass" || verdict.standing != nil {
                    logger.warning("challenge \(challenge.id): \(verdict.outcome); \(verdict.standing ?? "reputation \(verdict.reputation)")")
                }
                return
            } catch {
                let refused = (error as? AgentError).map { $0.status < 500 } ?? false
                if refused || Task.isCancelled || Date().timeIntervalSince1970 + 1 >= Double(challenge.deadline) {
                    logger.warning("challenge \(challenge.id): answer not taken: \(error)")
                    return
                }
                logger.info("challenge \(challenge.id): answer not delivered (\(error)); sending it again")
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    func fetchKey() async throws {
        let response = try await link.client.execute(HTTPClientRequest(url: link.base + "/v1/keys/coordinator"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok, let key = CoordinatorKey.decode(Data(body.readableBytesView))?.rawKey else { throw AgentError(status: Int(response.status.code), message: "no coordinator key at \(link.base)/v1/keys/coordinator") }
        try await gate.install(publicKey: key)
        let temporary = keyFile + ".tmp"
        if FileManager.default.createFile(atPath: temporary, contents: key) { rename(temporary, keyFile) }
    }
}
