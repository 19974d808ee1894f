import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

struct CheckGrad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-grad",
        abstract: "Compare a custom C layer's backward with central finite differences of its forward: exit 0 within tolerance, else 1.",
        discussion: """
            At \(GradCheckHarness.probes) random points (elementwise: x uniform in [-2, 2], dy in [-1, 1]; array: \
            up to that many elements of a batch of \(GradCheckHarness.batch) such inputs, dy random, the difference of dy·y) \
            the user's backward is compared with (f(x + h) − f(x − h)) / 2h in float32, h = \(GradCheckHarness.step)·max(1, |x|), \
            accumulated in double. The error of a point is |backward − difference| / max(|backward|, |difference|, \
            \(GradCheck.floorFraction)·M), M the largest of these magnitudes in the layer; the worst point is reported (docs/custom-ops.md).
            """)

    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(help: "The custom layer to check (its name in the model).") var layer: String
    @Option(parsing: .unconditional, help: "Largest relative error accepted.") var tolerance: Double = GradCheck.defaultTolerance
    @Option(help: "Seed of the random inputs.") var seed: UInt64 = 0
    @OptionGroup var custom: CustomOpFlags

    func validate() throws {
        guard tolerance.isFinite, tolerance > 0 else { throw ValidationError("--tolerance must be a finite number > 0, found \(tolerance)") }
    }

    func run() throws {
        let r = try GradCheck.run(try custom.load(model), layer: layer, seed: seed, tolerance: tolerance)
        let what = "custom layer \"\(r.layer)\" (\(r.op.backward ?? "") against \(r.op.forward), \(r.op.formName))"
        let worst = r.worst.isFinite ? String(format: "%.3g", r.worst) : "not finite"
        let at = "at \(r.place): backward \(String(format: "%.6g", r.analytic)), finite difference \(String(format: "%.6g", r.numeric))"
        guard r.passed else {
            throw CheckFailed(message: "mismatch: \(what): worst relative error \(worst) > tolerance \(r.tolerance) \(at) "
                + "(\(r.failing) of \(r.points) points out of tolerance)")
        }
        print("ok: \(what): \(r.points) points, worst relative error \(worst) <= tolerance \(r.tolerance) (\(at))")
    }
}
