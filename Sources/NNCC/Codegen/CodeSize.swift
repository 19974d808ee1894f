import Foundation

/// Keeps gcc's time linear in the layer count (docs/compile-time.md).
/// Layers with identical kernels share one definition, at any size (gcc would
/// compile each copy before folding them). Past `Schedule.largeModelNodes`
/// IR nodes, statements that differ only in their buffers share one function, and the long
/// straight-line functions (forward, packing, the training step) are split
/// into out-of-line parts of `statementsPerPart` statements: gcc's
/// optimisation passes are superlinear in a function's size.
enum CodeSize {
    static let statementsPerPart = 32

    /// Past `schedule.largeModelNodes` (64 unless a test lowers it).
    static func isLarge(_ g: Graph, _ schedule: Schedule) -> Bool { g.nodes.count > schedule.largeModelNodes }

    /// The function a kernel call statement calls.
    static func callee(_ call: String) -> String { String(call.prefix { $0 != "(" }) }

    /// Calls to kernels whose definitions differ only in the kernel's name
    /// and its banner comment go to the first such kernel; the others are dropped.
    static func shareKernels(_ kernels: [KernelCode]) -> [KernelCode] {
        var first = [String: String]()  // definition with the name blanked -> kernel name
        var out: [KernelCode] = []
        for var k in kernels {
            let name = callee(k.call)
            let key = withoutBanner(k.definition).replacingOccurrences(of: name, with: "@")
            if let shared = first[key] {
                k.call = shared + k.call.dropFirst(name.count)
                k.definition = ""
            } else {
                first[key] = name
            }
            out.append(k)
        }
        return out
    }

    /// The backward kernels of node `order[k]` (`kernels[k]`, named `kN_...`)
    /// that equal an earlier node's up to the index are dropped, and its rule
    /// `rules[k]` refers to the earlier node's.
    static func shareBackwardKernels(_ order: [Int], _ kernels: inout [String], _ rules: inout [String]) {
        var first = [String: Int]()  // definitions with the node index blanked -> node
        for (k, i) in order.enumerated() where !kernels[k].isEmpty {
            let own = try! NSRegularExpression(pattern: "\\bk\(i)_")
            let code = matches(commentPattern, kernels[k]).reduce(kernels[k]) { $0.replacingOccurrences(of: $1, with: "") }
            let key = own.stringByReplacingMatches(in: code, range: NSRange(code.startIndex..., in: code), withTemplate: "k@_")
            guard let j = first[key] else { first[key] = i; continue }
            kernels[k] = ""
            rules[k] = own.stringByReplacingMatches(in: rules[k], range: NSRange(rules[k].startIndex..., in: rules[k]),
                                                    withTemplate: "k\(j)_")
        }
    }

    private static func withoutBanner(_ definition: String) -> Substring {
        guard definition.hasPrefix("/*"), let end = definition.range(of: "*/") else { return definition[...] }
        return definition[end.upperBound...]
    }

    /// Statements that differ only in the buffers they touch (`c->arena + N`
    /// and the like) become calls of one `NAME_sK` function per distinct
    /// statement, the buffers passed as pointers; comments stay at the call.
    /// Returns the functions and the calls, in order.
    static func shareStatements(_ statements: [String], function name: String, parameters: [String])
        -> (definitions: String, calls: [String]) {
        let names = parameterNames(parameters), unused = names.map { "(void)\($0);" }.joined(separator: " ")
        var index = [String: Int](), definitions = "", calls: [String] = []
        for statement in statements {
            let comments = matches(commentPattern, statement)
            var body = statement
            for c in comments { body = body.replacingOccurrences(of: c, with: "") }
            body = body.split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) }.joined(separator: "\n")
            var pointers: [String] = []
            for p in matches(pointerPattern, body) where !pointers.contains(p) { pointers.append(p) }
            // Longest first, so `c->arena + 12` is not replaced inside `c->arena + 123`.
            for (k, p) in pointers.enumerated().sorted(by: { $0.element.count > $1.element.count }) {
                body = body.replacingOccurrences(of: p, with: "buf\(k)")
            }
            let id: Int
            if let known = index[body] {
                id = known
            } else {
                id = index.count
                index[body] = id
                let params = (0..<pointers.count).map { ", float *buf\($0)" }.joined()
                definitions += """
                    static __attribute__((noinline)) void \(name)_s\(id)(\(parameters.joined(separator: ", "))\(params)) {
                        \(unused)
                    \(body)
                    }

                    """
            }
            let note = comments.isEmpty ? "" : "    " + comments.joined(separator: " ") + "\n"
            calls.append(note + "    \(name)_s\(id)(\((names + pointers).joined(separator: ", ")));")
        }
        return (definitions, calls)
    }

    private static let commentPattern = try! NSRegularExpression(pattern: #"/\*.*?\*/"#, options: [.dotMatchesLineSeparators])
    /// A context buffer plus a constant offset, not followed by a product that would bind tighter.
    private static let pointerPattern = try! NSRegularExpression(
        pattern: #"c->(?:arena|params|packed|train|grads) \+ \d+(?![\d.]|\s*[*/%\[])"#)

    private static func matches(_ re: NSRegularExpression, _ s: String) -> [String] {
        re.matches(in: s, range: NSRange(s.startIndex..., in: s)).map { String(s[Range($0.range, in: s)!]) }
    }

    /// A function body made of `statements` (each one or more lines, already
    /// indented). In large models the statements go into `NAME_partK`
    /// functions taking `parameters` (C declarations), which the body calls in
    /// order with `arguments` (default: the parameters' names); with `share`,
    /// the statements first become calls of shared functions (shareStatements).
    static func body(_ statements: [String], large: Bool, function name: String, parameters: [String],
                     arguments: [String]? = nil, share: Bool = false, perPart: Int = statementsPerPart) -> (parts: String, body: String) {
        guard large, !statements.isEmpty else { return ("", statements.joined(separator: "\n")) }
        var parts = "", statements = statements, calls: [String] = []
        if share { (parts, statements) = shareStatements(statements, function: name, parameters: parameters) }
        let names = parameterNames(parameters), arguments = arguments ?? names
        let unused = names.map { "(void)\($0);" }.joined(separator: " ")
        for (k, start) in stride(from: 0, to: statements.count, by: perPart).enumerated() {
            let part = "\(name)_part\(k)"
            parts += """
                static __attribute__((noinline)) void \(part)(\(parameters.joined(separator: ", "))) {
                    \(unused)
                \(statements[start..<min(start + perPart, statements.count)].joined(separator: "\n"))
                }

                """
            calls.append("    \(part)(\(arguments.joined(separator: ", ")));")
        }
        return (parts, calls.joined(separator: "\n"))
    }

    /// `c` of `example_ctx *c`.
    private static func parameterNames(_ parameters: [String]) -> [String] {
        parameters.map { String($0.split { $0 == " " || $0 == "*" }.last!) }
    }
}
