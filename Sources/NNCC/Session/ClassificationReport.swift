import Foundation

/// Per-class precision, recall, F1 and support from a confusion matrix, as scikit-learn's
/// `classification_report` computes and prints them: a class with no predictions has precision 0,
/// and only classes that occur in the labels or the predictions are listed.
public struct ClassificationReport {
    public struct Row: Equatable {
        public var name: String
        public var precision: Double, recall: Double, f1: Double
        public var support: Int
    }

    public var classes: [Row]
    public var accuracy: Double
    public var macro: Row
    public var weighted: Row

    /// `confusion[true class][predicted class]`.
    public init(confusion m: [[Int]]) {
        let k = m.count
        let predicted = (0..<k).map { j in m.reduce(0) { $0 + ($1.count > j ? $1[j] : 0) } }
        let total = m.reduce(0) { $0 + $1.reduce(0, +) }
        let rows: [Row] = (0..<k).compactMap { c in
            let support = m[c].reduce(0, +), tp = m[c].count > c ? m[c][c] : 0
            guard support > 0 || predicted[c] > 0 else { return nil }
            let p = predicted[c] == 0 ? 0 : Double(tp) / Double(predicted[c])
            let r = support == 0 ? 0 : Double(tp) / Double(support)
            return Row(name: String(c), precision: p, recall: r, f1: p + r == 0 ? 0 : 2 * p * r / (p + r), support: support)
        }
        classes = rows
        let correct = (0..<k).reduce(0) { $0 + (m[$1].count > $1 ? m[$1][$1] : 0) }
        accuracy = total == 0 ? 0 : Double(correct) / Double(total)
        let n = Double(max(1, rows.count)), w = Double(max(1, total))
        func mean(_ f: (Row) -> Double) -> Double { rows.reduce(0) { $0 + f($1) } / n }
        func weighted(_ f: (Row) -> Double) -> Double { rows.reduce(0) { $0 + f($1) * Double($1.support) } / w }
        macro = Row(name: "macro avg", precision: mean(\.precision), recall: mean(\.recall), f1: mean(\.f1), support: total)
        self.weighted = Row(name: "weighted avg", precision: weighted(\.precision), recall: weighted(\.recall),
                            f1: weighted(\.f1), support: total)
    }

    /// The table in classification_report's layout (two spaces after the names, columns 9 wide), two decimals.
    public var text: String {
        let width = max(12, (classes.map(\.name.count).max() ?? 0))
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        func f(_ v: Double) -> String { pad(String(format: "%.2f", v), 9) }
        func line(_ r: Row) -> String { pad(r.name, width) + "  " + f(r.precision) + " " + f(r.recall) + " " + f(r.f1) + " " + pad(String(r.support), 9) }
        var s = pad("", width) + "  " + pad("precision", 9) + " " + pad("recall", 9) + " " + pad("f1-score", 9) + " " + pad("support", 9) + "\n\n"
        s += classes.map { line($0) + "\n" }.joined() + "\n"
        s += pad("accuracy", width) + "  " + pad("", 9) + " " + pad("", 9) + " " + f(accuracy) + " " + pad(String(macro.support), 9) + "\n"
        return s + line(macro) + "\n" + line(weighted) + "\n"
    }

    /// The confusion matrix as an SVG heat map: rows are the true classes, columns the predictions,
    /// each cell shaded by its share of the row (the class's recall on the diagonal) and labelled
    /// with its count.
    public static func confusionSVG(_ m: [[Int]], title: String) -> String {
        let k = max(1, m.count)
        let cell = min(48.0, max(6.0, 560.0 / Double(k)))
        let (left, top) = (86.0, 86.0), side = cell * Double(k)
        let (W, H) = (left + side + 40, top + side + 70)
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(W / 2))" y="28" text-anchor="middle" font-size="18" font-weight="bold" fill="#222">\(Chart.escape(title))</text>
        <text x="\(n(left + side / 2))" y="\(n(top - 30))" text-anchor="middle" font-size="14" fill="#222">predicted class</text>
        <text transform="translate(\(n(left - 50)),\(n(top + side / 2))) rotate(-90)" text-anchor="middle" font-size="14" fill="#222">true class</text>\n
        """
        let labelled = k <= 40, fontSize = min(13, cell * 0.38)
        for (i, row) in m.enumerated() {
            let support = max(1, row.reduce(0, +))
            for (j, count) in row.enumerated() {
                let share = Double(count) / Double(support)
                // White to dark blue by the share of the row.
                let (r, g, b) = (255 - share * 224, 255 - share * 160, 255 - share * 87)
                let (x, y) = (left + Double(j) * cell, top + Double(i) * cell)
                s += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(cell))\" height=\"\(n(cell))\" fill=\"rgb(\(Int(r)),\(Int(g)),\(Int(b)))\" stroke=\"#ddd\"/>\n"
                if labelled && count > 0 {
                    s += "<text x=\"\(n(x + cell / 2))\" y=\"\(n(y + cell / 2 + fontSize / 3))\" text-anchor=\"middle\" font-size=\"\(n(fontSize))\" fill=\"\(share > 0.5 ? "white" : "#222")\">\(count)</text>\n"
                }
            }
        }
        if labelled {
            for c in 0..<k {
                let mid = Double(c) * cell + cell / 2
                s += "<text x=\"\(n(left + mid))\" y=\"\(n(top - 8))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">\(c)</text>\n"
                s += "<text x=\"\(n(left - 8))\" y=\"\(n(top + mid + 4))\" text-anchor=\"end\" font-size=\"12\" fill=\"#333\">\(c)</text>\n"
            }
        }
        let total = m.reduce(0) { $0 + $1.reduce(0, +) }, correct = m.indices.reduce(0) { $0 + (m[$1].count > $1 ? m[$1][$1] : 0) }
        s += "<text x=\"\(n(W / 2))\" y=\"\(n(top + side + 36))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#555\">\(correct) of \(total) on the diagonal; shade: share of the true class's examples</text>\n"
        return s + "</svg>\n"
    }
}
