import Foundation
import MTLCore

/// A number as the program's JSON files hold it: finite values as numbers, NaN and infinities
/// (an undefined figure) as null, which reads back as NaN. JSONEncoder itself refuses NaN.
public struct JSONNumber: Codable, Sendable, Equatable {
    public var value: Double
    public init(_ value: Double) { self.value = value }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        value = c.decodeNil() ? .nan : try c.decode(Double.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if value.isFinite { try c.encode(value) } else { try c.encodeNil() }
    }

    public static func == (a: JSONNumber, b: JSONNumber) -> Bool { a.value == b.value || (a.value.isNaN && b.value.isNaN) }
}

extension Array where Element == Double {
    /// The values as JSON numbers (NaN as null).
    public var json: [JSONNumber] { map(JSONNumber.init) }
}

extension Array where Element == JSONNumber {
    public var values: [Double] { map(\.value) }
}

/// The program's JSON text: sorted keys (stable files), optionally indented.
public enum JSON {
    public static func text<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    /// Decodes `data`, naming `file` (and what failed) in the error.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw UserError("\(file) does not hold what mtl-worker wrote there: \(error)",
                            hint: "the file is damaged or from another version; remove it to have it written anew")
        }
    }
}
