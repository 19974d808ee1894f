import Foundation
import XCTest
@testable import NNCC
@testable import NNCCRuntime

/// Exercises ModelLibrary against a hand-written library implementing the
/// generated C ABI: y = w * x elementwise (w starts at 2), plus a second
/// output holding sum(y) per example.
final class RuntimeTests: XCTestCase {
    static let fakeSource = #"""
    #include <stdint.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>

    typedef struct fake_ctx { float w[3]; float lr; } fake_ctx;

    enum { E_BATCH = -1, E_INDEX = -2, E_NULL = -3, E_IO = -4 };

    int fake_info(int what) {
        switch (what) { case 0: return 4; case 1: return 3; case 2: return 3; case 3: return 1; case 4: return 2; }
        return -1;
    }
    int fake_output_size(int i) { return i == 0 ? 3 : i == 1 ? 1 : -1; }
    const char *fake_strerror(int code) {
        switch (code) {
        case 0: return "ok";
        case E_BATCH: return "batch outside 1..4";
        case E_INDEX: return "parameter index out of range";
        case E_NULL: return "NULL pointer";
        case E_IO: return "cannot open weights file";
        }
        return "unknown error";
    }
    fake_ctx *fake_create(void) {
        fake_ctx *c = malloc(sizeof *c);
        if (!c) return NULL;
        for (int i = 0; i < 3; i++) c->w[i] = 2.0f;
        c->lr = 0.1f;
        return c;
    }
    void fake_destroy(fake_ctx *c) { free(c); }
    const char *fake_param_name(int i) { return i == 0 ? "0.weight" : NULL; }
    int fake_param_shape(int i, int64_t dims[4]) {
        if (i != 0) return E_INDEX;
        if (!dims) return E_NULL;
        dims[0] = 3;
        return 1;
    }
    int fake_get_param(const fake_ctx *c, int i, float *out) {
        if (!c || !out) return E_NULL;
        if (i != 0) return E_INDEX;
        memcpy(out, c->w, sizeof c->w);
        return 0;
    }
    int fake_set_param(fake_ctx *c, int i, const float *in) {
        if (!c || !in) return E_NULL;
        if (i != 0) return E_INDEX;
        memcpy(c->w, in, sizeof c->w);
        return 0;
    }
    int fake_load_weights(fake_ctx *c, const char *path) {
        if (!c || !path) return E_NULL;
        FILE *f = fopen(path, "rb");
        if (!f) return E_IO;
        float w[3];
        size_t n = fread(w, sizeof(float), 3, f);
        fclose(f);
        if (n != 3) return E_IO;
        memcpy(c->w, w, sizeof w);
        return 0;
    }
    int fake_save_weights(const fake_ctx *c, const char *path) {
        if (!c || !path) return E_NULL;
        FILE *f = fopen(path, "wb");
        if (!f) return E_IO;
        size_t n = fwrite(c->w, sizeof(float), 3, f);
        return fclose(f) == 0 && n == 3 ? 0 : E_IO;
    }
    int fake_forward_all(fake_ctx *c, const float *x, float *const *ys, int batch) {
        if (!c || !x || !ys || !ys[0] || !ys[1]) return E_NULL;
        if (batch < 1 || batch > 4) return E_BATCH;
        for (int b = 0; b < batch; b++) {
            float s = 0;
            for (int j = 0; j < 3; j++) { ys[0][b * 3 + j] = c->w[j] * x[b * 3 + j]; s += ys[0][b * 3 + j]; }
            ys[1][b] = s;
        }
        return 0;
    }
    int fake_forward(fake_ctx *c, const float *x, float *y, int batch) {
        float sums[4];
        float *ys[2] = { y, sums };
        return fake_forward_all(c, x, ys, batch);
    }
    /* Mean squared error on float targets, one SGD step. */
    int fake_train_step(fake_ctx *c, const float *x, const void *targets, int batch, float *loss) {
        if (!c || !x || !targets || !loss) return E_NULL;
        if (batch < 1 || batch > 4) return E_BATCH;
        const float *t = targets;
        float grad[3] = {0, 0, 0}, l = 0;
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < 3; j++) {
                float d = c->w[j] * x[b * 3 + j] - t[b * 3 + j];
                l += d * d;
                grad[j] += 2 * d * x[b * 3 + j] / (float)(batch * 3);
            }
        for (int j = 0; j < 3; j++) c->w[j] -= c->lr * grad[j];
        *loss = l / (float)(batch * 3);
        return 0;
    }
    int fake_set_lr(fake_ctx *c, float lr) { if (!c) return E_NULL; c->lr = lr; return 0; }
    """#

    private var scratch: URL!
    private var libraryPath: String!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("nncc-runtime-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let src = scratch.appendingPathComponent("fake.c").path
        try Self.fakeSource.write(toFile: src, atomically: true, encoding: .utf8)
        libraryPath = scratch.appendingPathComponent("libfake.so").path
        try GCC.run(GCC.sharedObjectArguments(source: src, output: libraryPath, options: GCCOptions(target: .portable)))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func testGeometry() throws {
        let lib = try ModelLibrary(path: libraryPath, name: "fake")
        XCTAssertEqual(lib.maxBatch, 4)
        XCTAssertEqual(lib.inputSize, 3)
        XCTAssertEqual(lib.outputSize, 3)
        XCTAssertEqual(lib.numParams, 1)
        XCTAssertEqual(lib.numOutputs, 2)
        XCTAssertEqual(lib.outputSizes, [3, 1])
        XCTAssertTrue(lib.canTrain)
        let ctx = try lib.makeContext()
        XCTAssertEqual(ctx.paramNames(), ["0.weight"])
        XCTAssertEqual(ctx.paramShape(0), [3])
        XCTAssertEqual(ctx.paramShape(5), [])
    }

    func testForward() throws {
        let ctx = try ModelLibrary(path: libraryPath, name: "fake").makeContext()
        let x: [Float] = [1, 2, 3, -1, 0, 0.5]
        let y = try x.withUnsafeBufferPointer { try ctx.forward($0, batch: 2) }
        XCTAssertEqual(y, [2, 4, 6, -2, 0, 1])
        let all = try x.withUnsafeBufferPointer { try ctx.forwardAll($0, batch: 2) }
        XCTAssertEqual(all, [[2, 4, 6, -2, 0, 1], [12, -1]])
        // predict: any count, in chunks of the max batch (4).
        let five = (0..<15).map(Float.init)
        XCTAssertEqual(try ctx.predictAll(five, count: 5), [five.map { 2 * $0 }, [6, 24, 42, 60, 78]])
        XCTAssertThrowsError(try ctx.predict(five, count: 4)) { XCTAssert("\($0)".contains("expected 4 × 3 input floats, found 15"), "\($0)") }
    }

    func testGetSetParam() throws {
        let ctx = try ModelLibrary(path: libraryPath, name: "fake").makeContext()
        XCTAssertEqual(ctx.getParam(0), [2, 2, 2])
        XCTAssertEqual(ctx.getParam(1), [])
        try ctx.setParam(0, [1, -1, 0.5])
        XCTAssertEqual(ctx.getParam(0), [1, -1, 0.5])
        let y = try [Float](repeating: 2, count: 3).withUnsafeBufferPointer { try ctx.forward($0, batch: 1) }
        XCTAssertEqual(y, [2, -2, 1])
        XCTAssertThrowsError(try ctx.setParam(0, [1, 2]))
        XCTAssertThrowsError(try ctx.setParam(1, [1, 2, 3]))
        XCTAssertThrowsError(try ctx.setParam(-1, []))
        XCTAssertEqual(ctx.getParam(0), [1, -1, 0.5])  // failed sets wrote nothing
    }

    func testContextsAreIndependent() throws {
        let lib = try ModelLibrary(path: libraryPath, name: "fake")
        let a = try lib.makeContext(), b = try lib.makeContext()
        try a.setParam(0, [0, 0, 0])
        XCTAssertEqual(b.getParam(0), [2, 2, 2])
    }

    func testWrongBatchAndSizesThrow() throws {
        let ctx = try ModelLibrary(path: libraryPath, name: "fake").makeContext()
        let x = [Float](repeating: 1, count: 15)
        try x.withUnsafeBufferPointer { buf in
            XCTAssertThrowsError(try ctx.forward(buf, batch: 5)) { e in
                XCTAssertTrue("\(e)".contains("batch 5 outside 1...4"), "\(e)")
            }
            XCTAssertThrowsError(try ctx.forward(buf, batch: 0))
            XCTAssertThrowsError(try ctx.forward(buf, batch: -3))
            XCTAssertThrowsError(try ctx.forward(UnsafeBufferPointer(rebasing: buf[0..<5]), batch: 2))
            XCTAssertThrowsError(try ctx.forwardAll(buf, batch: 2))
            let two = UnsafeBufferPointer(rebasing: buf[0..<6])
            XCTAssertThrowsError(try ctx.trainStep(two, targets: [1, 2, 3], batch: 2))
            XCTAssertThrowsError(try ctx.trainStep(two, labels: [0], batch: 2))
            XCTAssertThrowsError(try ctx.trainStep(two, labels: [0, 3], batch: 2))
        }
        let empty: [Float] = []
        XCTAssertThrowsError(try empty.withUnsafeBufferPointer { try ctx.forward($0, batch: 1) })
    }

    func testWeightsRoundTripAndCErrors() throws {
        let ctx = try ModelLibrary(path: libraryPath, name: "fake").makeContext()
        try ctx.setParam(0, [3, 4, 5])
        let w = scratch.appendingPathComponent("w.bin").path
        try ctx.saveWeights(path: w)
        let other = try ctx.library.makeContext()
        try other.loadWeights(path: w)
        XCTAssertEqual(other.getParam(0), [3, 4, 5])

        let missing = scratch.appendingPathComponent("missing.bin").path
        XCTAssertThrowsError(try other.loadWeights(path: missing)) { error in
            guard let e = error as? NNCCError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.file, missing)
            XCTAssertTrue(e.message.contains("cannot open weights file"), e.message)  // from fake_strerror
        }
    }

    func testTrainStep() throws {
        let ctx = try ModelLibrary(path: libraryPath, name: "fake").makeContext()
        try ctx.setLearningRate(0.5)
        let x: [Float] = [1, 1, 1]
        // y = 2, target 1: loss 1, grad 2/3 per weight, w -= 0.5 * 2/3.
        let loss = try x.withUnsafeBufferPointer { try ctx.trainStep($0, targets: [1, 1, 1], batch: 1) }
        XCTAssertEqual(loss, 1, accuracy: 1e-6)
        for v in ctx.getParam(0) { XCTAssertEqual(v, 2 - 1.0 / 3.0, accuracy: 1e-6) }
    }

    func testLoadErrors() throws {
        XCTAssertThrowsError(try ModelLibrary(path: scratch.appendingPathComponent("nope.so").path, name: "fake")) { e in
            XCTAssertTrue("\(e)".contains("nope.so"), "\(e)")
        }
        XCTAssertThrowsError(try ModelLibrary(path: libraryPath, name: "other")) { e in
            XCTAssertTrue("\(e)".contains("other_create"), "\(e)")
        }
    }

    /// ModelLibrary(directory:): the folder's one NAME.manifest.json names the library to load.
    func testLibraryFolder() throws {
        let folder = scratch.path
        func fails(_ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try ModelLibrary(directory: folder), line: line) { XCTAssert("\($0)".contains(fragment), "\($0)", line: line) }
        }
        fails("no NAME.manifest.json here")
        try Data(#"{"name": "fake"}"#.utf8).write(to: scratch.appendingPathComponent("fake.manifest.json"))
        XCTAssertEqual(try ModelLibrary(directory: folder).outputSizes, [3, 1])
        try Data(#"{"name": "a;b"}"#.utf8).write(to: scratch.appendingPathComponent("other.manifest.json"))
        fails("holds 2 models (fake.manifest.json, other.manifest.json); name the one to load")
        XCTAssertEqual(try ModelLibrary(directory: folder, name: "fake").name, "fake")
        try FileManager.default.removeItem(at: scratch.appendingPathComponent("fake.manifest.json"))
        fails("other.manifest.json: name: expected the model's name, a C identifier")
    }
}
