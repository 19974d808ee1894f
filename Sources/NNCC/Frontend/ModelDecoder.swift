import Foundation

/// Reads a format-1 model description into an IR graph whose shapes are not
/// yet inferred. Every error names the file and the JSON path.
public enum ModelDecoder {
    /// Where the weights file named by the model lives, resolved against the model's folder.
    public struct Decoded {
        public var graph: Graph
        public var weightsPath: String?
    }

    public static func load(path: String) throws -> Decoded {
        let data = try FormatIO.readFile(path)
        guard data.count < 64 << 20 else { throw NNCCError(file: path, "model description larger than 64 MiB") }
        return try decode(data, file: path)
    }

    public static func decode(_ data: Data, file: String) throws -> Decoded {
        let json: JSON
        do { json = try JSONReader.parse(data) } catch let e as JSONSyntaxError {
            throw NNCCError(file: file, "malformed JSON at \(e)")
        }
        let top = try Fields(json, file: file, path: "")
        try top.onlyKeys(["format", "name", "input", "layers", "outputs", "weights", "seed", "train"], what: "a model")
        let format = try top.int("format")
        guard format == 1 else { throw top.fail("format", "expected 1, found \(format)") }
        let name = try top.string("name")
        try validateName(name) { top.fail("name", $0) }

        let input = try Fields(try top.required("input"), file: file, path: "input")
        try input.onlyKeys(["shape"], what: "input")
        let shape = try intList(input.raw("shape") ?? .null, path: "input.shape", file: file, lo: 1)
        guard (1...Limits.rank).contains(shape.count) else {
            throw input.fail("shape", "expected 1 to \(Limits.rank) dimensions, found \(shape.count)")
        }
        try Limits.check("input of shape", shape, limit: Limits.exampleElements) { input.fail("shape", $0) }

        guard case let .array(layerValues) = try top.required("layers"), !layerValues.isEmpty else {
            throw top.fail("layers", "expected a non-empty array of layers")
        }
        guard layerValues.count <= Limits.layers else {
            throw top.fail("layers", "\(layerValues.count) layers; at most \(Limits.layers) (docs/compile-time.md)")
        }
        var nodes = [Node(name: "input", op: .input, inputs: [], shape: shape, origin: "input")]
        var index = ["input": 0]
        for (i, lv) in layerValues.enumerated() {
            let f = try Fields(lv, file: file, path: "layers[\(i)]")
            let layerName = try f.string("name", default: String(i))
            guard !layerName.isEmpty, layerName != "input" else {
                throw f.fail("name", "expected a non-empty name other than \"input\"")
            }
            try validateLayerName(layerName) { f.fail("name", $0) }
            guard index[layerName] == nil else { throw f.fail("name", "duplicate layer name \"\(layerName)\"") }
            var inputs = [nodes.count - 1]
            if let iv = f.raw("inputs") {
                guard case let .array(names) = iv, !names.isEmpty else {
                    throw f.fail("inputs", "expected a non-empty array of layer names")
                }
                inputs = try names.enumerated().map { j, nv in
                    guard case let .string(s) = nv, let k = index[s] else {
                        throw NNCCError(file: file, path: "\(f.path).inputs[\(j)]",
                                        "expected the name of an earlier layer or \"input\"")
                    }
                    return k
                }
            }
            if TransformerLayers.composite.contains(try f.string("type")) {
                guard inputs.count == 1 else { throw f.fail("inputs", "expected one input, found \(inputs.count)") }
                try TransformerLayers.append(f, name: layerName, input: inputs[0], to: &nodes)
                index[layerName] = nodes.count - 1
                continue
            }
            let (op, activation) = try f.string("type") == "custom"
                ? (try CustomSource.layer(f, modelFile: file), nil) : try LayerDecoder.decode(f)
            nodes.append(Node(name: layerName, op: op, inputs: inputs, origin: f.path))
            // `activation` on dense/conv2d parses as its own node; fusion merges it back.
            if let act = activation {
                nodes.append(Node(name: layerName + "/activation", op: act, inputs: [nodes.count - 1],
                                  origin: f.sub("activation")))
            }
            index[layerName] = nodes.count - 1
        }

        var outputs = [nodes.count - 1]
        var outputNames = [index.first { $0.value == nodes.count - 1 }?.key ?? nodes[nodes.count - 1].name]
        if let ov = top.raw("outputs") {
            guard case let .array(names) = ov, !names.isEmpty else {
                throw top.fail("outputs", "expected a non-empty array of layer names")
            }
            var listed = Set<Int>()
            outputs = try names.enumerated().map { j, nv in
                guard case let .string(s) = nv, let k = index[s], k > 0 else {
                    throw NNCCError(file: file, path: "outputs[\(j)]", "expected the name of a layer")
                }
                guard listed.insert(k).inserted else {
                    throw NNCCError(file: file, path: "outputs[\(j)]", "layer \"\(s)\" is listed twice")
                }
                return k
            }
        }

        if case let .array(names)? = top.raw("outputs") {
            outputNames = names.compactMap { if case let .string(s) = $0 { return s } else { return nil } }
        }
        var graph = Graph(name: name, nodes: nodes, outputs: outputs)
        graph.outputNames = outputNames
        if top.has("seed") {
            graph.seed = UInt64(try top.int("seed", min: 0))
        }
        if let tv = top.raw("train") { graph.train = try TrainDecoder.decode(tv, file: file) }
        var weights: String?
        if top.has("weights") {
            let w = try top.string("weights")
            guard !w.isEmpty else { throw top.fail("weights", "expected a file path") }
            let base = URL(fileURLWithPath: file).deletingLastPathComponent()
            weights = w.hasPrefix("/") ? w : base.appendingPathComponent(w).path
        }
        return Decoded(graph: graph, weightsPath: weights)
    }

    /// Model names become C symbol prefixes (`NAME_create`), the header `NAME.h` and the library
    /// `libNAME.so`, so they must be C identifiers that collide with nothing a program also uses.
    public static func validateName(_ name: String, fail: (String) -> NNCCError) throws {
        guard isCIdentifier(name) else {
            throw fail("expected a C identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters), found \"\(name)\"")
        }
        let lower = name.lowercased()
        if lower == "nn" || lower.hasPrefix("nn_") {
            throw fail("names beginning with \"nn_\" (in any case) are reserved for nncc's own C symbols, found \"\(name)\"")
        }
        if name.hasPrefix("__") || (name.hasPrefix("_") && name.dropFirst().first.map { $0.isUppercase } ?? true) {
            throw fail("names beginning with \"__\" or \"_\" and a capital letter are reserved by the C standard "
                + "(the header guard \(name)_H could be a system header's), found \"\(name)\"")
        }
        if reservedNames.contains(name) {
            throw fail("\"\(name)\" is reserved: \(name).h or a \(name)_* symbol would collide with "
                + "a system header or C library function; choose another name")
        }
    }

    /// Names whose header or symbols clash with the system's (see docs/input-limits.md): headers
    /// the generated C or a C program includes (`-I DIR` finds NAME.h before them), and C library
    /// functions named X_create, X_destroy, X_run, X_info, X_pack or X_strerror (glibc, libm, libgomp),
    /// which an exported NAME_create would replace in every program linking the library.
    static let reservedNames: Set<String> = [
        // headers
        "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits", "locale", "math",
        "setjmp", "signal", "stdalign", "stdarg", "stdatomic", "stdbool", "stddef", "stdint", "stdio", "stdlib",
        "stdnoreturn", "string", "tgmath", "threads", "time", "uchar", "wchar", "wctype", "omp", "immintrin",
        "unistd", "fcntl", "dlfcn", "pthread", "sched", "strings", "alloca", "malloc", "memory",
        // X_create, X_destroy, ... in glibc
        "acc", "acc_present_or", "argz", "authdes", "authdes_pk", "authnone", "authunix", "clnt", "clntraw", "clnttcp",
        "clntudp", "clntunix", "cnd", "epoll", "gai", "memfd", "mtx", "ns_name", "posix_spawn_file_actions",
        "posix_spawnattr", "printf_size", "pthread_attr", "pthread_barrier", "pthread_barrierattr", "pthread_cond",
        "pthread_condattr", "pthread_key", "pthread_mutex", "pthread_mutexattr", "pthread_rwlock",
        "pthread_rwlockattr", "pthread_spin", "sem", "svc", "svcfd", "svcraw", "svctcp", "svcudp", "svcunix",
        "svcunixfd", "thrd", "timer", "timerfd", "tss", "xdrmem", "xdrrec", "xdrstdio",
    ]

    /// Layer names become parameter names in weights files and C string literals, where a control
    /// character (a NUL ends a C string) would corrupt the file or the terminal.
    static func validateLayerName(_ name: String, fail: (String) -> NNCCError) throws {
        if let c = name.unicodeScalars.first(where: isControlCharacter) {
            throw fail("layer names may not contain control characters, found U+\(String(format: "%04X", c.value))")
        }
    }

    static func intList(_ v: JSON, path: String, file: String, lo: Int) throws -> [Int] {
        guard case let .array(items) = v, !items.isEmpty else {
            throw NNCCError(file: file, path: path, "expected a non-empty array of integers")
        }
        return try items.enumerated().map { j, x in
            try Fields.int(x, lo: lo, hi: Limits.dimension) { NNCCError(file: file, path: "\(path)[\(j)]", $0) }
        }
    }
}
