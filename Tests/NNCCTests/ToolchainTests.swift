import Foundation
import XCTest
@testable import NNCC

final class ToolchainTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("nncc-toolchain-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    // MARK: SHA-256

    func testSHA256Vectors() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), SHA256.hex("abc"))
        // 56 bytes: the padding spills into a second block.
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(String(repeating: "a", count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    // MARK: GCC

    func testArgumentsHaveNoShellAndAreStrict() throws {
        // Level 3 named: `make test` sets NNCC_OPT_LEVEL=1 for everything else.
        let argv = try GCC.sharedObjectArguments(source: "/a b/m.c", output: "/a b/libm.so", options: GCCOptions(optLevel: 3))
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: argv[0]), argv[0])
        XCTAssertFalse(argv.contains { ["sh", "bash", "/bin/sh", "-c"].contains($0) })
        for flag in ["-std=c11", "-O3", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-lm"] + Target.host.compilerFlags {
            XCTAssertTrue(argv.contains(flag), flag)
        }
        XCTAssertFalse(argv.contains("-fopenmp"))
        XCTAssertEqual(Array(argv.suffix(4)), ["-o", "/a b/libm.so", "/a b/m.c", "-lm"])
        XCTAssertEqual(argv.filter { $0.hasPrefix("-O") }, ["-O3"])
        // A quick build keeps gcc's FMA contraction; a reference build is -O0 whatever the level.
        let quick = try GCC.sharedObjectArguments(source: "m.c", output: "m.so", options: GCCOptions(optLevel: 1))
        XCTAssertEqual(quick.filter { $0.hasPrefix("-O") }, ["-O1"])
        XCTAssertEqual(quick.contains("-fexpensive-optimizations"), try Compiler.find().family == .gcc)
        let reference = try GCC.sharedObjectArguments(source: "m.c", output: "m.so", options: GCCOptions(reference: true, optLevel: 2))
        XCTAssertEqual(reference.filter { $0.hasPrefix("-O") }, ["-O0"])

        let portable = try GCC.sharedObjectArguments(source: "m.c", output: "m.so",
                                                     options: GCCOptions(target: .portable, threads: 4))
        XCTAssertFalse(portable.contains { $0.hasPrefix("-march") })
        // A named level compiles for that level, never for the build machine.
        let v3 = try GCC.sharedObjectArguments(source: "m.c", output: "m.so", options: GCCOptions(target: .x86_64_v3))
        XCTAssertTrue(v3.contains("-march=x86-64-v3"))
        XCTAssertFalse(v3.contains("-march=native"))
        XCTAssertTrue(portable.contains("-fopenmp"))
    }

    func testCompilerIsIdentifiedOnce() throws {
        let c = try Compiler.find()
        XCTAssertFalse(c.versionLine.isEmpty)
        XCTAssertGreaterThan(c.major, 0, c.versionLine)
        XCTAssertEqual(try Compiler.find(), c)
        XCTAssertEqual(try GCC.path(), c.path)
    }

    func testCompilesPathWithShellMetacharacters() throws {
        // Would break (or worse) if anything went through a shell.
        let dir = scratch.appendingPathComponent("we ird; $(touch pwned) 'q'", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = dir.appendingPathComponent("ok.c").path
        try "int ok_answer(void) { return 42; }\n".write(toFile: src, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("libok.so").path
        try GCC.run(GCC.sharedObjectArguments(source: src, output: out, options: GCCOptions(target: .portable)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("pwned").path))
    }

    func testFailingSourceReportsGCCMessage() throws {
        let src = scratch.appendingPathComponent("bad.c").path
        try "int bad(void) { return undeclared_thing; }\n".write(toFile: src, atomically: true, encoding: .utf8)
        let argv = try GCC.sharedObjectArguments(source: src, output: scratch.appendingPathComponent("libbad.so").path,
                                                 options: GCCOptions())
        XCTAssertThrowsError(try GCC.run(argv)) { error in
            guard let e = error as? NNCCError else { return XCTFail("not an NNCCError: \(error)") }
            XCTAssertEqual(e.file, src)
            XCTAssertTrue(e.message.hasPrefix("gcc failed (exit 1):\n"), e.message)
            XCTAssertTrue(e.message.contains("undeclared_thing"), e.message)
        }
    }

    func testWarningsAreErrors() throws {
        let src = scratch.appendingPathComponent("warn.c").path
        try "int warn(int a) { int unused = a; return 0; }\n".write(toFile: src, atomically: true, encoding: .utf8)
        let argv = try GCC.sharedObjectArguments(source: src, output: scratch.appendingPathComponent("libw.so").path,
                                                 options: GCCOptions())
        XCTAssertThrowsError(try GCC.run(argv)) { error in
            XCTAssertTrue("\(error)".contains("unused"), "\(error)")
        }
    }

    func testMissingCompilerIsAnError() {
        XCTAssertThrowsError(try GCC.run(["/nonexistent/gcc", "x.c"])) { error in
            XCTAssertTrue(error is NNCCError, "\(error)")
        }
    }

    // MARK: BuildCache

    private func leftovers(_ root: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix(".tmp-") }
    }

    func testCacheBuildsOnceThenHits() throws {
        let cache = BuildCache(root: scratch.appendingPathComponent("cache"))
        var builds = 0
        let a = try cache.directory(key: "k1", marker: "libx.so") { dir in
            builds += 1
            try Data("lib".utf8).write(to: dir.appendingPathComponent("libx.so"))
        }
        let b = try cache.directory(key: "k1", marker: "libx.so") { _ in builds += 1 }
        XCTAssertEqual(a, b)
        XCTAssertEqual(builds, 1)
        XCTAssertEqual(a.lastPathComponent, "k1")
        XCTAssertEqual(leftovers(cache.root), [])
    }

    func testConcurrentBuildsOfOneKeyAgree() throws {
        let cache = BuildCache(root: scratch.appendingPathComponent("cache"))
        let log = RaceLog()
        // Real threads (not a pool that may serialize) so the builders overlap.
        let group = DispatchGroup()
        for i in 0..<4 {
            group.enter()
            Thread {
                let r = Result {
                    try cache.directory(key: "same", marker: "libm.so") { dir in
                        log.locked { $0.builds += 1 }
                        try Data("half".utf8).write(to: dir.appendingPathComponent("libm.so"))
                        Thread.sleep(forTimeInterval: 0.2)  // keep every builder in flight at once
                        try Data("whole \(i)".utf8).write(to: dir.appendingPathComponent("libm.so"))
                    }
                }
                log.locked { $0.results.append(r) }
                group.leave()
            }.start()
        }
        group.wait()
        let dirs = try log.results.map { try $0.get() }
        XCTAssertEqual(dirs.count, 4)
        XCTAssertEqual(Set(dirs).count, 1)
        XCTAssertGreaterThan(log.builds, 1, "builders did not overlap; the race path was not exercised")
        let lib = try String(contentsOf: dirs[0].appendingPathComponent("libm.so"), encoding: .utf8)
        XCTAssertTrue(lib.hasPrefix("whole "), lib)
        XCTAssertEqual(leftovers(cache.root), [])
    }

    func testThrowingBuildLeavesNothing() throws {
        let cache = BuildCache(root: scratch.appendingPathComponent("cache"))
        struct Boom: Error {}
        XCTAssertThrowsError(try cache.directory(key: "k", marker: "libx.so") { dir in
            try Data("partial".utf8).write(to: dir.appendingPathComponent("libx.so"))
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.root.path), [])
    }

    func testBuildWithoutMarkerIsAnError() throws {
        let cache = BuildCache(root: scratch.appendingPathComponent("cache"))
        XCTAssertThrowsError(try cache.directory(key: "k", marker: "libx.so") { _ in }) { XCTAssertTrue($0 is NNCCError) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.root.path), [])
        XCTAssertThrowsError(try cache.directory(key: "../evil", marker: "m") { _ in })
    }

    func testStaleEntryWithoutMarkerIsReplaced() throws {
        let cache = BuildCache(root: scratch.appendingPathComponent("cache"))
        let stale = cache.root.appendingPathComponent("k")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        try Data().write(to: stale.appendingPathComponent("junk"))
        let dir = try cache.directory(key: "k", marker: "libx.so") { d in
            try Data("x".utf8).write(to: d.appendingPathComponent("libx.so"))
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("libx.so").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("junk").path))
        XCTAssertEqual(leftovers(cache.root), [])
    }

    func testDefaultRootHonoursEnvironment() {
        let root = BuildCache().root.path
        if let env = ProcessInfo.processInfo.environment["NNCC_CACHE"], !env.isEmpty {
            XCTAssertEqual(root, URL(fileURLWithPath: env).path)
        } else {
            XCTAssertTrue(root.hasSuffix("/.cache/nncc") || root.hasPrefix("/tmp/nncc-cache-"), root)
        }
    }
}

/// Results shared by the racing builder threads, guarded by a lock.
private final class RaceLog: @unchecked Sendable {
    private let lock = NSLock()
    var results: [Result<URL, Error>] = []
    var builds = 0
    func locked(_ body: (RaceLog) -> Void) { lock.lock(); body(self); lock.unlock() }
}
