import Foundation
import XCTest
@testable import NNCC

/// NAME.py (`nncc compile --python`) from python3: forward against `nncc run`, a training step against
/// the same library's step from Swift, get/set_param, and the shape, dtype and no-weights messages.
/// Uses ExamplesTests' library (examples/mlp.json, max batch 4, --train); skipped without python3 and numpy.
final class PythonBindingTests: XCTestCase {
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?
    override class func setUp() { super.setUp(); cache = FixtureKit.useTempCache("nncc-python-cache") }
    override class func tearDown() { if let c = cache { FixtureKit.restoreCache(c) }; cache = nil; super.tearDown() }

    let examples = ExamplesTests.examples

    static let script = #"""
    import json, sys, warnings
    import numpy as np
    folder, library, weights, x_path, y_path = sys.argv[1:6]
    sys.path.insert(0, folder)
    import mlp

    def message(call):
        try:
            call()
        except Exception as e:
            return f"{type(e).__name__}: {e}"
        return "no error"

    x = np.load(x_path)
    model = mlp.Model(library, weights=weights)
    y = model.forward(x)
    report = {"shape": list(y.shape), "max_error": float(np.max(np.abs(y - np.load(y_path)))),
              "float64_same": bool(np.array_equal(model.forward(x.astype(np.float64)), y))}
    report["int_input"] = message(lambda: model.forward(x.astype(np.int32)))
    report["short_input"] = message(lambda: model.forward(x[:, :100]))
    bias = model.get_param("4.bias")
    model.set_param(5, bias + 1)
    report["set_get"] = bool(np.array_equal(model.get_param("4.bias"), bias + 1))
    report["wrong_param_shape"] = message(lambda: model.set_param("0.weight", model.get_param(0).T))
    model.set_param(5, bias)
    labels = np.array([3, 1, 4, 1])
    report["loss"] = model.train_step(x[:4], labels)
    report["bias_after_step"] = model.get_param("4.bias").tolist()
    report["bad_label"] = message(lambda: model.train_step(x[:4], np.array([3, 1, 4, 10])))
    report["float_labels"] = message(lambda: model.train_step(x[:4], labels.astype(np.float32)))
    report["too_many"] = message(lambda: model.train_step(x[:5], np.zeros(5, np.int64)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlp.Model(library).forward(x[:1])
    report["no_weights_warning"] = [str(w.message) for w in caught]
    print(json.dumps(report))
    """#

    func testPythonBindingMatchesNNCCRunAndTheSwiftTrainingStep() throws {
        let python = try FixtureKit.run("/usr/bin/env", ["python3", "-c", "import numpy"], in: examples)
        guard python.status == 0 else {
            throw XCTSkip("python3 with numpy not found (\(python.stderr.prefix(200))): NAME.py not tested")
        }
        guard let nncc = CLITests.executable else { return XCTFail("nncc executable not found; run swift build first") }
        let products = try Builder.cached(try Pipeline.load(examples.appendingPathComponent("mlp.json").path),
                                          options: CompileOptions(maxBatch: 4, train: true))
        let tmp = FixtureKit.makeTempDir("nncc-python")
        defer { try? FileManager.default.removeItem(at: tmp) }
        // NAME.py as `nncc compile --python` writes it (CLITests checks the flag); the library stays in the cache.
        try Data(PythonBinding.source(products.graph, train: true).utf8).write(to: tmp.appendingPathComponent("mlp.py"))
        try Data(Self.script.utf8).write(to: tmp.appendingPathComponent("check.py"))
        let weights = examples.appendingPathComponent("mlp.safetensors").path
        let x = examples.appendingPathComponent("mlp_x.npy").path, y = tmp.appendingPathComponent("y.npy").path
        let run = try FixtureKit.run(nncc.path, ["run", examples.appendingPathComponent("mlp.json").path, "--input", x, "--output", y], in: examples)
        XCTAssertEqual(run.status, 0, run.stderr)

        let r = try FixtureKit.run("/usr/bin/env", ["python3", tmp.appendingPathComponent("check.py").path, tmp.path,
                                                    products.directory.path, weights, x, y], in: tmp)
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(report["shape"] as? [Int], [8, 10])
        XCTAssertLessThan(try XCTUnwrap(report["max_error"] as? Double), 1e-4)
        XCTAssertEqual(report["float64_same"] as? Bool, true)
        XCTAssertEqual(report["int_input"] as? String,
                       "TypeError: x: expected float32 values, found int32 (convert with .astype(np.float32))")
        XCTAssertEqual(report["short_input"] as? String, "ValueError: x: expected shape (N, 784), found (8, 100)")
        XCTAssertEqual(report["set_get"] as? Bool, true)
        XCTAssertEqual(report["wrong_param_shape"] as? String,
                       "ValueError: parameter 0.weight: expected shape (512, 784), found (784, 512)")
        XCTAssertEqual(report["bad_label"] as? String,
                       "ValueError: y: label 10 of example 3 is outside 0..9 (the model has 10 classes)")
        XCTAssertEqual(report["float_labels"] as? String, "TypeError: y: expected integer class labels for cross_entropy, found float32")
        XCTAssertEqual(report["too_many"] as? String,
                       "ValueError: x: a batch of 5 examples exceeds the library's max batch 4 (compile with a larger --batch)")
        let warnings = try XCTUnwrap(report["no_weights_warning"] as? [String])
        XCTAssertEqual(warnings.count, 1)
        XCTAssert(warnings.first?.contains("the parameters are the seeded initialisation") == true, "\(warnings)")

        // The same step from Swift on a fresh context of the same library: the same loss and update.
        let context = try ModelLibrary(path: products.library.path, name: "mlp").makeContext()
        try context.loadWeights(path: weights)
        let inputs = try FixtureKit.floats(URL(fileURLWithPath: x))
        let loss = try Array(inputs.data.prefix(4 * 784)).withUnsafeBufferPointer {
            try context.trainStep($0, labels: [3, 1, 4, 1], batch: 4)
        }
        XCTAssertEqual(report["loss"] as? Double ?? .nan, Double(loss), accuracy: 1e-6)
        let bias = try XCTUnwrap(report["bias_after_step"] as? [Double])
        XCTAssertEqual(bias.count, 10)
        for (p, s) in zip(bias, context.getParam(5)) { XCTAssertEqual(p, Double(s), accuracy: 1e-7) }
    }
}
