import Foundation
import MTLCore

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// mapping tensor names to dtype, shape and byte offsets (plus a string-to-string
/// `__metadata__`), then the raw little-endian tensor bytes. Only F32 tensors are used here.
public enum SafeTensors {
    public struct TensorInfo {
        public var name: String
        public var shape: [Int]
        public var begin: Int
        public var end: Int
    }

    /// A file read into memory.
    public struct File {
        public let path: String
        public let metadata: [String: String]
        public let tensors: [String: TensorInfo]
        public let order: [String]
        let bytes: Data
        let dataStart: Int

        /// Copies tensor `name` into `destination`, checking its shape.
        public func copy(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
            guard let t = tensors[name] else {
                throw UserError("checkpoint '\(path)' has no tensor '\(name)'", hint: "it was written for a different model or config")
            }
            guard t.shape == shape else {
                throw UserError("checkpoint '\(path)': tensor '\(name)' has shape \(t.shape), the model needs \(shape)",
                                hint: "it was written for a different model or config")
            }
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(destination).copyMemory(from: raw.baseAddress! + dataStart + t.begin, byteCount: t.end - t.begin)
            }
        }
    }

    /// The JSON header: `__metadata__` (text to text) and per tensor its dtype, shape and byte
    /// offsets within the data that follows the header.
    struct Header: Codable {
        struct Entry: Codable {
            var dtype: String
            var shape: [Int]
            var dataOffsets: [Int]
            enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
        }
        var metadata: [String: String]
        var tensors: [String: Entry]

        static let metadataKey = "__metadata__"

        init(metadata: [String: String], tensors: [String: Entry]) { self.metadata = metadata; self.tensors = tensors }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            metadata = try c.decodeIfPresent([String: String].self, forKey: AnyKey(Self.metadataKey)) ?? [:]
            tensors = [:]
            for k in c.allKeys where k.stringValue != Self.metadataKey {
                tensors[k.stringValue] = try c.decode(Entry.self, forKey: k)
            }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.encode(metadata, forKey: AnyKey(Self.metadataKey))
            for (name, e) in tensors { try c.encode(e, forKey: AnyKey(name)) }
        }
    }

    /// Writes named F32 tensors laid out back to back in `buffers` (each entry's offset counts
    /// floats from the start of its buffer) atomically.
    public static func write(path: String, metadata: [String: String],
                             tensors: [(name: String, shape: [Int], buffer: Int, offset: Int)],
                             buffers: [UnsafeBufferPointer<Float>]) throws {
        var bufferStarts: [Int] = []
        var position = 0
        for b in buffers { bufferStarts.append(position); position += b.count * 4 }
        var entries: [String: Header.Entry] = [:]
        for t in tensors {
            let begin = bufferStarts[t.buffer] + t.offset * 4
            let count = t.shape.reduce(1, *)
            entries[t.name] = Header.Entry(dtype: "F32", shape: t.shape, dataOffsets: [begin, begin + count * 4])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var json = try encoder.encode(Header(metadata: metadata, tensors: entries))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        let lengthBytes = Data(bytes: &length, count: 8)
        try lengthBytes.withUnsafeBytes { l in
            try json.withUnsafeBytes { h in
                try AtomicFile.write(path, parts: [l, h] + buffers.map { UnsafeRawBufferPointer($0) })
            }
        }
    }

    public static func read(path: String) throws -> File {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw UserError("cannot read checkpoint '\(path)'", hint: "check the path given to --checkpoint")
        }
        guard bytes.count >= 8 else { throw UserError("'\(path)' is not a safetensors file: it is \(bytes.count) bytes long") }
        let length = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(bytes.count - 8),
              let header = try? JSONDecoder().decode(Header.self, from: bytes.subdata(in: 8..<(8 + Int(length)))) else {
            throw UserError("'\(path)' is not a safetensors file: its header does not parse", hint: "the file may be truncated or of another format")
        }
        let dataStart = 8 + Int(length)
        let dataLength = bytes.count - dataStart
        var tensors: [String: TensorInfo] = [:]
        for (name, e) in header.tensors {
            // Every size comes from the file: checked without overflow before it is used.
            var elements = 1, overflow = false
            for d in e.shape {
                guard d >= 0 else { overflow = true; break }
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                elements = p; overflow = overflow || o
            }
            let (byteCount, o4) = elements.multipliedReportingOverflow(by: 4)
            guard e.dtype == "F32", !overflow, !o4, e.dataOffsets.count == 2, e.dataOffsets[0] >= 0,
                  e.dataOffsets[1] >= e.dataOffsets[0], e.dataOffsets[1] <= dataLength,
                  e.dataOffsets[1] - e.dataOffsets[0] == byteCount else {
                throw UserError("'\(path)': tensor '\(name)' has an unsupported dtype or bad offsets", hint: "the file may be truncated")
            }
            tensors[name] = TensorInfo(name: name, shape: e.shape, begin: e.dataOffsets[0], end: e.dataOffsets[1])
        }
        let order = tensors.values.sorted { $0.begin < $1.begin }.map(\.name)
        return File(path: path, metadata: header.metadata, tensors: tensors, order: order, bytes: bytes, dataStart: dataStart)
    }
}
