import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// The aarch64 target on a sample of fixtures, one per kernel family: the
/// generated C built for aarch64 and driven through its C interface alone
/// (Fixtures/c/driver.c, train_driver.c), matching PyTorch's outputs (the
/// ones the x86-64 builds match). Off aarch64 the programs are cross-compiled
/// with aarch64-linux-gnu-gcc and run under qemu-aarch64; without those each
/// test prints a note and passes.
@Suite struct AArch64Tests {
    /// A full 8-row tile of the 8×12 micro-kernel and 3 edge rows.
    static let maxBatch = 11

    /// One static executable per fixture (library and driver in one gcc run).
    /// - conv_pool: implicit GEMM (narrow and full), max pool, dense;
    /// - conv_winograd: Winograd with a folded batchnorm and tanh (the exp helper), max pool;
    /// - lstm_last: the recurrent GEMMs with sigmoid and tanh, then dense;
    /// - conv_channels_last: depthwise with channels in the lanes and 1×1 layers on channels-last images.
    @Test(arguments: [Fixture.golden("conv_pool"), .torch("conv_winograd"), .golden("lstm_last"), .torch("conv_channels_last")])
    func forwardMatchesPyTorch(_ fixture: Fixture) throws {
        guard let tools = AArch64Toolchain.found(for: "\(fixture)") else { return }
        let dir = FixtureKit.makeTempDir("nncc-aarch64")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Pipeline.load(fixture.modelJSON)
        let (lib, graph) = try Pipeline.generate(model, options: CompileOptions(maxBatch: Self.maxBatch, target: .aarch64))
        #expect(lib.source.contains("#define NN_VW 4\n#define NN_NV 3\n#define NN_MR 8\n"))
        let (source, header) = try DriverFiles.writeSources(lib, name: graph.name, in: dir)
        let args = try DriverFiles.forwardArguments(fixture.dir, model: model, in: dir)
        let exe = dir.appendingPathComponent("driver")
        try tools.buildStatic(exe, [DriverFiles.driver, source], defines: DriverFiles.defines(graph.name, header: header))
        let r = try tools.run(exe, args, in: dir)
        #expect(r.status == 0 && r.stdout.contains(": 0 failures"), "\(fixture) under \(tools.runner):\n\(r.stdout)\(r.stderr)")
    }

    /// One training step of a conv (by rows), pool and dense model with cross entropy and SGD with
    /// momentum: the weights after it match PyTorch's; bad arguments are rejected, 10 more steps run.
    @Test func trainingStepMatchesPyTorch() throws {
        let fixture = Fixture.golden("lenet_like")
        guard let tools = AArch64Toolchain.found(for: "\(fixture) --train") else { return }
        let dir = FixtureKit.makeTempDir("nncc-aarch64-train")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Pipeline.load(fixture.modelJSON)
        let (lib, graph) = try Pipeline.generate(model, options: CompileOptions(maxBatch: 8, train: true, target: .aarch64))
        let (source, header) = try DriverFiles.writeSources(lib, name: graph.name, in: dir)
        let args = try DriverFiles.trainArguments(fixture.dir, model: model, graph: graph, in: dir)
        let exe = dir.appendingPathComponent("train_driver")
        try tools.buildStatic(exe, [DriverFiles.trainDriver, source], defines: DriverFiles.defines(graph.name, header: header))
        let r = try tools.run(exe, args, in: dir)
        #expect(r.status == 0 && r.stdout.contains(": 0 failures"), "under \(tools.runner):\n\(r.stdout)\(r.stderr)")
        let problems = try DriverFiles.trainProblems(fixture.dir, saved: args[5])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// `nncc compile --target aarch64 --cc aarch64-linux-gnu-gcc`, as a user cross-compiles: an
    /// aarch64 ELF libNAME.so (-O3, the 8×12 tile in the manifest) that a driver linked against it
    /// runs under qemu with the cross toolchain's libraries, matching PyTorch (dense, tanh, softmax).
    @Test func crossCompiledLibraryRunsUnderQEMU() throws {
        let fixture = Fixture.golden("mlp_softmax_ce")
        guard let tools = AArch64Toolchain.found(for: "nncc compile --target aarch64") else { return }
        if tools.emulator != nil, !FileManager.default.fileExists(atPath: AArch64Toolchain.sysroot + "/lib/ld-linux-aarch64.so.1") {
            print("note: \(fixture)'s libNAME.so not run under qemu: no aarch64 libraries in \(AArch64Toolchain.sysroot)")
            return
        }
        let nncc = try #require(CLITests.executable, "nncc executable not found next to the tests")
        let dir = FixtureKit.makeTempDir("nncc-aarch64-compile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("lib")
        let c = try FixtureKit.run(nncc.path, ["compile", fixture.modelJSON, "-o", out.path, "--batch", String(Self.maxBatch),
                                               "--target", "aarch64", "--cc", tools.cc], in: dir)
        try #require(c.status == 0, "nncc compile: \(c.stdout)\(c.stderr)")
        #expect(c.stdout.contains("target aarch64"))
        let name = "mlp_softmax_ce", library = out.appendingPathComponent("lib\(name).so")
        // ELF e_machine (bytes 18-19, little-endian) 183: EM_AARCH64.
        let elf = [UInt8](try Data(contentsOf: library).prefix(20))
        #expect(elf.count == 20 && elf[0..<4] == [0x7F, 0x45, 0x4C, 0x46] && elf[18] == 183 && elf[19] == 0)
        let manifest = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: out.appendingPathComponent("\(name).manifest.json"))) as? [String: Any])
        #expect(manifest["target"] as? String == "aarch64" && manifest["gemm_tile"] as? [Int] == [8, 12])

        let model = try Pipeline.load(fixture.modelJSON)
        let args = try DriverFiles.forwardArguments(fixture.dir, model: model, in: dir)
        let exe = dir.appendingPathComponent("driver")
        try GCC.run([tools.cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-o", exe.path, DriverFiles.driver.path]
                    + DriverFiles.defines(name, header: out.appendingPathComponent("\(name).h"))
                    + ["-L", out.path, "-l\(name)", "-Wl,-rpath,$ORIGIN/lib", "-lm"])
        let r = try tools.run(exe, args, in: dir)
        #expect(r.status == 0 && r.stdout.contains(": 0 failures"), "under \(tools.runner):\n\(r.stdout)\(r.stderr)")
    }

    /// Off aarch64, commands that load the library refuse the target before compiling anything
    /// (exit 1), and say how to build it for an Arm machine instead.
    @Test func loadingCommandsRefuseAArch64Elsewhere() throws {
        guard Target.host != .aarch64 else { return }
        let nncc = try #require(CLITests.executable, "nncc executable not found next to the tests")
        let dir = FixtureKit.makeTempDir("nncc-aarch64-refuse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = Fixture.golden("mlp_softmax_ce")
        let r = try FixtureKit.run(nncc.path, ["run", fixture.modelJSON, "--input", fixture.file("x.npy").path,
                                               "--target", "aarch64"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("--target: this CPU cannot run aarch64 code (it is not an aarch64 CPU); "
            + "`nncc compile --target aarch64 --cc aarch64-linux-gnu-gcc` builds it for another machine"), "\(r.stderr)")
    }

    /// A compiler for the other architecture stops `compile` before it runs (exit 1), naming the fix:
    /// --cc for aarch64 code with the host's gcc, --target aarch64 with the cross compiler.
    @Test func compilerForAnotherArchitectureIsRefused() throws {
        guard Target.host != .aarch64, let tools = AArch64Toolchain.found(for: "the architecture check") else { return }
        let nncc = try #require(CLITests.executable, "nncc executable not found next to the tests")
        let dir = FixtureKit.makeTempDir("nncc-aarch64-mismatch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = Fixture.golden("dense_relu").modelJSON, host = try GCC.path()
        let toARM = try FixtureKit.run(nncc.path, ["compile", model, "-o", dir.appendingPathComponent("a").path,
                                                   "--target", "aarch64", "--cc", host], in: dir)
        #expect(toARM.status == 1 && toARM.stderr.contains("--target: aarch64 is aarch64 code, and the C compiler \(host) "
            + "builds x86-64 code; name an aarch64 compiler with --cc (on x86-64: aarch64-linux-gnu-gcc)"), "\(toARM.stderr)")
        let fromARM = try FixtureKit.run(nncc.path, ["compile", model, "-o", dir.appendingPathComponent("b").path,
                                                     "--cc", tools.cc], in: dir)
        #expect(fromARM.status == 1 && fromARM.stderr.contains("(native) is x86-64 code, and the C compiler \(tools.cc) "
            + "builds aarch64 code; give --target aarch64 to build for it"), "\(fromARM.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix("std") }.isEmpty,
                "a refused compile left files behind")
    }
}

/// The compiler and the runner of aarch64 programs: on an aarch64 host its own gcc, run
/// directly; elsewhere aarch64-linux-gnu-gcc (Debian's gcc-aarch64-linux-gnu) and
/// qemu-aarch64 (qemu-user).
struct AArch64Toolchain {
    let cc: String
    let emulator: String?
    /// Where Debian's cross packages put aarch64's libc: qemu's -L for dynamic executables.
    static let sysroot = "/usr/aarch64-linux-gnu"

    var runner: String { emulator ?? "the host" }

    /// The toolchain, or nil with a printed note naming `what` was skipped and what is missing.
    static func found(for what: String) -> AArch64Toolchain? {
        if Target.host == .aarch64, let gcc = try? GCC.path() { return AArch64Toolchain(cc: gcc, emulator: nil) }
        let cc = GCC.which("aarch64-linux-gnu-gcc"), qemu = GCC.which("qemu-aarch64")
        guard let cc, let qemu else {
            let missing = [cc == nil ? "aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)" : nil,
                           qemu == nil ? "qemu-aarch64 (apt-get install qemu-user)" : nil].compactMap { $0 }
            print("note: \(what) not built for aarch64: no \(missing.joined(separator: " and no "))")
            return nil
        }
        return AArch64Toolchain(cc: cc, emulator: qemu)
    }

    /// One static executable from C files, as the library is built (-Werror, the target's flags),
    /// at -O2 or lower: the tests check results, not speed, and a cross compile counts against the
    /// suite's time.
    func buildStatic(_ exe: URL, _ sources: [URL], defines: [String], optimization: String = "-O2") throws {
        let flags = try Compiler.find(cc).targetFlags(.aarch64)
        try GCC.run([cc, "-std=c11", optimization, "-ffp-contract=fast", "-Wall", "-Wextra", "-Werror", "-static"]
                    + flags + defines + ["-o", exe.path] + sources.map(\.path) + ["-lm"])
    }

    /// Runs an aarch64 executable: under qemu (with the cross libraries for a dynamic one), or directly.
    func run(_ exe: URL, _ args: [String], in dir: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        guard let emulator else { return try FixtureKit.run(exe.path, args, in: dir) }
        return try FixtureKit.run(emulator, ["-L", Self.sysroot, exe.path] + args, in: dir)
    }
}
