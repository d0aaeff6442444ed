import Crypto
import Foundation

/// The client side of SCRAM-SHA-256 (RFC 5802 / RFC 7677) as Postgres uses it:
/// no channel binding (`n,,`), the user name left empty (the server takes it
/// from the startup packet). The password is used as is (no SASLprep), which
/// is exact for ASCII passwords.
struct SCRAMSHA256Client {
    let password: String
    let clientNonce: String
    /// Postgres ignores it (it uses the startup packet's user); RFC test vectors set it.
    let user: String
    private var clientFirstBare = ""
    private var saltedPassword: [UInt8] = []
    private var authMessage = ""

    init(password: String, clientNonce: String = SCRAMSHA256Client.makeNonce(), user: String = "") {
        self.password = password
        self.clientNonce = clientNonce
        self.user = user
    }

    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
    }

    /// client-first-message: `n,,n=,r=<nonce>`.
    mutating func clientFirstMessage() -> [UInt8] {
        clientFirstBare = "n=\(user),r=\(clientNonce)"
        return Array(("n,," + clientFirstBare).utf8)
    }

    /// Reads server-first-message (`r=...,s=...,i=...`), returns client-final-message with the proof.
    mutating func clientFinalMessage(serverFirst: [UInt8]) throws(PostgresReplicationError) -> [UInt8] {
        let serverFirstText = String(decoding: serverFirst, as: UTF8.self)
        var attributes: [Character: String] = [:]
        for part in serverFirstText.split(separator: ",") where part.count >= 2 {
            let key = part[part.startIndex]
            attributes[key] = String(part.dropFirst(2))
        }
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
            let saltText = attributes["s"], let salt = Data(base64Encoded: saltText),
            let iterationsText = attributes["i"], let iterations = Int(iterationsText), iterations > 0
        else {
            throw PostgresReplicationError(.protocolViolation, "malformed SCRAM server-first-message")
        }
        saltedPassword = Self.hi(password: Array(password.utf8), salt: Array(salt), iterations: iterations)
        let clientKey = Self.hmac(key: saltedPassword, Array("Client Key".utf8))
        let storedKey = Array(SHA256.hash(data: clientKey))
        let clientFinalWithoutProof = "c=biws,r=\(nonce)"
        authMessage = clientFirstBare + "," + serverFirstText + "," + clientFinalWithoutProof
        let clientSignature = Self.hmac(key: storedKey, Array(authMessage.utf8))
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        return Array((clientFinalWithoutProof + ",p=" + Data(proof).base64EncodedString()).utf8)
    }

    /// Checks server-final-message (`v=<signature>`): the server knew the password too.
    func verifyServerFinal(_ serverFinal: [UInt8]) throws(PostgresReplicationError) {
        let text = String(decoding: serverFinal, as: UTF8.self)
        guard text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))) else {
            throw PostgresReplicationError(.authenticationFailed, "SCRAM server-final-message without a signature")
        }
        let serverKey = Self.hmac(key: saltedPassword, Array("Server Key".utf8))
        let expected = Self.hmac(key: serverKey, Array(authMessage.utf8))
        guard Array(signature) == expected else {
            throw PostgresReplicationError(.authenticationFailed, "SCRAM server signature does not match")
        }
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Hi() of RFC 5802: PBKDF2 with HMAC-SHA-256 and one output block.
    static func hi(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = block
        for _ in 1..<iterations {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }
}

/// Postgres' md5 password response: `"md5" + md5hex(md5hex(password + user) + salt)`.
enum MD5Password {
    static func response(user: String, password: String, salt: [UInt8]) -> String {
        let inner = hex(Insecure.MD5.hash(data: Array((password + user).utf8)))
        return "md5" + hex(Insecure.MD5.hash(data: Array(inner.utf8) + salt))
    }

    private static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in digest {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
