/// Keeps gcc's time linear in the layer count (docs/compile-time.md).
/// Small models are emitted as they always were. Past `largeModelNodes`,
/// layers with identical kernels share one definition, and the long
/// straight-line functions (forward, packing, initialisation, the training
/// step) are split into out-of-line parts of `statementsPerPart` statements:
/// gcc's optimisation passes are superlinear in a function's size.
enum CodeSize {
    static let largeModelNodes = 64
    static let statementsPerPart = 32

    static func isLarge(_ g: Graph) -> Bool { g.nodes.count > largeModelNodes }

    /// Calls to kernels whose definitions differ only in the kernel's name
    /// and its banner comment go to the first such kernel; the others are dropped.
    static func shareKernels(_ kernels: [KernelCode]) -> [KernelCode] {
        var first = [String: String]()  // definition with the name blanked -> kernel name
        var out: [KernelCode] = []
        for var k in kernels {
            let name = String(k.call.prefix { $0 != "(" })
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

    private static func withoutBanner(_ definition: String) -> Substring {
        guard definition.hasPrefix("/*"), let end = definition.range(of: "*/") else { return definition[...] }
        return definition[end.upperBound...]
    }

    /// A function body made of `statements` (each one or more lines, already
    /// indented). In large models the statements go into
    /// `NAME_partK` functions taking `parameters` (C declarations) and the
    /// body calls them in order with `arguments` (default: the parameters' names).
    static func body(_ statements: [String], large: Bool, function name: String, parameters: [String],
                     arguments: [String]? = nil) -> (parts: String, body: String) {
        guard large, !statements.isEmpty else { return ("", statements.joined(separator: "\n")) }
        let names = parameters.map { String($0.split { $0 == " " || $0 == "*" }.last!) }
        let arguments = arguments ?? names
        let unused = names.map { "(void)\($0);" }.joined(separator: " ")
        var parts = "", calls: [String] = []
        for (k, start) in stride(from: 0, to: statements.count, by: statementsPerPart).enumerated() {
            let part = "\(name)_part\(k)"
            parts += """
                static __attribute__((noinline)) void \(part)(\(parameters.joined(separator: ", "))) {
                    \(unused)
                \(statements[start..<min(start + statementsPerPart, statements.count)].joined(separator: "\n"))
                }

                """
            calls.append("    \(part)(\(arguments.joined(separator: ", ")));")
        }
        return (parts, calls.joined(separator: "\n"))
    }
}
