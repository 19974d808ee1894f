import Foundation
import XCTest
@testable import NNCC

/// Issue 15, defects 6 and 8: gcc does not outlive an interrupted or killed
/// nncc, the cache's temporary folders do not pile up, and the cache refuses
/// a directory another user could plant a library in and rebuilds damaged entries.
final class HardeningProcessTests: XCTestCase {
    static let examples = CLITests.testsDir.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples")
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("nncc-procs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// Starts the nncc executable with its output in files under `tmp`.
    func start(_ args: [String], cache: URL) throws -> Process {
        let p = try CLITests.process(args, in: tmp, cache: cache)
        let err = tmp.appendingPathComponent("stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        return p
    }

    func run(_ args: [String], cache: URL) throws -> (status: Int32, stderr: String) {
        let before = Set(listing(tmp))
        let p = try start(args, cache: cache)
        p.waitUntilExit()
        let errFile = listing(tmp).first { $0.hasPrefix("stderr-") && !before.contains($0) }
        let stderr = errFile.flatMap { try? String(contentsOf: tmp.appendingPathComponent($0), encoding: .utf8) } ?? ""
        return (p.terminationStatus, stderr)
    }

    func listing(_ dir: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() }

    /// Pids of processes other than `except` whose command line mentions `marker`.
    func processes(mentioning marker: String, except: Int32) -> [Int32] {
        let mine = getpid()
        return listing(URL(fileURLWithPath: "/proc")).compactMap(Int32.init).filter { pid in
            guard pid != except, pid != mine,
                  let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: cmd, as: UTF8.self).contains(marker)
        }
    }

    func waitFor(seconds: Double, _ done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if done() { return true }
            usleep(20_000)
        }
        return done()
    }

    /// Compiles a model that keeps gcc busy for seconds, signals nncc once gcc
    /// runs, and expects gcc and its children (whose argv hold the unique
    /// output folder) gone within 5 s.
    func interruptCompile(_ sig: Int32) throws -> (out: URL, cache: URL) {
        let out = tmp.appendingPathComponent("out-\(UUID().uuidString)")
        let cache = tmp.appendingPathComponent("cache")
        let model = Self.examples.appendingPathComponent("lenet5.json").path
        let p = try start(["compile", model, "--train", "-o", out.path], cache: cache)
        let nncc = p.processIdentifier
        XCTAssertTrue(waitFor(seconds: 120) { !processes(mentioning: out.path, except: nncc).isEmpty || !p.isRunning },
                      "gcc never started")
        XCTAssertTrue(p.isRunning, "the compile ended before it could be interrupted")
        usleep(300_000)  // let cc1 start too
        XCTAssertFalse(processes(mentioning: out.path, except: nncc).isEmpty)
        kill(nncc, sig)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertEqual(p.terminationStatus, sig)
        XCTAssertTrue(waitFor(seconds: 5) { processes(mentioning: out.path, except: nncc).isEmpty },
                      "still running after nncc died: \(processes(mentioning: out.path, except: nncc))")
        return (out, cache)
    }

    func testInterruptKillsCompilerAndRemovesTemporaries() throws {
        let (out, _) = try interruptCompile(SIGINT)
        XCTAssertEqual(listing(out).filter { $0.contains(".tmp-") }, [])
        _ = try interruptCompile(SIGTERM)
    }

    func testSIGKILLKillsCompiler() throws {
        _ = try interruptCompile(SIGKILL)
    }

    func testStaleTemporaryFoldersAreRemovedWhenTheCacheIsOpened() throws {
        let cache = BuildCache(root: tmp.appendingPathComponent("cache"))
        try FileManager.default.createDirectory(at: cache.root, withIntermediateDirectories: true)
        // A pid that is surely dead: a child that already exited.
        let t = Process()
        t.executableURL = URL(fileURLWithPath: "/bin/true")
        try t.run()
        t.waitUntilExit()
        let dead = t.processIdentifier
        let fm = FileManager.default
        func folder(_ name: String, age: TimeInterval = 0) throws {
            let url = cache.root.appendingPathComponent(name)
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            try Data("partial".utf8).write(to: url.appendingPathComponent("libm.so"))
            try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-age)], ofItemAtPath: url.path)
        }
        try folder(".tmp-\(dead)-A")                  // its builder is dead
        try folder(".tmp-1-B", age: 2 * 3600)          // pid alive but hours old: debris of a reused pid
        try folder(".tmp-1-C")                         // a live builder's folder: kept
        try folder(".tmp-D5C1E7A0", age: 2 * 3600)     // an older nncc's name, without a pid
        _ = try cache.directory(key: "k", marker: "libx.so") { dir in
            try Data("x".utf8).write(to: dir.appendingPathComponent("libx.so"))
        }
        XCTAssertEqual(listing(cache.root), [".tmp-1-C", "k"])
    }

    /// SIGKILL leaves the cache's temporary folder behind; the next use removes it.
    func testKilledBuildersFolderIsRemovedOnNextUse() throws {
        let cache = tmp.appendingPathComponent("cache")
        let model = Self.examples.appendingPathComponent("lenet5.json").path
        let x = tmp.appendingPathComponent("x.npy").path
        try NumPy.write(Tensor(shape: [1, 1, 28, 28], data: [Float](repeating: 0.5, count: 784)), to: x)
        let p = try start(["run", model, "--input", x], cache: cache)
        XCTAssertTrue(waitFor(seconds: 120) { listing(cache).contains { $0.hasPrefix(".tmp-") } || !p.isRunning })
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(listing(cache).filter { $0.hasPrefix(".tmp-") }.count, 1, "\(listing(cache))")
        XCTAssertTrue(waitFor(seconds: 5) { processes(mentioning: cache.path, except: p.processIdentifier).isEmpty })
        _ = try BuildCache(root: cache).directory(key: "other", marker: "libx.so") { dir in
            try Data("x".utf8).write(to: dir.appendingPathComponent("libx.so"))
        }
        XCTAssertEqual(listing(cache), ["other"])
    }

    // MARK: Defect 8: the cache's directory and entries

    func testCacheDirectoryIsPrivate() throws {
        let cache = BuildCache(root: tmp.appendingPathComponent("new/cache"))
        _ = try cache.directory(key: "k", marker: "libx.so") { dir in
            try Data("x".utf8).write(to: dir.appendingPathComponent("libx.so"))
        }
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: cache.root.path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o777, 0o700)
    }

    func testCacheOwnedByAnotherUserIsRefused() throws {
        try XCTSkipUnless(getuid() == 0, "needs root to give the directory to another user")
        let root = tmp.appendingPathComponent("planted")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        XCTAssertEqual(chown(root.path, 65534, 65534), 0)
        XCTAssertEqual(chmod(root.path, 0o700), 0)
        var built = false
        XCTAssertThrowsError(try BuildCache(root: root).directory(key: "k", marker: "libx.so") { _ in built = true }) {
            let e = $0 as? NNCCError
            XCTAssertEqual(e?.file, root.path)
            XCTAssertTrue(e?.message.contains("owned by uid 65534") ?? false, "\($0)")
        }
        XCTAssertFalse(built)
    }

    func testCacheWritableByOthersIsRefused() throws {
        let root = tmp.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(root.path, 0o777), 0)
        XCTAssertThrowsError(try BuildCache(root: root).directory(key: "k", marker: "libx.so") { _ in }) {
            XCTAssertTrue(($0 as? NNCCError)?.message.contains("writable by its group") ?? false, "\($0)")
        }
        XCTAssertEqual(chmod(root.path, 0o703), 0)
        XCTAssertThrowsError(try BuildCache(root: root).directory(key: "k", marker: "libx.so") { _ in }) {
            XCTAssertTrue(($0 as? NNCCError)?.message.contains("writable by others") ?? false, "\($0)")
        }
    }

    /// A library planted in another user's cache directory, with a matching
    /// entry record, is never loaded: its constructor would leave a file.
    func testPlantedLibraryIsNotLoaded() throws {
        try XCTSkipUnless(getuid() == 0, "needs root to give the directory to another user")
        let model = CLITests.golden.appendingPathComponent("dense_relu/model.json").path
        let x = CLITests.golden.appendingPathComponent("dense_relu/x.npy").path
        let good = tmp.appendingPathComponent("good")
        XCTAssertEqual(try run(["run", model, "--input", x], cache: good).status, 0)
        let planted = tmp.appendingPathComponent("planted")
        try FileManager.default.copyItem(at: good, to: planted)
        let entry = try XCTUnwrap(listing(planted).first)
        let lib = planted.appendingPathComponent(entry).appendingPathComponent("libdense_relu.so")
        let pwned = tmp.appendingPathComponent("pwned")
        let source = tmp.appendingPathComponent("evil.c")
        try Data("""
            #include <stdio.h>
            __attribute__((constructor)) static void evil(void) { fclose(fopen("\(pwned.path)", "w")); }
            """.utf8).write(to: source)
        try FileManager.default.removeItem(at: lib)
        try GCC.run([try GCC.path(), "-shared", "-fPIC", "-o", lib.path, source.path])
        let data = try Data(contentsOf: lib)
        try Data("\(data.count) \(SHA256.hex(data))\n".utf8)
            .write(to: planted.appendingPathComponent(entry).appendingPathComponent(".entry"))
        XCTAssertEqual(chown(planted.path, 65534, 65534), 0)
        let r = try run(["run", model, "--input", x], cache: planted)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(planted.path): refusing the cache directory: it is owned by uid 65534"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: pwned.path), "the planted library was loaded")
    }

    /// A truncated library (a crash before the data reached the disk) crashed
    /// ld.so with SIGBUS; now the entry no longer matches its record and is rebuilt.
    func testTruncatedLibraryIsRebuilt() throws {
        let model = CLITests.golden.appendingPathComponent("dense_relu/model.json").path
        let x = CLITests.golden.appendingPathComponent("dense_relu/x.npy").path
        let cache = tmp.appendingPathComponent("cache")
        XCTAssertEqual(try run(["run", model, "--input", x], cache: cache).status, 0)
        let entry = cache.appendingPathComponent(try XCTUnwrap(listing(cache).first))
        let lib = entry.appendingPathComponent("libdense_relu.so")
        let size = try Data(contentsOf: lib).count
        XCTAssertEqual(truncate(lib.path, off_t(size / 3)), 0)
        let r = try run(["run", model, "--input", x], cache: cache)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Data(contentsOf: lib).count, size)
        XCTAssertEqual(listing(cache), [entry.lastPathComponent])

        // The same through the API: a damaged byte (same size) is caught by the hash.
        var builds = 0
        let api = BuildCache(root: tmp.appendingPathComponent("api"))
        let build: (URL) throws -> Void = { dir in
            builds += 1
            try Data("library".utf8).write(to: dir.appendingPathComponent("libx.so"))
        }
        let dir = try api.directory(key: "k", marker: "libx.so", build: build)
        try Data("librarY".utf8).write(to: dir.appendingPathComponent("libx.so"))
        _ = try api.directory(key: "k", marker: "libx.so", build: build)
        XCTAssertEqual(builds, 2)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("libx.so"), encoding: .utf8), "library")
    }
}
