import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A throwaway certificate for an edge started without one: P-256, valid for 30 days, for
/// `localhost`, `127.0.0.1`, `::1` and the host name. Clients must be told to trust it
/// (`curl -k`); the edge says so in its log.
package enum SelfSignedCertificate {
    /// Makes a certificate and key, PEM encoded.
    package static func make(hostName: String) throws -> (certificatePEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName(hostName)
            OrganizationName("DeHub DePIN edge (self-signed)")
        }
        let now = Date()
        var names: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        if hostName != "localhost" { names.append(.dnsName(hostName)) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(30 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: privateKey
        )
        return (try certificate.serializeAsPEM().pemString, try privateKey.serializeAsPEM().pemString)
    }
}
