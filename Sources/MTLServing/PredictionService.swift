import Foundation
import MTLCore
import MTLData
import MTLInference
import MTLTraining

/// A rejected request: the HTTP status, what is wrong, and where (row and field) when it is in a row.
public struct RequestError: Error, Equatable {
    public var status: Int
    public var message: String
    public var row: Int?
    public var field: String?

    public init(_ status: Int, _ message: String, row: Int? = nil, field: String? = nil) {
        self.status = status; self.message = message; self.row = row; self.field = field
    }

    /// `{"error": ..., "row": ..., "field": ...}`
    public var json: String {
        var s = "{\"error\":\(jsonString(message))"
        if let r = row { s += ",\"row\":\(r)" }
        if let f = field { s += ",\"field\":\(jsonString(f))" }
        return s + "}"
    }
}

/// A JSON value as a request carries it.
enum JSONValue: Decodable {
    case null, bool(Bool), number(Double), string(String), array, object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let o = try? c.decode([String: JSONValue].self) { self = .object(o); return }
        if (try? c.decode([JSONValue].self)) != nil { self = .array; return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }
}

/// The body of `POST /v1/predict`: `{"rows": [{column: value, ...}, ...]}`.
struct PredictBody: Decodable {
    var rows: [JSONValue]?
}

/// `POST /v1/predict` without HTTP: a body in, a JSON answer or a RequestError out. Rows hold
/// raw column values as in the training file (numbers or strings; null for a missing value;
/// every input column present, other fields ignored); they go through the fitted preprocessing, then the compiled model.
public final class PredictionService: @unchecked Sendable {
    public let model: ModelFile
    public let predictor: Predictor
    public let maxRows: Int
    let pool: WorkspacePool
    /// The columns the model reads, each with its kind.
    let columns: [(name: String, numeric: Bool)]
    let missingMarker: String?
    let taskNames: [String]
    let classNames: [[String]]

    public init(model: ModelFile, maxRows: Int = 1024, chunk: Int = 64) throws {
        self.model = model
        self.maxRows = maxRows
        let compiled = try model.compile(maxRows: chunk)
        predictor = Predictor(model: compiled, tasks: model.preprocessor.tasks)
        pool = WorkspacePool(compiled)
        let pre = model.preprocessor
        columns = pre.numeric.map { ($0.name, true) } + pre.categorical.map { ($0.name, false) } + pre.sparseFields.map { ($0.name, false) }
        missingMarker = model.preprocessor.missing.first
        taskNames = pre.tasks.map { jsonString($0.name) }
        classNames = pre.tasks.map { $0.classes.map(jsonString) }
    }

    /// The answer to a request body, or why it is refused.
    public func respond(to body: [UInt8]) -> Result<String, RequestError> {
        do { return .success(try predict(body)) } catch let e as RequestError { return .failure(e) } catch {
            return .failure(RequestError(500, "internal error: \(error)"))
        }
    }

    func predict(_ body: [UInt8]) throws -> String {
        let parsed: PredictBody
        do { parsed = try JSONDecoder().decode(PredictBody.self, from: Data(body)) } catch {
            throw RequestError(400, "the body is not a JSON object of the form {\"rows\": [{\"column\": value, ...}]}")
        }
        guard let rows = parsed.rows else { throw RequestError(400, "the body has no \"rows\" array", field: "rows") }
        guard !rows.isEmpty else { throw RequestError(400, "\"rows\" is empty: give at least one row", field: "rows") }
        guard rows.count <= maxRows else {
            throw RequestError(413, "\(rows.count) rows in one request; at most \(maxRows) (serve --max-rows)", field: "rows")
        }
        let table = try self.table(rows)
        let split: EncodedSplit
        do { split = try model.preprocessor.encode(table, split: "request", labels: false) } catch let e as UserError {
            throw RequestError(400, e.message)
        }
        let ws = pool.take()
        defer { pool.give(ws) }
        let values: [[Double]]
        do { values = try predictor.predict(split, workspace: ws) } catch {
            throw RequestError(400, "\(error)")
        }
        return answer(values, rows: rows.count)
    }

    /// The rows as a table of strings in the training file's terms.
    func table(_ rows: [JSONValue]) throws -> TextTable {
        var cells = columns.map { _ in [String]() }
        for c in cells.indices { cells[c].reserveCapacity(rows.count) }
        for (r, row) in rows.enumerated() {
            guard case .object(let fields) = row else { throw RequestError(400, "row \(r) is not a JSON object of column values", row: r) }
            for (c, column) in columns.enumerated() {
                let text: String
                switch fields[column.name] {
                case .string(let s)?:
                    if column.numeric && !model.preprocessor.missing.contains(s) {
                        guard let v = Double(s), v.isFinite else {
                            throw RequestError(400, "row \(r): '\(column.name)' is '\(s)', not a number", row: r, field: column.name)
                        }
                        _ = v
                    }
                    text = s
                case .number(let d)?:
                    // Integral numbers as integers, as a data file writes them ("3", not "3.0").
                    text = d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
                case .bool(let b)?: text = b ? "true" : "false"
                case nil:
                    throw RequestError(400, "row \(r): the model's input '\(column.name)' is absent; give its value, or null for a missing value",
                                       row: r, field: column.name)
                case .null?:
                    if column.numeric {
                        guard let m = missingMarker else {
                            throw RequestError(400, "row \(r): '\(column.name)' is null, and the model has no missing-value marker (data.missing) for it",
                                               row: r, field: column.name)
                        }
                        text = m
                    } else {
                        text = missingMarker ?? ""
                    }
                case .array?, .object?:
                    throw RequestError(400, "row \(r): '\(column.name)' must be a string or a number", row: r, field: column.name)
                }
                cells[c].append(text)
            }
        }
        return TextTable(file: "request", columnNames: columns.map(\.name), columns: cells, lines: Array(0..<rows.count))
    }

    /// `{"predictions": [{task: {...}}, ...]}`, row by row.
    func answer(_ values: [[Double]], rows: Int) -> String {
        var s = "{\"predictions\":["
        s.reserveCapacity(64 + rows * 48 * taskNames.count)
        let tasks = predictor.tasks
        for r in 0..<rows {
            if r > 0 { s += "," }
            s += "{"
            for (t, task) in tasks.enumerated() {
                if t > 0 { s += "," }
                let k = task.outputs
                let row = Array(values[t][(r * k)..<((r + 1) * k)])
                s += taskNames[t] + ":{"
                switch task.kind {
                case .binary: s += "\"probability\":\(number(row[0])),\"class\":\(row[0] >= 0.5 ? 1 : 0)"
                case .regression: s += "\"value\":\(number(row[0]))"
                case .multiclass, .multilabel:
                    s += "\"probabilities\":{"
                    for c in 0..<k { s += (c > 0 ? "," : "") + classNames[t][c] + ":" + number(row[c]) }
                    s += "},"
                    if task.kind == .multiclass {
                        let best = row.indices.max { row[$0] < row[$1] } ?? 0
                        s += "\"class\":" + classNames[t][best]
                    } else {
                        s += "\"classes\":[" + task.chosen(row, tuned: model.thresholds[task.name]).map { classNames[t][$0] }.joined(separator: ",") + "]"
                    }
                }
                s += "}"
            }
            s += "}"
        }
        return s + "]}"
    }

    func number(_ v: Double) -> String { v.isFinite ? String(v) : "null" }

    /// `GET /health`.
    public var health: String {
        "{\"status\":\"ok\",\"model\":\(jsonString(model.path)),\"architecture\":\(jsonString(model.config.model.architecture.rawValue)),"
            + "\"quantization\":\(jsonString(model.quantization.rawValue)),\"tasks\":[\(taskNames.joined(separator: ","))]}"
    }
}

/// Workspaces for requests in flight: one each, taken and given back; a request finding none
/// free gets a new one (kept afterwards up to `keep`), so that no request waits for another.
final class WorkspacePool: @unchecked Sendable {
    let model: CompiledModel
    let keep: Int
    private var free: [Workspace] = []
    private let lock = NSLock()

    init(_ model: CompiledModel, keep: Int = 2 * ProcessInfo.processInfo.activeProcessorCount) {
        self.model = model
        self.keep = max(1, keep)
        free = [model.makeWorkspace()]
    }

    func take() -> Workspace {
        lock.lock()
        let ws = free.popLast()
        lock.unlock()
        return ws ?? model.makeWorkspace()
    }

    func give(_ ws: Workspace) {
        lock.lock()
        if free.count < keep { free.append(ws) }
        lock.unlock()
    }
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
