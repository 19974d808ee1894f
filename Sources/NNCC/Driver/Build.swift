import Foundation

/// What `nncc compile` leaves in its output folder, or the cache holds.
public struct BuildProducts {
    public var directory: URL
    public var name: String
    public var graph: Graph
    /// The library's memory figures (NAME.h's NAME_HEAP_BYTES and the rest).
    public var memory: MemoryFigures?
    public var library: URL { directory.appendingPathComponent("lib\(name).so") }
    public var source: URL { directory.appendingPathComponent("\(name).c") }
    public var header: URL { directory.appendingPathComponent("\(name).h") }
    public var manifest: URL { directory.appendingPathComponent("\(name).manifest.json") }
}

public enum Builder {
    /// Writes NAME.c, NAME.h, NAME.manifest.json and libNAME.so into `dir`, and with `package`
    /// libNAME.a, NAME.pc and NAME-config.cmake (`Packaging`; `nncc compile`).
    /// Each file is written to a temporary name and renamed, so a failure
    /// (gcc's included) leaves no partial output behind.
    public static func build(_ model: LoadedModel, options: CompileOptions, into dir: URL, package: Bool = false) throws
        -> BuildProducts {
        try Compiler.find(options.cc).requireBuilds(options.target)  // before the output folder is made
        let (lib, g) = try Pipeline.generate(model, options: options)
        return try write(lib, graph: g, model: model, options: options, into: dir, package: package)
    }

    /// The library for a model from the cache, compiling it at most once.
    public static func cached(_ model: LoadedModel, options: CompileOptions) throws -> BuildProducts {
        let (lib, g) = try Pipeline.generate(model, options: options)
        let key = try cacheKey(source: lib.source, options: options)
        let dir = try BuildCache().directory(key: key, marker: "lib\(g.name).so") { tmp in
            _ = try write(lib, graph: g, model: model, options: options, into: tmp)
        }
        return BuildProducts(directory: dir, name: g.name, graph: g)
    }

    /// Hashes the generated C, the target, the compiler's flags, the part count, its path and its `--version`.
    static func cacheKey(source: String, options: CompileOptions) throws -> String {
        let argv = try GCC.sharedObjectArguments(source: "x.c", output: "x.so", options: gccOptions(options))
        let parts = "parts \(GCC.partCount(gccOptions(options)))"  // the same code, in one object or several
        let key = SHA256.hex([source, options.target.label, argv.joined(separator: " "), parts, try Compiler.find(options.cc).versionText]
            .joined(separator: "\u{0}"))
        return String(key.prefix(32))
    }

    static func gccOptions(_ o: CompileOptions) -> GCCOptions {
        GCCOptions(target: o.target, threads: o.threads, reference: o.reference, cc: o.cc, optLevel: o.optLevel, parts: o.parts)
    }

    static func write(_ lib: GeneratedLibrary, graph g: Graph, model: LoadedModel, options: CompileOptions,
                      into dir: URL, package: Bool = false) throws -> BuildProducts {
        let products = BuildProducts(directory: dir, name: g.name, graph: g, memory: lib.memory)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw NNCCError(file: dir.path, "cannot create the output directory: \(error.localizedDescription)")
        }
        // gcc reads a temporary source and writes the library through AtomicFile: renamed only on success.
        let tmpSource = dir.appendingPathComponent(".\(g.name).c.tmp-\(UUID().uuidString).c")
        let work = dir.appendingPathComponent(".\(g.name).build-\(UUID().uuidString)")
        return try Interrupt.removingOnInterrupt([tmpSource.path, work.path]) {
            try AtomicFile.write(Data(lib.source.utf8), to: tmpSource.path)
            defer { try? FileManager.default.removeItem(at: tmpSource) }
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            try AtomicFile.replace(products.library.path) { tmpLib in
                try compile(lib, products: products, model: model, options: options, tmpSource: tmpSource.path, tmpLib: tmpLib,
                            work: work, package: package)
            }
            return products
        }
    }

    /// Runs gcc into `tmpLib`, then writes NAME.c, NAME.h and the manifest; the caller renames the library last.
    private static func compile(_ lib: GeneratedLibrary, products: BuildProducts, model: LoadedModel,
                                options: CompileOptions, tmpSource: String, tmpLib: String, work: URL, package: Bool) throws {
        let g = products.graph
        let argv = try GCC.sharedObjectArguments(source: tmpSource, output: tmpLib, options: gccOptions(options))
        do {
            if package {
                try Packaging.build(lib, model: model, options: options, name: g.name, sourcePath: tmpSource, tmpLib: tmpLib,
                                    work: work, dir: products.directory)
            } else {
                try GCC.buildSharedObject(source: tmpSource, output: tmpLib, options: gccOptions(options), work: work)
            }
        } catch var e as NNCCError {
            // The temporary source is gone once we return: name the model and the C file it became.
            e.message = e.message.replacingOccurrences(of: tmpSource, with: "\(g.name).c")
            e.file = model.path
            throw e
        }
        let shownArgv = argv.map { $0 == tmpSource ? products.source.path : $0 == tmpLib ? products.library.path : $0 }
        let manifest = Manifest.json(g, lib: lib, model: model, options: options, gcc: shownArgv,
                                     compiler: try Compiler.find(options.cc))
        try AtomicFile.write(Data(lib.source.utf8), to: products.source.path)
        try AtomicFile.write(Data(lib.header.utf8), to: products.header.path)
        try AtomicFile.write(Data(manifest.utf8), to: products.manifest.path)
    }
}
