import Foundation
import CZlib
import CDeflate
import MTLCore

/// A delimited text file read into columns of strings, with the file line of every row kept
/// so that any later error can name it. `.gz` files are decompressed while reading.
public struct TextTable {
    public let file: String
    public let columnNames: [String]
    /// columns[c][r]
    public var columns: [TextColumn]
    /// The 1-based file line of each row.
    public var lines: [Int]
    /// Rows dropped because `bad_rows: skip` was set.
    public var skippedRows: [(line: Int, reason: String)] = []
    /// The CRC-32 of the bytes read (after decompression): ranks compare it at start, so two
    /// ranks that read different contents under the same path stop instead of training apart.
    public var contentChecksum: UInt32 = 0
    /// The optional columns the file left out (see `Format.optionalColumns`).
    public var omittedColumns: [String] = []

    public var rowCount: Int { lines.count }

    /// A table held in memory (a request's rows): `lines` number the rows in messages.
    public init(file: String, columnNames: [String], columns: [[String]], lines: [Int]) {
        self.init(file: file, columnNames: columnNames, columns: columns.map { TextColumn($0) }, lines: lines)
    }

    public init(file: String, columnNames: [String], columns: [TextColumn], lines: [Int]) {
        self.file = file; self.columnNames = columnNames; self.columns = columns; self.lines = lines
    }

    public func columnIndex(_ name: String) -> Int? { columnNames.firstIndex(of: name) }

    /// Reading options, taken from the `data:` section of a config.
    public struct Format {
        public var separator: UInt8
        public var header: Bool
        public var columns: [String]?
        public var comment: String?
        public var trim: Bool
        public var skipBadRows: Bool
        /// Double quotes group a field; off, a quote is an ordinary character (raw text files).
        public var quoting: Bool
        /// Headerless files: columns of `columns` that a file may leave out (a prediction input
        /// without its label columns). When the first row has k fewer fields, the last k of them
        /// in column order are taken as left out (recorded in `omittedColumns`).
        public var optionalColumns: [String] = []

        public init(separator: UInt8 = UInt8(ascii: ","), header: Bool = true, columns: [String]? = nil,
                    comment: String? = nil, trim: Bool = true, skipBadRows: Bool = false, quoting: Bool = true) {
            self.separator = separator; self.header = header; self.columns = columns
            self.comment = comment; self.trim = trim; self.skipBadRows = skipBadRows; self.quoting = quoting
        }
    }

    /// Reads `path`; a row with the wrong number of fields is an error naming the line
    /// (or, with `skipBadRows`, is dropped and recorded in `skippedRows`). The bytes are cut at
    /// line starts into one piece per thread (`Parallel.threads`); each piece is checked as UTF-8
    /// and split into fields on its own, and the pieces' rows are joined in file order, so the
    /// table (and the first error reported) is the same at any number of threads.
    public static func read(path: String, format: Format, threads: Int = Parallel.threads) throws -> TextTable {
        try parse(bytes: try readBytes(path: path), path: path, format: format, threads: threads, continuing: nil).table
    }

    /// Parses `bytes`, the whole of `path` or (`continuing`) a later piece of it that starts at
    /// a line start: its columns are then the earlier pieces' and its first line is `firstLine`.
    /// Also returns the newlines the bytes hold.
    static func parse(bytes: [UInt8], path: String, format: Format, threads: Int,
                      continuing: (names: [String], firstLine: Int)?) throws -> (table: TextTable, newlines: Int) {
        let n = bytes.count
        let lineBase = continuing?.firstLine ?? 1
        let comment = format.comment.map { Array($0.utf8) }
        // Piece boundaries, each the start of a line.
        var starts = [0]
        let parts = Parallel.parts(n, minimum: 1 << 20, threads: threads)
        for i in 1..<max(parts, 1) {
            var b = i * n / parts
            while b < n && bytes[b - 1] != 0x0A { b += 1 }
            if let last = starts.last, b > last && b < n { starts.append(b) }
        }
        let pieces = (0..<starts.count).map { i in starts[i]..<(i + 1 < starts.count ? starts[i + 1] : n) }

        var columnNames = continuing?.names ?? format.columns
        var columns: [TextColumn] = columnNames.map { Array(repeating: TextColumn(), count: $0.count) } ?? []
        var lines: [Int] = []
        var skipped: [(Int, String)] = []
        var omitted: [String] = []
        var resume = 0, resumeLine = lineBase   // where the pieces take over: the first row's line

        let newlines: [Int] = try bytes.withUnsafeBufferPointer { buf in
            // Every piece's UTF-8 check and newline count; an error names the first bad byte in the file.
            let scans = try Parallel.map(pieces.count, threads: threads) { i in scanUTF8(buf, pieces[i]) }
            if let bad = scans.compactMap(\.bad).first {
                var line = lineBase, lineStart = 0
                for j in 0..<bad where buf[j] == 0x0A { line += 1; lineStart = j + 1 }
                throw UserError("\(path):\(line): byte \(bad - lineStart + 1) of the line (0x\(String(buf[bad], radix: 16, uppercase: true))) is not UTF-8 text",
                                hint: "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8")
            }

            // The header and the first row, in order: they decide the columns (of the first piece).
            if continuing != nil { return scans.map(\.newlines) }
            var split = Fields()
            var sawHeader = !format.header
            var start = 0, lineNumber = 0
            while start < n {
                lineNumber += 1
                var end = start
                while end < n && buf[end] != 0x0A { end += 1 }
                defer { start = end + 1 }
                guard let stop = rowStop(buf, start, end, comment) else { continue }
                try splitFields(buf, start, stop, format, into: &split, file: path, line: lineNumber)
                let fields = split.strings(buf)
                if !sawHeader {
                    sawHeader = true
                    if let given = columnNames {
                        guard given == fields else {
                            throw UserError("\(path):\(lineNumber): header \(fields) does not match data.columns \(given)",
                                            hint: "remove data.columns to take the names from the header, or fix the list")
                        }
                    } else {
                        guard Set(fields).count == fields.count else {
                            throw UserError("\(path):\(lineNumber): the header repeats a column name: \(fields)")
                        }
                        columnNames = fields
                        columns = Array(repeating: TextColumn(), count: fields.count)
                    }
                    continue
                }
                guard var names = columnNames else { continue }
                if !format.header && fields.count < names.count {
                    let optional = names.filter { format.optionalColumns.contains($0) }
                    let k = names.count - fields.count
                    if k <= optional.count {
                        omitted = Array(optional.suffix(k))
                        names.removeAll { omitted.contains($0) }
                        columnNames = names
                        columns = Array(repeating: TextColumn(), count: names.count)
                    }
                }
                // The pieces read this row too (from its line on), with the columns now fixed.
                resume = start; resumeLine = lineNumber
                break
            }
            return scans.map(\.newlines)
        }
        guard let names = columnNames else {
            throw UserError("\(path): the file has no header line", hint: "the file is empty; check data paths")
        }

        // The rest, piece by piece in parallel, each from its first line's number.
        if resume < n && columnNames != nil && (resume > 0 || !format.header || continuing != nil) {
            var firstLine = [Int](repeating: 0, count: pieces.count)
            var before = 0
            for (i, p) in pieces.enumerated() { firstLine[i] = p.lowerBound >= resume ? lineBase + before : resumeLine; before += newlines[i] }
            let width = names.count
            var parsed = try bytes.withUnsafeBufferPointer { buf in
                try Parallel.map(pieces.count, threads: threads) { i -> Piece in
                    // A piece wholly before the first row (a long header or leading comments) is empty.
                    let from = max(pieces[i].lowerBound, resume), range = from..<max(from, pieces[i].upperBound)
                    return try parsePiece(buf, range, firstLine: firstLine[i], width: width, format: format, comment: comment, path: path)
                }
            }
            // The first piece's columns are taken over (moved, not copied), the others appended,
            // a column per thread.
            if !parsed.isEmpty { swap(&columns, &parsed[0].columns) }
            let rest = parsed.dropFirst()
            let cells = parsed.reduce(0) { $0 + $1.lines.count }
            try columns.withUnsafeMutableBufferPointer { all in
                let out = Unchecked(all)
                _ = try Parallel.map(width, threads: threads) { c in
                    out.value[c].reserve(cells: cells, bytes: out.value[c].bytes.count + rest.reduce(0) { $0 + $1.columns[c].bytes.count })
                    for p in rest { out.value[c].append(contentsOf: p.columns[c]) }
                }
            }
            for p in parsed { lines += p.lines; skipped += p.skipped }
        }
        var table = TextTable(file: path, columnNames: names, columns: columns, lines: lines)
        table.skippedRows = skipped
        table.omittedColumns = omitted
        table.contentChecksum = try checksum(bytes, pieces: pieces, threads: threads)
        return (table, newlines.reduce(0, +))
    }

    /// Reads `path` in pieces of about `chunkBytes` of text, each cut at a line start and parsed
    /// as `read` parses a whole file (the same columns, rows, line numbers, errors and skipped
    /// rows), handing each to `body` in file order; only one piece is held at a time. `.gz` files
    /// are inflated by zlib as they are read, so a file cut short or damaged is an error naming it
    /// after the pieces before. Returns the CRC-32 of all the text (as `read` gives it) and its size.
    public static func forEachChunk(path: String, format: Format, chunkBytes: Int, threads: Int = Parallel.threads,
                                    _ body: (TextTable) throws -> Void) throws -> (checksum: UInt32, bytes: Int) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("data file '\(path)' does not exist", hint: "data paths are relative to the config file's folder")
        }
        // gzread reads plain files as they are, and concatenated gzip members as one text.
        guard let gz = gzopen(path, "rb") else { throw UserError("cannot open '\(path)' for reading") }
        defer { gzclose(gz) }
        _ = gzbuffer(gz, 1 << 20)
        let target = max(chunkBytes, 1 << 12)
        var pending: [UInt8] = [], block = [UInt8](repeating: 0, count: 1 << 20)
        var names: [String]? = nil, line = 1, crc: UInt = 0, total = 0, ended = false
        while !ended {
            // Fill to the target, then on to a newline (a line longer than a piece stays whole).
            while !ended && (pending.count < target || !pending.contains(0x0A)) {
                let want = UInt32(min(block.count, max(target - pending.count, 1 << 16)))
                let got = block.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, want) }
                var code: Int32 = 0
                if got < 0 {
                    let msg = String(cString: gzerror(gz, &code))
                    throw UserError("\(path): cannot decompress after \(total + pending.count) bytes: \(msg)", hint: "is the file a complete gzip file?")
                }
                if got == 0 {
                    let msg = String(cString: gzerror(gz, &code))
                    if code != Z_OK {
                        throw UserError("\(path): the gzip stream ends early after \(total + pending.count) bytes (\(msg)): the file is cut short or damaged",
                                        hint: "download or copy the file again; `gzip -t \(path)` checks it")
                    }
                    ended = true
                } else {
                    pending.append(contentsOf: block[0..<Int(got)])
                }
            }
            if pending.isEmpty && names != nil { break }
            var cut = pending.count
            if !ended, let last = pending.lastIndex(of: 0x0A) { cut = last + 1 }
            let piece = cut == pending.count ? pending : Array(pending[0..<cut])
            pending.removeSubrange(0..<cut)
            let (table, newlines) = try parse(bytes: piece, path: path, format: format, threads: threads,
                                              continuing: names.map { ($0, line) })
            names = table.columnNames
            line += newlines
            crc = crc32_combine(crc, UInt(table.contentChecksum), off_t(piece.count))
            total += piece.count
            try body(table)
        }
        return (UInt32(truncatingIfNeeded: crc), total)
    }

    /// The CRC-32 of the bytes: each piece's on its thread, joined with zlib's crc32_combine.
    static func checksum(_ bytes: [UInt8], pieces: [Range<Int>], threads: Int) throws -> UInt32 {
        let parts = try bytes.withUnsafeBufferPointer { b in
            try Parallel.map(pieces.count, threads: threads) { i -> UInt in
                guard let base = b.baseAddress else { return 0 }
                var crc: UInt = 0, at = pieces[i].lowerBound
                while at < pieces[i].upperBound {   // zlib takes at most 4 GB a call
                    let n = min(pieces[i].upperBound - at, 1 << 30)
                    crc = crc32(crc, base + at, UInt32(n)); at += n
                }
                return crc
            }
        }
        var crc: UInt = 0
        for (i, c) in parts.enumerated() { crc = crc32_combine(crc, c, off_t(pieces[i].count)) }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The rows of one piece of a file.
    struct Piece {
        var columns: [TextColumn]
        var lines: [Int] = []
        var skipped: [(line: Int, reason: String)] = []
    }

    static func parsePiece(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, firstLine: Int, width: Int, format: Format,
                           comment: [UInt8]?, path: String) throws -> Piece {
        var piece = Piece(columns: Array(repeating: TextColumn(), count: width))
        // Room for the piece's cells, guessed from its first line, so the arrays rarely grow.
        let firstLength = max(1, lineEnd(buf, range.lowerBound, range.upperBound) - range.lowerBound + 1)
        let rowsGuess = range.count / firstLength + 16
        for c in 0..<width { piece.columns[c].reserve(cells: rowsGuess, bytes: range.count / max(width, 1) + 64) }
        piece.lines.reserveCapacity(rowsGuess)
        var fields = Fields()
        var start = range.lowerBound, lineNumber = firstLine - 1
        let n = range.upperBound
        while start < n {
            lineNumber += 1
            let end = lineEnd(buf, start, n)
            defer { start = end + 1 }
            guard let stop = rowStop(buf, start, end, comment) else { continue }
            try splitFields(buf, start, stop, format, into: &fields, file: path, line: lineNumber)
            if fields.count != width {
                let reason = "expected \(width) fields, found \(fields.count)"
                guard format.skipBadRows else { throw badRow(path, lineNumber, reason) }
                piece.skipped.append((lineNumber, reason))
                continue
            }
            for c in 0..<width { fields.withField(c, buf) { piece.columns[c].append(bytes: $0) } }
            piece.lines.append(lineNumber)
        }
        return piece
    }

    /// Where the row on the line `start..<end` stops (before a carriage return); nil for a blank
    /// line (only spaces) or a comment line, which are not rows.
    @inline(__always)
    static func rowStop(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ comment: [UInt8]?) -> Int? {
        var stop = end
        if stop > start && buf[stop - 1] == 0x0D { stop -= 1 }
        var firstNonSpace = start
        while firstNonSpace < stop && (buf[firstNonSpace] == 0x20 || buf[firstNonSpace] == 0x09) { firstNonSpace += 1 }
        if firstNonSpace == stop { return nil }
        if let c = comment, stop - start >= c.count, (0..<c.count).allSatisfy({ buf[start + $0] == c[$0] }) { return nil }
        return stop
    }

    static func badRow(_ path: String, _ line: Int, _ reason: String) -> UserError {
        UserError("\(path):\(line): \(reason)",
                  hint: "fix or remove that line, check data.separator, or set data.bad_rows: skip to drop such rows (they are counted)")
    }
    /// One line's fields as byte ranges of the file, or of `scratch` for a quoted field with a
    /// doubled quote inside (the only field whose bytes differ from the file's).
    struct Fields {
        var starts: [Int] = [], ends: [Int] = [], copied: [Bool] = []
        var scratch: [UInt8] = []
        var count: Int { starts.count }
        mutating func removeAll() {
            starts.removeAll(keepingCapacity: true); ends.removeAll(keepingCapacity: true)
            copied.removeAll(keepingCapacity: true); scratch.removeAll(keepingCapacity: true)
        }
        mutating func add(_ a: Int, _ b: Int, copied c: Bool) { starts.append(a); ends.append(b); copied.append(c) }
        func withField(_ i: Int, _ buf: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
            if copied[i] { scratch.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[starts[i]..<ends[i]])) } }
            else { body(UnsafeBufferPointer(rebasing: buf[starts[i]..<ends[i]])) }
        }
        func strings(_ buf: UnsafeBufferPointer<UInt8>) -> [String] {
            (0..<count).map { i in
                var s = ""
                withField(i, buf) { s = String(decoding: $0, as: UTF8.self) }
                return s
            }
        }
    }

    /// The end of the line starting at `start` (its newline, or `n`).
    @inline(__always)
    static func lineEnd(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ n: Int) -> Int {
        guard start < n, let base = buf.baseAddress, let hit = memchr(base + start, 0x0A, n - start) else { return n }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    // Splits one line at the separator; double quotes group a field and "" is a literal quote.
    private static func splitFields(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ stop: Int, _ format: Format,
                                    into fields: inout Fields, file: String, line: Int) throws {
        fields.removeAll()
        let sep = format.separator
        guard let base = buf.baseAddress else { return }
        var i = start
        while true {
            var j = i
            if format.trim { while j < stop && buf[j] == 0x20 { j += 1 } }
            if format.quoting && j < stop && buf[j] == 0x22 {
                j += 1
                let content = j
                var copied = false, closed = false
                let from = fields.scratch.count
                while j < stop {
                    if buf[j] == 0x22 {
                        if j + 1 < stop && buf[j + 1] == 0x22 {
                            if !copied { copied = true; fields.scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[content..<j])) }
                            fields.scratch.append(0x22); j += 2; continue
                        }
                        closed = true; break
                    }
                    if copied { fields.scratch.append(buf[j]) }
                    j += 1
                }
                guard closed else {
                    throw UserError("\(file):\(line): a quoted field is not closed", hint: "quotes inside a field are written twice (\"\")")
                }
                if copied { fields.add(from, fields.scratch.count, copied: true) } else { fields.add(content, j, copied: false) }
                j += 1
                while j < stop && buf[j] != sep { j += 1 }
            } else {
                var k = stop
                if j < stop, let hit = memchr(base + j, Int32(sep), stop - j) { k = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) }
                var e = k
                if format.trim { while e > j && (buf[e - 1] == 0x20 || buf[e - 1] == 0x09) { e -= 1 } }
                fields.add(j, e, copied: false)
                j = k
            }
            if j >= stop { break }
            i = j + 1
            if i == stop { fields.add(stop, stop, copied: false); break }
        }
    }

    /// A whole gzip file inflated at once by libdeflate, member after member (concatenated gzip
    /// files are one file to gzip too); nil when the data is damaged or cut short (the caller then
    /// reads it with zlib for the message).
    static func inflateWhole(path: String) throws -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { throw UserError("cannot read '\(path)'") }
        let input = [UInt8](data)
        guard input.count >= 18, let d = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(d) }
        var out: [UInt8] = []
        var at = 0
        while at < input.count {
            // A member's trailer ends with its size modulo 2^32; the last member's is the file's
            // last four bytes. Room for that (or 4x the input), doubled while it is too little.
            let tail = input.count - 4
            let stated = Int(input[tail]) | Int(input[tail + 1]) << 8 | Int(input[tail + 2]) << 16 | Int(input[tail + 3]) << 24
            // Deflate expands at most 1032 times: a stated size beyond that is not believed.
            let most = 1032 * (input.count - at) + (1 << 16)
            var room = min(max(stated, 4 * (input.count - at), 1 << 16), most)
            while true {
                guard room <= most && Double(room) <= MachineMemory.physicalBytes / 2 else { return nil }
                var member = [UInt8](repeating: 0, count: room)
                var used = 0, produced = 0
                let result = input.withUnsafeBufferPointer { i in
                    member.withUnsafeMutableBufferPointer { o in
                        libdeflate_gzip_decompress_ex(d, i.baseAddress.map { $0 + at }, i.count - at, o.baseAddress, o.count, &used, &produced)
                    }
                }
                if result == LIBDEFLATE_INSUFFICIENT_SPACE {
                    guard room < most else { return nil }
                    room = min(2 * room, most); continue
                }
                guard result == LIBDEFLATE_SUCCESS, used > 0 else { return nil }
                if out.isEmpty { member.removeSubrange(produced...); out = member } else { out.append(contentsOf: member[0..<produced]) }
                at += used
                break
            }
        }
        return out
    }

    /// The file's bytes; `.gz` files are inflated with libdeflate (zlib for a damaged one).
    static func readBytes(path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("data file '\(path)' does not exist", hint: "data paths are relative to the config file's folder")
        }
        if path.hasSuffix(".gz") {
            if let whole = try inflateWhole(path: path) { return whole }
            // Damaged or cut short: zlib's stream reading says how (and where it stopped).
            guard let gz = gzopen(path, "rb") else { throw UserError("cannot open '\(path)' for reading") }
            defer { gzclose(gz) }
            _ = gzbuffer(gz, 1 << 20)
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
                if n < 0 {
                    var code: Int32 = 0
                    let msg = String(cString: gzerror(gz, &code))
                    throw UserError("\(path): cannot decompress: \(msg)", hint: "is the file a complete gzip file?")
                }
                if n == 0 {
                    // zlib reports a stream that ends before its trailer (a file cut short) only here.
                    var code: Int32 = 0
                    let msg = String(cString: gzerror(gz, &code))
                    if code != Z_OK {
                        throw UserError("\(path): the gzip stream ends early after \(out.count) bytes (\(msg)): the file is cut short or damaged",
                                        hint: "download or copy the file again; `gzip -t \(path)` checks it")
                    }
                    break
                }
                out.append(contentsOf: chunk[0..<Int(n)])
            }
            return out
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw UserError("cannot read '\(path)'") }
        return [UInt8](data)
    }

    /// The first byte of `range` that does not start or continue UTF-8 text (so no field is
    /// silently altered by replacement characters), and the newlines in the range.
    /// Hand-written: one pass that validates and counts lines together, on a piece of the file
    /// (the standard library validates only whole strings and reports no position).
    static func scanUTF8(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (bad: Int?, newlines: Int) {
        var i = range.lowerBound, newlines = 0
        let n = range.upperBound
        while i < n {
            let c = b[i]
            if c < 0x80 {
                if c == 0x0A { newlines += 1 }
                i += 1
                continue
            }
            let need: Int, low: UInt8, high: UInt8
            switch c {
            case 0xC2...0xDF: need = 1; low = 0x80; high = 0xBF
            case 0xE0: need = 2; low = 0xA0; high = 0xBF
            case 0xE1...0xEC, 0xEE...0xEF: need = 2; low = 0x80; high = 0xBF
            case 0xED: need = 2; low = 0x80; high = 0x9F
            case 0xF0: need = 3; low = 0x90; high = 0xBF
            case 0xF1...0xF3: need = 3; low = 0x80; high = 0xBF
            case 0xF4: need = 3; low = 0x80; high = 0x8F
            default: need = -1; low = 0; high = 0
            }
            var ok = need > 0 && i + need < n
            if ok {
                ok = b[i + 1] >= low && b[i + 1] <= high
                var k = 2
                while ok && k <= need { ok = b[i + k] >= 0x80 && b[i + k] <= 0xBF; k += 1 }
            }
            guard ok else { return (i, newlines) }
            i += need + 1
        }
        return (nil, newlines)
    }

    /// The rows at `indices`, in that order (used for fraction splits).
    public func subset(_ indices: [Int]) -> TextTable {
        var t = TextTable(file: file, columnNames: columnNames,
                          columns: columns.map { $0.subset(indices) },
                          lines: indices.map { lines[$0] })
        t.rowFiles = rowFiles.map { f in indices.map { f[$0] } }
        t.fileNames = fileNames
        return t
    }

    /// For tables stacked from several files: each row's file (an index into `fileNames`).
    public var rowFiles: [Int]? = nil
    public var fileNames: [String] = []

    /// "file:line" of row r, for messages.
    public func place(_ r: Int) -> String {
        if let f = rowFiles { return "\(fileNames[f[r]]):\(lines[r])" }
        return "\(file):\(lines[r])"
    }

    /// Tables stacked row-wise over the union of their columns (in first-seen order); a row
    /// lacks the columns its file does not have, which read as `filler`.
    public static func stacked(_ tables: [TextTable], filler: String, name: String) -> TextTable {
        var names: [String] = []
        for t in tables { for c in t.columnNames where !names.contains(c) { names.append(c) } }
        var columns = names.map { _ in TextColumn() }
        var lines: [Int] = [], rowFiles: [Int] = [], fileNames: [String] = []
        for t in tables {
            for (c, n) in names.enumerated() {
                if let i = t.columnIndex(n) { columns[c].append(contentsOf: t.columns[i]) } else { columns[c].append(repeating: filler, count: t.rowCount) }
            }
            lines += t.lines
            let base = fileNames.count
            if let f = t.rowFiles { rowFiles += f.map { $0 + base }; fileNames += t.fileNames }
            else { rowFiles += repeatElement(base, count: t.rowCount); fileNames.append(t.file) }
        }
        var out = TextTable(file: name, columnNames: names, columns: columns, lines: lines)
        out.rowFiles = rowFiles
        out.fileNames = fileNames
        return out
    }
}

extension TextTable {
    /// When the file looks split at the wrong character (one column whose name holds ';', a tab
    /// or '|'), what to set; nil otherwise.
    public var separatorHint: String? { separatorHint(key: "data.separator") }

    /// The same, naming the config key that sets this file's separator.
    public func separatorHint(key: String) -> String? {
        guard columnNames.count == 1, let name = columnNames.first else { return nil }
        for (c, shown) in [(";", "';'"), ("\t", "'\\t'"), ("|", "'|'"), (",", "','")] where name.contains(c) {
            return "the file has one column named '\(name.prefix(60))': its fields seem to be separated by \(shown); set \(key): \(shown)"
        }
        return nil
    }
}
