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

    /// Writes named F32 tensors laid out back to back in `buffers` (each entry's offset counts
    /// floats from the start of its buffer) atomically.
    public static func write(path: String, metadata: [String: String],
                             tensors: [(name: String, shape: [Int], buffer: Int, offset: Int)],
                             buffers: [UnsafeBufferPointer<Float>]) throws {
        var bufferStarts: [Int] = []
        var position = 0
        for b in buffers { bufferStarts.append(position); position += b.count * 4 }
        var header: [String: Any] = ["__metadata__": metadata]
        for t in tensors {
            let begin = bufferStarts[t.buffer] + t.offset * 4
            let count = t.shape.reduce(1, *)
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [begin, begin + count * 4]]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
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
              let object = try? JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + Int(length)))),
              let header = object as? [String: Any] else {
            throw UserError("'\(path)' is not a safetensors file: its header does not parse", hint: "the file may be truncated or of another format")
        }
        let dataStart = 8 + Int(length)
        var metadata: [String: String] = [:]
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in header {
            if name == "__metadata__" { metadata = value as? [String: String] ?? [:]; continue }
            guard let info = value as? [String: Any], info["dtype"] as? String == "F32",
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[1] - offsets[0] == shape.reduce(1, *) * 4, dataStart + offsets[1] <= bytes.count else {
                throw UserError("'\(path)': tensor '\(name)' has an unsupported dtype or bad offsets", hint: "the file may be truncated")
            }
            tensors[name] = TensorInfo(name: name, shape: shape, begin: offsets[0], end: offsets[1])
        }
        let order = tensors.values.sorted { $0.begin < $1.begin }.map(\.name)
        return File(path: path, metadata: metadata, tensors: tensors, order: order, bytes: bytes, dataStart: dataStart)
    }
}
