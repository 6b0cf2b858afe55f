/// `POST /v1/contents`: a published manifest and its content key.
package struct ContentRegistration: Codable, KnownFields {
    package var manifest: ContentManifest
    /// base64 of the 16-byte key.
    package var key: String
    package static let knownFields: Set<String> = ["manifest", "key"]

    package init(manifest: ContentManifest, key: String) {
        self.manifest = manifest
        self.key = key
    }
}
