import Foundation
import XCTest
@testable import NNCC

/// `nncc compile --embed-weights` and the packaging (docs/deploy.md): a C program links libmlp.a
/// through pkg-config, runs on the embedded weights with no weights file, and allocates exactly
/// what mlp.h says (Fixtures/c/deploy_app.c counts every allocation by wrapping malloc).
extension CLITests {
    func testEmbeddedWeightsThroughPkgConfig() throws {
        let root = Self.testsDir.deletingLastPathComponent().deletingLastPathComponent()
        let mlp = root.appendingPathComponent("examples/mlp.json").path, out = tmp.appendingPathComponent("mlp")
        let r = try nncc(["compile", mlp, "-o", out.path, "--embed-weights", "--batch", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["libmlp.a", "libmlp.so", "mlp.pc", "mlp-config.cmake", "mlp.weights.bin", "mlp_weights.S"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
        // 2 MB of weights as C text would be several MB of mlp.c.
        XCTAssertLessThan(try Data(contentsOf: out.appendingPathComponent("mlp.c")).count, 200_000, "weights as C text")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("mlp.manifest.json"))) as? [String: Any]
        let memory = try XCTUnwrap(manifest?["memory"] as? [String: Int])
        let header = try String(contentsOf: out.appendingPathComponent("mlp.h"), encoding: .utf8)
        XCTAssertTrue(header.contains("#define mlp_HEAP_BYTES      \(memory["heap_bytes"]!)\n"), header)
        // The packed size depends on the host's target (its panel width): compare with the manifest's.
        let rom = try XCTUnwrap(memory["rom_bytes"])
        XCTAssertGreaterThanOrEqual(rom, 4 * 535818, "every weight is in the image")
        XCTAssertTrue(r.stdout.contains("read-only weights \(rom) bytes"), r.stdout)

        // The inputs as raw floats; the reference outputs from `nncc run`.
        guard case let .float(x) = try NumPy.read(path: root.appendingPathComponent("examples/mlp_x.npy").path) else { return XCTFail() }
        try x.data.prefix(4 * 784).withUnsafeBufferPointer { try Data(buffer: $0).write(to: tmp.appendingPathComponent("x.f32")) }
        XCTAssertEqual(try nncc(["run", mlp, "--input", root.appendingPathComponent("examples/mlp_x.npy").path,
                                 "--output", temp("y.npy")]).status, 0)
        guard case let .float(want) = try NumPy.read(path: temp("y.npy")) else { return XCTFail() }

        let env = ["PKG_CONFIG_PATH": out.path]
        let flags = try run(["pkg-config", "--cflags", "--libs", "mlp"], env: env)
        XCTAssertEqual(flags.status, 0, flags.output)
        let app = Self.testsDir.appendingPathComponent("Fixtures/c/deploy_app.c").path
        let gcc = try run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", app]
            + flags.output.split(whereSeparator: \.isWhitespace).map(String.init)
            + ["-Wl,--wrap=malloc,--wrap=calloc,--wrap=aligned_alloc,--wrap=free", "-o", temp("app")], env: env)
        XCTAssertEqual(gcc.status, 0, gcc.output)
        let ran = try run([temp("app"), temp("x.f32"), "4", temp("y.f32")], env: [:])
        XCTAssertEqual(ran.status, 0, ran.output)
        XCTAssertTrue(ran.output.contains("heap \(memory["heap_bytes"]!)\n") && ran.output.contains("create_in 0\n"), ran.output)
        let got = try Data(contentsOf: tmp.appendingPathComponent("y.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(got, Array(want.data.prefix(40)), "embedded weights through libmlp.a vs nncc run")
    }

    /// Runs a tool (found on PATH) with the test's environment plus `env`; stdout and stderr together.
    private func run(_ argv: [String], env: [String: String]) throws -> (status: Int32, output: String) {
        let r = try FixtureKit.run("/usr/bin/env", argv, environment: env, in: tmp)
        return (r.status, r.stdout + r.stderr)
    }
}

/// The figures NAME.h states, without a compiler.
final class MemoryFigureTests: XCTestCase {
    /// examples/mlp.json for inference keeps packed weights and the arena, not the PyTorch-layout copy.
    func testInferenceMLPHeap() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try Pipeline.load(root.appendingPathComponent("examples/mlp.json").path)
        let (lib, _) = try Pipeline.generate(model, options: CompileOptions(target: .x86_64_v3))
        XCTAssertLessThan(lib.memory.heapBytes, 2_300_000)
        XCTAssertEqual(lib.memory.heapBytes, MemoryFigures.baseContextBytes + 4 * (lib.memory.packedFloats + lib.memory.arenaFloats))
        XCTAssertEqual(lib.memory.directFloats, 0)
        XCTAssertEqual(lib.memory.unpackedBytes, 4 * 535824)
        let (trained, _) = try Pipeline.generate(model, options: CompileOptions(train: true, target: .x86_64_v3))
        XCTAssertEqual(trained.memory.heapBytes, (MemoryFigures.baseContextBytes + 4 * (trained.memory.paramFloats + trained.memory.packedFloats
            + trained.memory.arenaFloats + trained.memory.trainFloats) + 63) / 64 * 64)
        // A layernorm's scale and shift are read in place: they come first and stay in the block.
        let ln = try ModelDecoder.decode(Data("""
            {"format": 1, "name": "ln", "input": {"shape": [8]},
             "layers": [{"type": "dense", "units": 8}, {"type": "layernorm", "normalized_shape": [8]}]}
            """.utf8), file: "ln.json")
        let (lnLib, _) = try Pipeline.generate(LoadedModel(path: "ln.json", graph: try inferShapes(ln.graph)), options: CompileOptions())
        XCTAssertEqual(lnLib.memory.directFloats, 32)
        XCTAssertTrue(lnLib.source.contains("#define ln_DIRECT_FLOATS 32"))
    }
}
