import Foundation
import CZlib
import MTLCore

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// mapping tensor names to dtype, shape and byte offsets (plus a string-to-string
/// `__metadata__`), then the raw little-endian tensor bytes. Only F32 tensors are used here.
/// The writer adds `data_crc32` to the metadata, the CRC-32 (zlib's) of the tensor bytes, and
/// the reader checks it, so a flipped bit or a torn copy is refused instead of loaded.
public enum SafeTensors {
    /// The metadata key of the tensor bytes' CRC-32.
    public static let checksumKey = "data_crc32"
    /// The metadata key of the CRC-32 of the rest of the header: every other metadata entry and
    /// every tensor's name, shape and offsets, in a canonical order (so no stored config,
    /// vocabulary or offset changes unnoticed).
    public static let headerChecksumKey = "header_crc32"

    static func headerCRC(metadata: [String: String], tensors: [String: Header.Entry]) -> UInt32 {
        var text: [UInt8] = []
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) where k != checksumKey && k != headerChecksumKey {
            text += Array(k.utf8) + [0] + Array(v.utf8) + [0]
        }
        for (name, e) in tensors.sorted(by: { $0.key < $1.key }) {
            text += Array(name.utf8) + [0] + Array("\(e.dtype) \(e.shape) \(e.dataOffsets)".utf8) + [0]
        }
        return text.withUnsafeBytes { crc32([$0]) }
    }
    /// The largest header this reader accepts (a config and a fitted vocabulary fit well within).
    static let maxHeader = 1 << 30

    /// zlib's CRC-32 of byte ranges in order.
    static func crc32(_ parts: [UnsafeRawBufferPointer]) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        for part in parts {
            guard let base = part.baseAddress else { continue }
            var offset = 0
            while offset < part.count {
                let n = min(part.count - offset, 1 << 30)
                crc = CZlib.crc32(crc, (base + offset).assumingMemoryBound(to: UInt8.self), UInt32(n))
                offset += n
            }
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Bytes per element of the dtypes read and written here.
    static let elementSize = ["F32": 4, "I8": 1]

    public struct TensorInfo {
        public var name: String
        public var dtype: String
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
            guard t.shape == shape, t.dtype == "F32" else {
                throw UserError("checkpoint '\(path)': tensor '\(name)' has shape \(t.shape) (\(t.dtype)), the model needs \(shape) (F32)",
                                hint: "it was written for a different model or config")
            }
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(destination).copyMemory(from: raw.baseAddress! + dataStart + t.begin, byteCount: t.end - t.begin)
            }
        }
    }
}

extension SafeTensors.File {
    /// Tensor `name`'s values when it is F32 (nil otherwise, or when there is none).
    public func floats(_ name: String) -> [Float]? {
        guard let t = tensors[name], t.dtype == "F32" else { return nil }
        var out = [Float](repeating: 0, count: (t.end - t.begin) / 4)
        out.withUnsafeMutableBytes { o in bytes.withUnsafeBytes { raw in o.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(dataStart + t.begin)..<(dataStart + t.end)])) } }
        return out
    }

    /// Tensor `name`'s values when it is I8.
    public func int8(_ name: String) -> [Int8]? {
        guard let t = tensors[name], t.dtype == "I8" else { return nil }
        return bytes.withUnsafeBytes { raw in raw[(dataStart + t.begin)..<(dataStart + t.end)].map { Int8(bitPattern: $0) } }
    }
}

extension SafeTensors {
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
        try write(path: path, metadata: metadata, entries: entries, parts: buffers.map { UnsafeRawBufferPointer($0) })
    }

    /// One tensor for `write(path:metadata:tensors:)`: F32 or I8 bytes, little-endian.
    public struct RawTensor {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        public var bytes: [UInt8]
        public init(name: String, shape: [Int], float values: [Float]) {
            self.name = name; dtype = "F32"; self.shape = shape
            bytes = values.withUnsafeBytes { Array($0) }
        }
        public init(name: String, shape: [Int], int8 values: [Int8]) {
            self.name = name; dtype = "I8"; self.shape = shape
            bytes = values.map { UInt8(bitPattern: $0) }
        }
    }

    /// Writes tensors of either dtype back to back, in the given order, atomically.
    public static func write(path: String, metadata: [String: String], tensors: [RawTensor]) throws {
        var entries: [String: Header.Entry] = [:]
        var position = 0
        for t in tensors {
            entries[t.name] = Header.Entry(dtype: t.dtype, shape: t.shape, dataOffsets: [position, position + t.bytes.count])
            position += t.bytes.count
        }
        var data: [UInt8] = []
        data.reserveCapacity(position)
        for t in tensors { data += t.bytes }
        try data.withUnsafeBytes { try write(path: path, metadata: metadata, entries: entries, parts: [$0]) }
    }

    static func write(path: String, metadata: [String: String], entries: [String: Header.Entry], parts: [UnsafeRawBufferPointer]) throws {
        var meta = metadata
        meta[checksumKey] = String(crc32(parts))
        meta[headerChecksumKey] = String(headerCRC(metadata: meta, tensors: entries))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var json = try encoder.encode(Header(metadata: meta, tensors: entries))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        let lengthBytes = Data(bytes: &length, count: 8)
        try lengthBytes.withUnsafeBytes { l in
            try json.withUnsafeBytes { h in
                try AtomicFile.write(path, parts: [l, h] + parts)
            }
        }
    }

    public static func read(path: String) throws -> File {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw UserError("cannot read checkpoint '\(path)'", hint: "check the path given to --checkpoint")
        }
        guard bytes.count >= 8 else { throw UserError("'\(path)' is not a safetensors file: it is \(bytes.count) bytes long") }
        let length = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(bytes.count - 8), length <= UInt64(maxHeader),
              let header = try? JSONDecoder().decode(Header.self, from: bytes.subdata(in: 8..<(8 + Int(length)))) else {
            throw UserError("'\(path)' is not a safetensors file: its header does not parse", hint: "the file may be truncated or of another format")
        }
        let dataStart = 8 + Int(length)
        let dataLength = bytes.count - dataStart
        func bad(_ what: String) -> UserError {
            UserError("'\(path)' is not a valid checkpoint: \(what)", hint: "the file is damaged or truncated; use another checkpoint (train --resume falls back to the newest intact one)")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, e) in header.tensors {
            // Every size comes from the file: checked without overflow before it is used.
            var elements = 1, overflow = false
            for d in e.shape {
                guard d >= 0 else { overflow = true; break }
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                elements = p; overflow = overflow || o
            }
            guard let size = elementSize[e.dtype] else { throw bad("tensor '\(name)' has dtype \(e.dtype), not F32 or I8") }
            let (byteCount, o4) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, !o4, e.dataOffsets.count == 2, e.dataOffsets[0] >= 0, e.dataOffsets[1] >= e.dataOffsets[0],
                  e.dataOffsets[1] - e.dataOffsets[0] == byteCount else {
                throw bad("tensor '\(name)' has shape \(e.shape) and offsets \(e.dataOffsets), which do not match")
            }
            guard e.dataOffsets[1] <= dataLength else { throw bad("tensor '\(name)' ends at byte \(e.dataOffsets[1]) of \(dataLength) data bytes") }
            tensors[name] = TensorInfo(name: name, dtype: e.dtype, shape: e.shape, begin: e.dataOffsets[0], end: e.dataOffsets[1])
        }
        // The tensors tile the data exactly: in order, no gap, no overlap, nothing after.
        var position = 0
        for t in tensors.values.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard t.begin == position else { throw bad("tensor '\(t.name)' starts at byte \(t.begin), not where the one before ends (\(position))") }
            position = t.end
        }
        guard position == dataLength else { throw bad("\(dataLength - position) bytes follow the last tensor") }
        if let stored = header.metadata[headerChecksumKey] {
            let actual = headerCRC(metadata: header.metadata, tensors: header.tensors)
            guard UInt32(stored) == actual else { throw bad("its header's CRC-32 is \(actual), the header says \(stored)") }
        }
        if let stored = header.metadata[checksumKey] {
            let actual = bytes.withUnsafeBytes { raw in crc32([UnsafeRawBufferPointer(rebasing: raw[dataStart...])]) }
            guard UInt32(stored) == actual else { throw bad("its data's CRC-32 is \(actual), the header says \(stored)") }
        }
        let order = tensors.values.sorted { $0.begin < $1.begin }.map(\.name)
        return File(path: path, metadata: header.metadata, tensors: tensors, order: order, bytes: bytes, dataStart: dataStart)
    }
}
