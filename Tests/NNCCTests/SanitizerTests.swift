import Foundation
import XCTest
@testable import NNCC

/// The generated C on its own, outside Swift: Fixtures/c/driver.c drives NAME.c
/// through NAME.h (create, load_weights, forward at batch 1 and max batch,
/// argument errors, save/load round trip, destroy) under AddressSanitizer,
/// UndefinedBehaviorSanitizer and LeakSanitizer, with the sanitizer's
/// allocation hook proving that forward allocates nothing.
final class SanitizerTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    var tmp: URL!

    override class func setUp() {
        super.setUp()
        cache = FixtureKit.useTempCache("nncc-sanitizer-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        cache = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        tmp = FixtureKit.makeTempDir("nncc-sanitizer")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    static let maxBatch = 6
    static let strict = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O0", "-g"]
    static let sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

    /// Generates NAME.c/.h for a fixture, writes raw x/y floats, builds `driver.c` against it under the
    /// sanitizers (allocations counted), runs it, and returns the problems found.
    func drive(_ fixture: URL, target: Target = .native) throws -> [String] {
        let model = try Pipeline.load(fixture.appendingPathComponent("model.json").path)
        let (lib, graph) = try Pipeline.generate(model, options: CompileOptions(maxBatch: Self.maxBatch, target: target))
        let name = graph.name
        let dir = tmp.appendingPathComponent(name, isDirectory: true)
        let (source, header) = try DriverFiles.writeSources(lib, name: name, in: dir)
        let args = try DriverFiles.forwardArguments(fixture, model: model, in: dir)

        // The target's flags, as in the library build (portable has none).
        let march = target.compilerFlags
        let common = Self.strict + march + DriverFiles.defines(name, header: header) + ["-o"]
        let cc = try GCC.path()
        var problems: [String] = []

        let asan = dir.appendingPathComponent("driver_asan").path
        try GCC.run([cc] + common + [asan] + Self.sanitize + [DriverFiles.driver.path, source.path, "-lm"])
        let r = try FixtureKit.run(asan, args, environment: [
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        ], in: dir)
        if r.status != 0 || !r.stderr.isEmpty || !r.stdout.contains(": 0 failures") {
            problems.append("sanitizer build: exit \(r.status)\n\(r.stdout)\(r.stderr.prefix(6000))")
        }
        // The sanitizer's allocation hook counts (count_malloc.h): no second build.
        if !r.stdout.contains("allocations during 10 forward calls: 0\n") {
            problems.append("forward allocated, or the allocation count is missing:\n\(r.stdout)")
        }
        return problems
    }

    func check(_ root: URL, _ name: String, target: Target = .native, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let problems = try drive(root.appendingPathComponent(name, isDirectory: true), target: target)
            if !problems.isEmpty { XCTFail("\(name):\n" + problems.joined(separator: "\n"), file: file, line: line) }
        } catch {
            XCTFail("\(name): \(error)", file: file, line: line)
        }
    }

    // Each test: the library's C alone is clean under ASan/UBSan/LSan (exit 0, empty stderr), matches y.npy at
    // atol 1e-4, rtol 1e-3 at batch 1 and max batch 6, rejects batch 0/-1/7 with NN_ERR_BATCH and NULL
    // pointers with NN_ERR_NULL writing nothing, round-trips weights exactly through save/load, and makes
    // zero malloc/calloc/realloc/aligned_alloc/posix_memalign calls in 10 forward calls.

    /// Dense layers with fused relu (golden dense_relu).
    func testDense() { check(FixtureKit.golden, "dense_relu") }

    /// conv2d with a batchnorm folded into it.
    func testConvBatchNorm() { check(FixtureKit.torch, "bn_conv_fold") }

    /// Winograd F(2×2, 3×3) convolutions (odd sizes: partial last tiles), batchnorm folded into the first.
    func testWinogradConv() {
        check(FixtureKit.torch, "conv_winograd")
        check(FixtureKit.torch, "conv_winograd", target: .portable)
    }

    /// Padded, strided max pooling; and the golden LeNet-like conv/pool/dense stack.
    func testPooling() {
        check(FixtureKit.torch, "maxpool3_s2_p1")
        check(FixtureKit.golden, "lenet_like")
    }

    /// 1-D layers on [C, L]: conv1d with batchnorm folded in, 1-D max and average pools (ceil mode, dilation).
    func testConv1D() {
        check(FixtureKit.torch, "conv1d_net")
        check(FixtureKit.torch, "pool1d_modes")
    }

    /// 3-D layers on [C, D, H, W]: conv3d on im2col and the GEMM (batchnorm folded in, uneven "same" padding),
    /// 3-D max and average pools (ceil mode, dilation, padding excluded); five-axis parameters.
    func testConv3D() { check(FixtureKit.torch, "conv3d_net") }

    /// A residual block (conv, bn, add of the input) and a channel concat.
    func testAddAndConcatGraphs() {
        check(FixtureKit.torch, "resblock")
        check(FixtureKit.torch, "concat_channels")
    }

    /// LSTM returning every step's h; and lstm + gru + concat over sequences.
    func testRecurrent() {
        check(FixtureKit.torch, "lstm_seq_out")
        check(FixtureKit.torch, "concat_seq")
    }

    /// The portable target's C builds with the strict flags and no -march (c-abi.md: self-contained C11
    /// that compiles into any program), and passes the same checks.
    func testPortableTarget() { check(FixtureKit.torch, "bn_conv_fold", target: .portable) }

    /// A user's C function fused into the dense kernel before it (docs/custom-ops.md): Swish of Fixtures/custom.
    func testCustomOperator() { check(CustomOpTests.dir, "swish") }
}
