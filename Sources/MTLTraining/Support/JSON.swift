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

/// A value whose NaNs the program's JSON files hold as null (an undefined figure).
public protocol NaNRepresentable: Sendable {
    associatedtype JSONForm: Codable
    var jsonForm: JSONForm { get }
    init(jsonForm: JSONForm)
}

extension Double: NaNRepresentable {
    public var jsonForm: JSONNumber { JSONNumber(self) }
    public init(jsonForm: JSONNumber) { self = jsonForm.value }
}

extension Array: NaNRepresentable where Element: NaNRepresentable {
    public var jsonForm: [Element.JSONForm] { map(\.jsonForm) }
    public init(jsonForm: [Element.JSONForm]) { self = jsonForm.map(Element.init(jsonForm:)) }
}

extension Dictionary: NaNRepresentable where Key == String, Value: NaNRepresentable {
    public var jsonForm: [String: Value.JSONForm] { mapValues(\.jsonForm) }
    public init(jsonForm: [String: Value.JSONForm]) { self = jsonForm.mapValues(Value.init(jsonForm:)) }
}

/// Marks a stored property whose NaNs JSON writes as null and reads back as NaN, so that the
/// type's Codable conformance can be synthesized.
@propertyWrapper
public struct NaNAsNull<Value: NaNRepresentable>: Codable, Sendable {
    public var wrappedValue: Value
    public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws { wrappedValue = Value(jsonForm: try Value.JSONForm(from: decoder)) }
    public func encode(to encoder: Encoder) throws { try wrappedValue.jsonForm.encode(to: encoder) }
}

/// A coding key of any name (objects whose keys are data: metric names, tensor names).
struct AnyKey: CodingKey {
    var stringValue: String
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}
