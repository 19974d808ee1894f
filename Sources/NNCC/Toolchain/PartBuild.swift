import Foundation

/// NAME.c compiled as SourceParts.count parts in parallel (docs/compile-time.md): gcc is single-threaded
/// and the machine usually has a core to spare. Each part is the whole file with `-DNN_PART=k`; the
/// objects link into the shared object, or merge (`cc -r`) into one object whose hidden symbols are
/// made local again (`objcopy --localize-hidden`), so libNAME.a exports what the one-file build does.
extension GCC {
    /// How many processes compile a library: `options.parts`, else $NNCC_PARTS (1 turns the split off),
    /// else one on a one-core machine and SourceParts.count otherwise; always one for reference builds
    /// (-O0 is quick). At most SourceParts.count.
    static func partCount(_ options: GCCOptions) -> Int {
        if options.reference { return 1 }
        let env = ProcessInfo.processInfo.environment["NNCC_PARTS"].flatMap { Int($0) }
        if let n = options.parts ?? env, n >= 1 { return min(n, SourceParts.count) }
        return ProcessInfo.processInfo.activeProcessorCount >= 2 ? SourceParts.count : 1
    }

    /// The flags a part adds: its number, and no complaint about the templates and tables another part uses.
    static func partFlags(_ k: Int) -> [String] {
        ["-DNN_PART=\(k)", "-Wno-unused-function", "-Wno-unused-const-variable"]
    }

    /// Compiles `source` to the shared object `output`, the parts' objects in `work`.
    static func buildSharedObject(source: String, output: String, options: GCCOptions, work: URL) throws {
        let parts = partCount(options)
        guard parts > 1 else { return try run(try sharedObjectArguments(source: source, output: output, options: options)) }
        let objects = try compileParts(source: source, parts: parts, options: options, work: work)
        try run(try linkSharedArguments(objects: objects, output: output, options: options))
    }

    /// Compiles `source` to the one relocatable object `output`, the parts' objects in `work`.
    static func buildObject(source: String, output: String, options: GCCOptions, work: URL) throws {
        let parts = partCount(options)
        guard parts > 1 else { return try run(try objectArguments(source: source, output: output, options: options)) }
        let objects = try compileParts(source: source, parts: parts, options: options, work: work)
        try run([try path(options.cc), "-r", "-o", output] + objects)
        try run([try binutil("objcopy", options: options), "--localize-hidden", output])
    }

    /// The parts' objects, compiled at once, each under its watcher; the first part's failure is thrown.
    private static func compileParts(source: String, parts: Int, options: GCCOptions, work: URL) throws -> [String] {
        let objects = (1...parts).map { work.appendingPathComponent("part\($0).o").path }
        let argv = try objects.enumerated().map { k, object in
            var a = try objectArguments(source: source, output: object, options: options)
            a.insert(contentsOf: partFlags(k + 1), at: a.count - 3)  // before -o
            return a
        }
        let lock = NSLock()
        var errors = [Int: Error]()
        DispatchQueue.concurrentPerform(iterations: parts) { k in
            do { try run(argv[k]) } catch {
                lock.lock(); errors[k] = error; lock.unlock()
            }
        }
        if let first = errors.keys.min() { throw errors[first]! }
        return objects
    }
}
