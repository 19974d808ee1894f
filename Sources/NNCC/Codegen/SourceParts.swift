import Foundation

/// Lets nncc compile one NAME.c as `count` gcc processes in parallel (docs/compile-time.md): gcc is
/// single-threaded and its time is nearly all optimising function bodies, so each out-of-line function
/// after the templates gets a part, 1...count, balanced by an estimate of its size, and its body is
/// guarded:
///
///     NN_LOCAL void k3_conv3x3_16x32x32(int nb, ...)
///     #if NN_PART == 0 || NN_PART == 2
///     {
///         ...
///     }
///     #else
///     ;
///     #endif
///
/// Compiled alone (NN_PART undefined: 0) the file is what it was, NN_LOCAL being `static`
/// (templates/prologue.c). Built with `-DNN_PART=k`, a part defines its own bodies and declares the
/// others, now hidden (not static) so the objects link; the templates and tables are in every part (gcc
/// drops the static ones a part does not use), but nn_vact_more and, in a library without Winograd
/// (whose constant-shape calls gcc specialises per part), the GEMM micro-kernels: the first part
/// compiles them for all (templates/gemm.c). Inline functions are never split: they are expanded where called.
enum SourceParts {
    /// The parts a file is written in; nncc compiles them in parallel when the machine has the cores.
    static let count = 2

    /// A top-level item of the C text: a function definition (split) or anything else (kept whole).
    struct Function {
        var header: [Substring]  // up to the parameter list's `)`
        var body: [Substring]    // from `{` to the closing `}`
        var name: String
        var isStatic: Bool
        var isInline: Bool
        var cost: Int
    }
    enum Item {
        case text(Substring)
        case function(Function)
    }

    /// `region` with every out-of-line function guarded by its part; `head` (the templates before it)
    /// is read for the sizes of the inline functions a body expands.
    static func split(_ region: String, head: String) -> String {
        let inlineCost = Dictionary(parse(head).compactMap { item -> (String, Int)? in
            guard case let .function(f) = item, f.isInline else { return nil }
            return (f.name, f.cost)
        }, uniquingKeysWith: max)
        var items = parse(region)
        var split: [Int] = []
        for (k, item) in items.enumerated() {
            guard case var .function(f) = item, !f.isInline else { continue }
            // A body's own text counts a quarter: a statement that calls a kernel costs gcc far less than
            // the unrolled loops of the templates it inlines (mobilenet_vww --train: its packing, 13 KB of
            // calls, optimises to a quarter of the code a depthwise kernel of 3 KB does).
            f.cost = f.cost / 4 + expansion(f.body, inlineCost)
            items[k] = .function(f)
            split.append(k)
        }
        // Largest first onto the lightest part (LPT): within 4/3 of the best balance.
        var load = Array(repeating: 0, count: count), part = [Int: Int]()
        load[0] = firstPartTemplates(head, inlineCost)
        for k in split.sorted(by: { cost(items[$0]) > cost(items[$1]) || (cost(items[$0]) == cost(items[$1]) && $0 < $1) }) {
            let p = load.indices.min { load[$0] < load[$1] }!
            part[k] = p + 1
            load[p] += cost(items[k])
        }
        let local = Set(split.compactMap { k -> String? in
            guard case let .function(f) = items[k], f.isStatic else { return nil }
            return f.name
        })
        var out = ""
        for (k, item) in items.enumerated() {
            switch item {
            case let .text(line):
                out += (prototype(line, local) ?? String(line)) + "\n"
            case let .function(f):
                guard let p = part[k] else {
                    out += (f.header + f.body).joined(separator: "\n") + "\n"
                    continue
                }
                var header = f.header.map(String.init)
                if f.isStatic { header[0] = localized(header[0]) }
                out += header.joined(separator: "\n") + "\n#if NN_PART == 0 || NN_PART == \(p)\n"
                out += f.body.joined(separator: "\n") + "\n#else\n;\n#endif\n"
            }
        }
        return out
    }

    /// What the first part compiles of the templates for every part: nn_vact_more, and without Winograd
    /// the copies of the micro-kernel for 1, 2, 4 and NN_MR rows up to NN_GEMM_ROWS (the others trap).
    private static func firstPartTemplates(_ head: String, _ inlineCost: [String: Int]) -> Int {
        func defined(_ name: String) -> Int {
            head.split(separator: "\n").lazy.compactMap { line in
                line.hasPrefix("#define \(name) ") ? Int(line.dropFirst(name.count + 9)) : nil
            }.first ?? 0
        }
        guard head.contains("NN_MICRO(1)"), defined("NN_MICRO_PER_PART") == 0 else { return 1000 }
        let rows = defined("NN_GEMM_ROWS"), copies = Set([1, 2, 4, defined("NN_MR")].filter { $0 <= rows }).count
        return 1000 + copies * (inlineCost["nn_micro"] ?? 0) / 2
    }

    private static func cost(_ item: Item) -> Int {
        if case let .function(f) = item { return f.cost }
        return 0
    }

    /// The size of the inline functions a body calls, once per call.
    private static func expansion(_ body: [Substring], _ inlineCost: [String: Int]) -> Int {
        var total = 0
        for line in body {
            var rest = line[...]
            while let open = rest.firstIndex(of: "(") {
                let name = rest[..<open].reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                if !name.isEmpty, let c = inlineCost[String(name.reversed())] { total += c }
                rest = rest[rest.index(after: open)...]
            }
        }
        return total
    }

    /// `static ...` as `NN_LOCAL ...`: hidden and shared between the parts of a part build.
    private static func localized(_ line: String) -> String {
        guard let r = line.range(of: "static ") else { return line }
        return line.replacingCharacters(in: r, with: "NN_LOCAL ")
    }

    /// A one-line `static` prototype of a function that is split: it must be NN_LOCAL too, or the
    /// definition after it would keep its internal linkage.
    private static func prototype(_ line: Substring, _ local: Set<String>) -> String? {
        guard line.hasPrefix("static "), line.hasSuffix(");"), let open = line.firstIndex(of: "(") else { return nil }
        let name = String(line[..<open].reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }.reversed())
        return local.contains(name) ? localized(String(line)) : nil
    }

    /// Splits C text into top-level items. nncc writes every top-level function with its header from
    /// column 0 and its closing `}` alone on a line (or the whole function on one line); comments,
    /// preprocessor lines, declarations, tables and types are kept as lines.
    static func parse(_ text: String) -> [Item] {
        // What follows a function's closing brace on its line (`}/* ∂W of layer ...`, `}static void ...`:
        // emitters join definitions) starts the next item; `};` and `} name;` close a type or a table.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).flatMap { line -> [Substring] in
            guard line.hasPrefix("}"), line.count > 1, ![";", " "].contains(line.dropFirst().first!) else { return [line] }
            return [line.prefix(1), line.dropFirst()]
        }
        var items: [Item] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            guard let first = line.first, first.isLetter || first == "_" else {
                items.append(.text(line)); i += 1; continue
            }
            // The header: lines up to one ending in `{` (a definition), `;` or `}` (one line).
            var j = i
            while j < lines.count, !(lines[j].hasSuffix("{") || lines[j].hasSuffix(";") || lines[j].hasSuffix("}")) { j += 1 }
            guard j < lines.count, let f = function(lines, i, j) else {
                items.append(.text(line)); i += 1; continue
            }
            items.append(.function(f.function))
            i = f.next
        }
        return items
    }

    /// The function whose header spans lines i...j, and the line after it; nil when it is not one.
    private static func function(_ lines: [Substring], _ i: Int, _ j: Int) -> (function: Function, next: Int)? {
        let last = lines[j]
        var header = Array(lines[i...j]), body: [Substring], next: Int
        if last.hasSuffix("{") {
            guard let end = lines[(j + 1)...].firstIndex(of: "}") else { return nil }
            var h = last.dropLast()
            while h.last == " " { h = h.dropLast() }
            header[header.count - 1] = h
            body = ["{"] + lines[(j + 1)...end]
            next = end + 1
        } else if last.hasSuffix("}"), i == j, let open = last.range(of: ") {") {
            header = [last[..<last.index(after: open.lowerBound)]]
            body = [last[last.index(before: open.upperBound)...]]
            next = j + 1
        } else {
            return nil
        }
        // A body line from column 0 would be another top-level item: keep the text whole (every part compiles it).
        guard !body.dropFirst().dropLast().contains(where: { $0.first.map { $0.isLetter || $0 == "_" } ?? false }) else { return nil }
        let text = header.joined(separator: " ").trimmingCharacters(in: .whitespaces)
        let words = text.split(separator: " ")
        guard text.hasSuffix(")"), !text.contains("="), let kind = words.first,
              !["struct", "typedef", "enum", "union"].contains(kind),
              let open = parameterList(text) else { return nil }
        let name = String(text[..<open].reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }.reversed())
        guard !name.isEmpty else { return nil }
        let before = text[..<open].split(separator: " ")
        return (Function(header: header, body: body, name: name, isStatic: before.contains("static"),
                         isInline: before.contains("inline"), cost: body.reduce(0) { $0 + $1.count }), next)
    }

    /// The `(` opening the parameter list that `text` ends with.
    private static func parameterList(_ text: String) -> String.Index? {
        var depth = 0, k = text.endIndex
        while k > text.startIndex {
            k = text.index(before: k)
            if text[k] == ")" { depth += 1 } else if text[k] == "(" { depth -= 1; if depth == 0 { return k } }
        }
        return nil
    }
}
