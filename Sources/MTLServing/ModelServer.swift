import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The HTTP front of a PredictionService (Hummingbird): `POST /v1/predict`, `GET /health`,
/// `GET /metrics` (Prometheus text format). Requests run side by side, each in its own
/// workspace; SIGTERM or SIGINT stops accepting, lets requests in flight finish, and returns.
public struct ModelServer {
    public var service: PredictionService
    public var host: String
    public var port: Int
    /// The largest request body accepted, in bytes (413 beyond).
    public var maxBodyBytes: Int
    public var logger: Logger

    public init(service: PredictionService, host: String, port: Int, maxBodyBytes: Int, logger: Logger) {
        self.service = service; self.host = host; self.port = port; self.maxBodyBytes = maxBodyBytes; self.logger = logger
    }

    /// Serves until a shutdown signal; `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        let metrics = ServerMetrics()
        let service = self.service, limit = maxBodyBytes
        let router = Router()
        router.post("/v1/predict") { request, _ -> Response in
            let start = ContinuousClock.now
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: limit) } catch {
                return metrics.finish(start, RequestError(413, "the body is larger than \(limit) bytes (serve --max-body-bytes)"))
            }
            let bytes = body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? []
            switch service.respond(to: bytes) {
            case .success(let json):
                metrics.answered.increment()
                return metrics.finish(start, json)
            case .failure(let e):
                return metrics.finish(start, e)
            }
        }
        router.get("/health") { _, _ -> Response in json(service.health, status: .ok) }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            metrics.registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "mtl-worker"),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

func json(_ text: String, status: HTTPResponse.Status) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

/// Request counts by path and status, a latency histogram and error counts by status.
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let latency: DurationHistogram
    let answered: Counter

    init() {
        latency = registry.makeDurationHistogram(
            name: "mtl_predict_duration_seconds",
            buckets: [.microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
                      .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100), .seconds(1)],
            help: "Time to answer POST /v1/predict, from the body's arrival to the answer.")
        answered = registry.makeCounter(name: "mtl_predict_answered_total", help: "Predict requests answered with predictions.")
    }

    nonisolated(unsafe) static let requests = MetricNameDescriptor(namespace: "mtl", subsystem: "predict", metricName: "requests", unitName: "total",
                                               helpText: "Predict requests by HTTP status.")
    nonisolated(unsafe) static let errors = MetricNameDescriptor(namespace: "mtl", subsystem: "predict", metricName: "errors", unitName: "total",
                                             helpText: "Predict requests refused, by HTTP status.")

    func count(_ status: Int) {
        let label = [("status", String(status))]
        registry.makeCounter(descriptor: Self.requests, labels: label).increment()
        if status >= 400 { registry.makeCounter(descriptor: Self.errors, labels: label).increment() }
    }

    func finish(_ start: ContinuousClock.Instant, _ answer: String) -> Response {
        latency.record(ContinuousClock.now - start)
        count(200)
        return json(answer, status: .ok)
    }

    func finish(_ start: ContinuousClock.Instant, _ error: RequestError) -> Response {
        latency.record(ContinuousClock.now - start)
        count(error.status)
        return json(error.json, status: HTTPResponse.Status(code: error.status))
    }
}
