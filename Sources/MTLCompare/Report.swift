import Foundation
import MTLData
import MTLTraining

/// report.html: one self-contained page (inline CSS and SVG, no script, no network) for a
/// comparison or a single run. The charts are drawn here as SVG from the numbers: none of the
/// Swift packages available to the project draws charts, and a few primitives (bars with error
/// whiskers, lines, a heatmap) cover what the page shows.
public enum Report {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
    static func n(_ x: Double, _ d: Int = 4) -> String { x.isFinite ? String(format: "%.\(d)f", x) : "n/a" }
    static func p(_ x: Double) -> String { String(format: "%.1f", x) }

    /// Horizontal bars with whiskers (mean ± spread), always from zero (so their lengths compare
    /// as the values do; the values are printed beside them), over `range` when given (0...1 for
    /// metrics that are fractions), with ticks on the axis.
    static func bars(_ items: [(label: String, value: Double, spread: Double)], title: String, highlight: String? = nil,
                     range: ClosedRange<Double>? = nil) -> String {
        let finite = items.filter { $0.value.isFinite }
        guard !finite.isEmpty else { return "<p>\(esc(title)): no values</p>" }
        let rowH = 22.0, left = 170.0, width = 480.0, plotW = width - left - 110
        let height = 30 + rowH * Double(items.count) + 24
        var lo = min(0, finite.map { $0.value - ($0.spread.isFinite ? $0.spread : 0) }.min()!)
        var hi = max(0, finite.map { $0.value + ($0.spread.isFinite ? $0.spread : 0) }.max()!)
        if let r = range { lo = min(lo, r.lowerBound); hi = max(hi, r.upperBound) }
        if lo == hi { hi = lo + 1 }
        if range == nil {
            let pad = (hi - lo) * 0.05
            if lo < 0 { lo -= pad }
            if hi > 0 { hi += pad }
        }
        func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * plotW }
        let base = x(min(max(0, lo), hi))
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(esc(title))\">"
        s += "<text x=\"4\" y=\"16\" class=\"t\">\(esc(title))</text>"
        for (i, it) in items.enumerated() {
            let y = 30 + rowH * Double(i)
            s += "<text x=\"\(p(left - 6))\" y=\"\(p(y + 14))\" text-anchor=\"end\" class=\"l\">\(esc(it.label))</text>"
            guard it.value.isFinite else { continue }
            let x0 = min(base, x(it.value)), w = max(abs(x(it.value) - base), 1)
            let color = it.label == highlight ? "#d62728" : "#1f77b4"
            s += "<rect class=\"bar\" x=\"\(p(x0))\" y=\"\(p(y + 3))\" width=\"\(p(w))\" height=\"\(p(rowH - 7))\" fill=\"\(color)\"/>"
            if it.spread.isFinite && it.spread > 0 {
                let a = x(it.value - it.spread), b = x(it.value + it.spread), m = y + rowH / 2 - 0.5
                s += "<line x1=\"\(p(a))\" x2=\"\(p(b))\" y1=\"\(p(m))\" y2=\"\(p(m))\" stroke=\"#333\"/>"
                s += "<line x1=\"\(p(a))\" x2=\"\(p(a))\" y1=\"\(p(m - 4))\" y2=\"\(p(m + 4))\" stroke=\"#333\"/><line x1=\"\(p(b))\" x2=\"\(p(b))\" y1=\"\(p(m - 4))\" y2=\"\(p(m + 4))\" stroke=\"#333\"/>"
            }
            let end = max(x(it.value), base, it.spread.isFinite ? x(it.value + it.spread) : 0)
            s += "<text x=\"\(p(end + 6))\" y=\"\(p(y + 14))\" class=\"v\">\(n(it.value))\(it.spread > 0 ? " ±\(n(it.spread))" : "")</text>"
        }
        let axisY = 30 + rowH * Double(items.count) + 4
        s += "<line x1=\"\(p(base))\" x2=\"\(p(base))\" y1=\"26\" y2=\"\(p(axisY))\" stroke=\"#999\"/>"
        s += "<line x1=\"\(p(left))\" x2=\"\(p(left + plotW))\" y1=\"\(p(axisY))\" y2=\"\(p(axisY))\" stroke=\"#999\"/>"
        for v in ticks(lo, hi) {
            s += "<line x1=\"\(p(x(v)))\" x2=\"\(p(x(v)))\" y1=\"\(p(axisY))\" y2=\"\(p(axisY + 4))\" stroke=\"#999\"/>"
            s += "<text x=\"\(p(x(v)))\" y=\"\(p(axisY + 15))\" text-anchor=\"middle\" class=\"v tick\">\(tickLabel(v))</text>"
        }
        return s + "</svg>"
    }

    /// About five round tick values over lo...hi (1, 2 or 5 times a power of ten apart).
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [] }
        let raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi + step * 1e-9 && out.count < 12 { out.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return out
    }

    static func tickLabel(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return String(format: abs(v) >= 0.1 ? "%.2g" : "%.1g", v)
    }

    /// Lines over epochs, one per series, with a legend, epoch ticks and, when given, the best
    /// epoch (1-based) marked by a dashed line.
    static func lines(_ series: [(name: String, values: [Double])], title: String, yLabel: String, best: Int? = nil) -> String {
        let all = series.flatMap(\.values).filter(\.isFinite)
        guard !all.isEmpty else { return "<p>\(esc(title)): no values</p>" }
        let width = 480.0, height = 240.0, left = 56.0, right = 150.0, top = 28.0, bottom = 34.0
        let plotW = width - left - right, plotH = height - top - bottom
        var lo = all.min()!, hi = all.max()!
        if lo == hi { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let maxLen = max(series.map(\.values.count).max() ?? 1, 2)
        func x(_ i: Int) -> Double { left + Double(i) / Double(maxLen - 1) * plotW }
        func y(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * plotH }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(esc(title))\">"
        s += "<text x=\"4\" y=\"16\" class=\"t\">\(esc(title))</text>"
        s += "<rect x=\"\(p(left))\" y=\"\(p(top))\" width=\"\(p(plotW))\" height=\"\(p(plotH))\" fill=\"none\" stroke=\"#ccc\"/>"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            s += "<text x=\"\(p(left - 4))\" y=\"\(p(y(v) + 4))\" text-anchor=\"end\" class=\"v\">\(n(v, 3))</text>"
        }
        let every = max(1, Int((Double(maxLen) / 6).rounded(.up)))
        for e in stride(from: 1, through: maxLen, by: every) {
            s += "<text x=\"\(p(x(e - 1)))\" y=\"\(p(top + plotH + 13))\" text-anchor=\"middle\" class=\"v tick\">\(e)</text>"
        }
        s += "<text x=\"\(p(left + plotW / 2))\" y=\"\(p(height - 4))\" text-anchor=\"middle\" class=\"v\">epoch; \(esc(yLabel))</text>"
        if let b = best, b >= 1, b <= maxLen {
            s += "<line class=\"best\" x1=\"\(p(x(b - 1)))\" x2=\"\(p(x(b - 1)))\" y1=\"\(p(top))\" y2=\"\(p(top + plotH))\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>"
            s += "<text x=\"\(p(x(b - 1) + 3))\" y=\"\(p(top + 10))\" class=\"v\" fill=\"#d62728\">best (\(b))</text>"
        }
        for (k, se) in series.enumerated() {
            let color = palette[k % palette.count]
            let pts = se.values.enumerated().filter { $0.element.isFinite }.map { "\(p(x($0.offset))),\(p(y($0.element)))" }
            if pts.count > 1 { s += "<polyline class=\"line\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>" }
            for pt in pts { let xy = pt.split(separator: ","); s += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(color)\"/>" }
            let ly = top + 12 + 16 * Double(k)
            s += "<line x1=\"\(p(width - right + 10))\" x2=\"\(p(width - right + 28))\" y1=\"\(p(ly - 4))\" y2=\"\(p(ly - 4))\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            s += "<text x=\"\(p(width - right + 32))\" y=\"\(p(ly))\" class=\"l\">\(esc(se.name))</text>"
        }
        return s + "</svg>"
    }

    /// A T x T heatmap with the values printed in the cells (blue positive, red negative).
    static func heatmap(_ m: [Double], labels: [String], title: String, rowAxis: String = "", columnAxis: String = "") -> String {
        let t = labels.count
        guard t > 0, m.count == t * t else { return "" }
        let cell = 64.0, left = 130.0, top = 58.0
        let width = left + cell * Double(t) + 20, height = top + cell * Double(t) + 30
        let scale = max(m.filter(\.isFinite).map(abs).max() ?? 1, 1e-12)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(esc(title))\">"
        s += "<text x=\"4\" y=\"16\" class=\"t\">\(esc(title))</text>"
        if !columnAxis.isEmpty { s += "<text x=\"\(p(left))\" y=\"34\" class=\"v\">\(esc(columnAxis))</text>" }
        for (j, l) in labels.enumerated() {
            s += "<text x=\"\(p(left + cell * Double(j) + cell / 2))\" y=\"\(p(top - 6))\" text-anchor=\"middle\" class=\"l\">\(esc(l))</text>"
        }
        for i in 0..<t {
            s += "<text x=\"\(p(left - 6))\" y=\"\(p(top + cell * Double(i) + cell / 2 + 4))\" text-anchor=\"end\" class=\"l\">\(esc(labels[i]))</text>"
            for j in 0..<t {
                let v = m[i * t + j]
                let a = v.isFinite ? min(abs(v) / scale, 1) : 0
                let fill = !v.isFinite ? "#eee" : v >= 0 ? "rgba(31,119,180,\(String(format: "%.2f", 0.1 + 0.8 * a)))" : "rgba(214,39,40,\(String(format: "%.2f", 0.1 + 0.8 * a)))"
                s += "<rect class=\"cell\" x=\"\(p(left + cell * Double(j)))\" y=\"\(p(top + cell * Double(i)))\" width=\"\(p(cell - 2))\" height=\"\(p(cell - 2))\" fill=\"\(fill)\"/>"
                let text = abs(v) < 0.01 && v != 0 && v.isFinite ? String(format: "%.1e", v) : n(v, 2)
                s += "<text x=\"\(p(left + cell * Double(j) + cell / 2 - 1))\" y=\"\(p(top + cell * Double(i) + cell / 2 + 4))\" text-anchor=\"middle\" class=\"v\">\(text)</text>"
            }
        }
        if !rowAxis.isEmpty { s += "<text x=\"4\" y=\"\(p(height - 8))\" class=\"v\">\(esc(rowAxis))</text>" }
        return s + "</svg>"
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
        h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
        table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
        td:first-child,th:first-child{text-align:left}
        .rec{background:#eef6ee;border:1px solid #9c9;padding:10px 16px;border-radius:6px}
        .sep{background:#fff4e5;border-color:#e9b56b}
        svg{display:block;margin:8px 0}svg .t{font-weight:600;font-size:13px}svg .l{font-size:12px}svg .v{font-size:11px;fill:#444}
        .grid{display:flex;flex-wrap:wrap;gap:8px}.small{font-size:.85em;color:#444;max-width:470px;margin:0 0 8px}
        </style></head><body>
        \(body)
        </body></html>
        """
    }
}
