import Foundation
import XCTest
@testable import NNCC
@testable import NNCCRuntime
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Shared by the trainer test classes: a scratch directory, a private compile cache, model files.
enum TrainKit {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let examples = root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")
    static let golden = root.appendingPathComponent("Fixtures/golden")

    static func tempDir(_ prefix: String) -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func writeModel(_ dir: URL, _ name: String, input: [Int], layers: String, extra: String = "") throws -> String {
        let path = dir.appendingPathComponent("\(name).json").path
        let json = #"{"format": 1, "name": "\#(name)", "input": {"shape": \#(input)}, "layers": [\#(layers)]\#(extra)}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func within(_ a: Float, _ b: Float, atol: Float, rtol: Float) -> Bool { abs(a - b) <= atol + rtol * abs(b) }
}

final class TrainerTests: XCTestCase {
    static var tmp: URL!
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?

    override class func setUp() {
        super.setUp()
        tmp = TrainKit.tempDir("nncc-trainer")
        cache = FixtureKit.useTempCache("nncc-trainer-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        try? FileManager.default.removeItem(at: tmp)
        super.tearDown()
    }

    // MARK: Data set validation

    /// A model with image input [1, 2, 2] and 3 outputs.
    func imageModel() throws -> LoadedModel {
        let path = try TrainKit.writeModel(Self.tmp, "img", input: [1, 2, 2],
                                           layers: #"{"type": "flatten"}, {"type": "dense", "units": 3}"#)
        return try Pipeline.load(path)
    }

    func x(_ n: Int, _ shape: [Int] = [1, 2, 2]) -> NpyArray {
        .float(Tensor(shape: [n] + shape, data: (0..<(n * shape.reduce(1, *))).map { Float($0) / 10 }))
    }

    func assertDataError(_ arrays: [String: NpyArray], loss: Loss = .crossEntropy, _ fragments: [String],
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try imageModel()
        XCTAssertThrowsError(try Dataset.from(arrays, file: "data.npz", model: model, loss: loss), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("data.npz: "), "no file name: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "\"\(text)\" lacks \"\(f)\"", file: file, line: line) }
        }
    }

    func testMissingArrays() throws {
        try assertDataError(["y": .int(shape: [2], data: [0, 1])], ["missing array \"x\"", "[N, 1, 2, 2]", "holds: y"])
        try assertDataError(["x": x(2)], ["missing array \"y\"", "class labels", "cross_entropy"])
        try assertDataError(["x": x(2)], loss: .mse, ["missing array \"y\"", "float32 targets [N, 3]"])
    }

    func testInputShapeAndValues() throws {
        let y = NpyArray.int(shape: [3], data: [0, 1, 2])
        try assertDataError(["x": x(3, [5]), "y": y], ["x: expected shape [N, 1, 2, 2]", "found [3, 5]"])
        try assertDataError(["x": .int(shape: [3, 1, 2, 2], data: Array(repeating: 0, count: 12)), "y": y],
                            ["x: expected float32 inputs"])
        var bad = (0..<12).map { Float($0) }
        bad[6] = .nan
        try assertDataError(["x": .float(Tensor(shape: [3, 1, 2, 2], data: bad)), "y": y],
                            ["x: example 1, element 2 is not finite (nan)"])
        bad[6] = -.infinity
        try assertDataError(["x": .float(Tensor(shape: [3, 4], data: bad)), "y": y], ["example 1, element 2", "-inf"])
    }

    func testLabels() throws {
        try assertDataError(["x": x(3), "y": .int(shape: [2], data: [0, 1])], ["y: has 2 entries but x has 3 examples"])
        try assertDataError(["x": x(3), "y": .int(shape: [3], data: [0, 7, 9])],
                            ["y: label 7 of example 1 is outside 0..<3", "3 classes"])
        try assertDataError(["x": x(3), "y": .int(shape: [3], data: [0, 1, -1])], ["label -1 of example 2"])
        try assertDataError(["x": x(3), "y": .float(Tensor(shape: [3], data: [0, 1, 2]))],
                            ["y: expected integer class labels (int32/int64)", "found float32"])
        try assertDataError(["x": x(3), "y": .int(shape: [3, 1], data: [0, 1, 2])], ["expected shape [N] = [3]", "found [3, 1]"])
    }

    func testTargets() throws {
        try assertDataError(["x": x(2), "y": .float(Tensor(shape: [2, 4], data: Array(repeating: 0, count: 8)))], loss: .mse,
                            ["y: expected shape [N, 3]", "found [2, 4]"])
        try assertDataError(["x": x(2), "y": .int(shape: [2, 3], data: Array(repeating: 0, count: 6))], loss: .mse,
                            ["expected float32 targets for mse, found an integer array"])
        try assertDataError(["x": x(2), "y": .float(Tensor(shape: [2, 3], data: [0, 0.5, 1, 1, 1.5, 0]))],
                            loss: .binaryCrossEntropy, ["y: target 1.5 of example 1, element 1 is outside [0, 1]"])
        try assertDataError(["x": x(2), "y": .float(Tensor(shape: [2, 3], data: [0, 0, 0, 0, .nan, 0]))], loss: .mse,
                            ["y: example 1, element 1 is not finite"])
    }

    func testValidDataAndLoadFromFile() throws {
        let model = try imageModel()
        let flat = try Dataset.from(["x": x(3, [4]), "y": .int(shape: [3], data: [2, 0, 1])], file: "d", model: model, loss: .crossEntropy)
        XCTAssertEqual(flat.count, 3)
        XCTAssertEqual(flat.labels, [2, 0, 1])
        XCTAssertNil(flat.targets)
        let path = Self.tmp.appendingPathComponent("t.npz").path
        try Npz.write([("x", x(2)), ("y", .float(Tensor(shape: [2, 3], data: [0, 1, 0, 1, 0, 1])))], to: path)
        let d = try Dataset.load(path: path, model: model, loss: .binaryCrossEntropy)
        XCTAssertEqual(d.targets, [0, 1, 0, 1, 0, 1])
        XCTAssertEqual(d.x.count, 8)
        try Npz.write([("y", .int(shape: [2], data: [0, 1]))], to: path)
        XCTAssertThrowsError(try Dataset.load(path: path, model: model, loss: .crossEntropy)) {
            XCTAssertTrue("\($0)".contains("t.npz: missing array \"x\""), "\($0)")
        }
        XCTAssertEqual(Dataset.inferredLoss(["y": .int(shape: [1], data: [0])]), .crossEntropy)
        XCTAssertEqual(Dataset.inferredLoss(["y": .float(Tensor(shape: [1], data: [0]))]), .mse)
    }

    // MARK: Shuffling and augmentation

    func testShuffleOrder() {
        let a = Trainer.order(count: 100, epoch: 1, seed: 7, shuffle: true)
        XCTAssertEqual(a, Trainer.order(count: 100, epoch: 1, seed: 7, shuffle: true))
        XCTAssertEqual(a.sorted(), Array(0..<100))
        XCTAssertNotEqual(a, Array(0..<100))
        XCTAssertNotEqual(a, Trainer.order(count: 100, epoch: 2, seed: 7, shuffle: true))
        XCTAssertNotEqual(a, Trainer.order(count: 100, epoch: 1, seed: 8, shuffle: true))
        XCTAssertEqual(Trainer.order(count: 5, epoch: 3, seed: 7, shuffle: false), [0, 1, 2, 3, 4])
    }

    /// A 2-channel 3×4 image with distinct pixels.
    let image: [Float] = (0..<24).map { Float($0 + 1) }
    func augmenter(_ a: Augment = Augment(), seed: UInt64 = 1) -> Augmenter {
        Augmenter(a, seed: seed, channels: 2, height: 3, width: 4)
    }
    func pixel(_ img: [Float], _ c: Int, _ y: Int, _ x: Int) -> Float { img[c * 12 + y * 4 + x] }

    func testAugmentDeterminism() {
        var a = Augment()
        (a.hflip, a.cropPadding, a.rotateDegrees, a.shearDegrees, a.zoom, a.brightness) = (true, 2, 15, 10, 0.2, 0.1)
        let aug = augmenter(a)
        XCTAssertEqual(aug.params(epoch: 3, index: 5), aug.params(epoch: 3, index: 5))
        XCTAssertEqual(aug.apply(aug.params(epoch: 3, index: 5), to: image), augmenter(a).apply(aug.params(epoch: 3, index: 5), to: image))
        XCTAssertNotEqual(aug.params(epoch: 3, index: 5), aug.params(epoch: 3, index: 6))
        XCTAssertNotEqual(aug.params(epoch: 3, index: 5), aug.params(epoch: 4, index: 5))
        XCTAssertNotEqual(aug.params(epoch: 3, index: 5), augmenter(a, seed: 2).params(epoch: 3, index: 5))
        // Every draw stays within its range; both flips and every shift occur.
        var flips = Set<Bool>(), shifts = Set<Int>()
        for i in 0..<400 {
            let p = aug.params(epoch: 1, index: i)
            flips.insert(p.flip); shifts.insert(p.shiftX); shifts.insert(p.shiftY)
            XCTAssertLessThanOrEqual(abs(p.rotateDegrees), 15)
            XCTAssertLessThanOrEqual(abs(p.shearDegrees), 10)
            XCTAssertLessThanOrEqual(abs(p.scale - 1), 0.2)
            XCTAssertLessThanOrEqual(abs(p.brightness), 0.1)
        }
        XCTAssertEqual(flips, [false, true])
        XCTAssertEqual(shifts, [-2, -1, 0, 1, 2])
        // Nothing enabled: the identity, whatever the draws.
        let none = augmenter().params(epoch: 1, index: 1)
        XCTAssertEqual(none, Augmenter.Params())
        XCTAssertEqual(augmenter().apply(none, to: image), image)
    }

    func testFlip() {
        var p = Augmenter.Params()
        p.flip = true
        let aug = augmenter(), once = aug.apply(p, to: image)
        XCTAssertEqual(pixel(once, 1, 2, 0), pixel(image, 1, 2, 3))
        XCTAssertEqual(pixel(once, 0, 1, 1), pixel(image, 0, 1, 2))
        XCTAssertEqual(aug.apply(p, to: once), image)
    }

    func testIdentityThroughTheAffinePath() {
        // 360° of rotation takes the bilinear path yet lands on the same pixels.
        var p = Augmenter.Params()
        p.rotateDegrees = 360
        for (g, w) in zip(augmenter().apply(p, to: image), image) { XCTAssertEqual(g, w, accuracy: 1e-4) }
        p = Augmenter.Params()
        (p.rotateDegrees, p.shearDegrees, p.scale) = (0, 0, 1)
        XCTAssertEqual(augmenter().apply(p, to: image), image)
    }

    func testRotationAndZoom() {
        // A quarter turn of a square image permutes its pixels.
        let sq = Augmenter(Augment(), seed: 0, channels: 1, height: 3, width: 3)
        let img: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var p = Augmenter.Params()
        p.rotateDegrees = 90
        let r = sq.apply(p, to: img)
        XCTAssertEqual(r.sorted().map { $0.rounded() }, img)
        XCTAssertEqual(r[4], 5, accuracy: 1e-5)
        XCTAssertNotEqual(r.map { $0.rounded() }, img)
        p.rotateDegrees = -90
        let back = sq.apply(p, to: r)
        for (g, w) in zip(back, img) { XCTAssertEqual(g, w, accuracy: 1e-4) }
        // Zoom 2× about the centre keeps the centre and samples halfway to the neighbours.
        p = Augmenter.Params()
        p.scale = 2
        let z = sq.apply(p, to: img)
        XCTAssertEqual(z[4], 5, accuracy: 1e-5)
        XCTAssertEqual(z[0], (1 + 2 + 4 + 5) / 4, accuracy: 1e-5)
        // Shear along x leaves the middle row in place and moves the others sideways.
        p = Augmenter.Params()
        p.shearDegrees = 45
        let s = sq.apply(p, to: img)
        XCTAssertEqual(Array(s[3..<6]), [4, 5, 6])
        XCTAssertEqual(Array(s[0..<3]), [2, 3, 0])  // the top row moves one pixel left, zero fill enters
        XCTAssertEqual(Array(s[6..<9]), [0, 7, 8])  // the bottom row one pixel right
    }

    func testCropShiftMovesPixels() {
        var p = Augmenter.Params()
        (p.shiftX, p.shiftY) = (1, 0)
        let left = augmenter().apply(p, to: image)
        for c in 0..<2 {
            for y in 0..<3 {
                for x in 0..<3 { XCTAssertEqual(pixel(left, c, y, x), pixel(image, c, y, x + 1)) }
                XCTAssertEqual(pixel(left, c, y, 3), 0)
            }
        }
        (p.shiftX, p.shiftY) = (0, -1)
        let down = augmenter().apply(p, to: image)
        XCTAssertEqual(Array(down[0..<4]), [0, 0, 0, 0])
        XCTAssertEqual(pixel(down, 1, 2, 1), pixel(image, 1, 1, 1))
    }

    func testBrightnessShiftsTheMean() {
        var p = Augmenter.Params()
        p.brightness = 0.25
        let out = augmenter().apply(p, to: image)
        let mean = { (v: [Float]) in v.reduce(0, +) / Float(v.count) }
        XCTAssertEqual(mean(out) - mean(image), 0.25, accuracy: 1e-5)
        for (o, i) in zip(out, image) { XCTAssertEqual(o - i, 0.25, accuracy: 1e-5) }
        // Combined with geometry, too: brightness lands on every pixel, zero fill included.
        p.shiftX = 4
        XCTAssertEqual(augmenter().apply(p, to: image), Array(repeating: 0.25, count: 24))
    }

    // MARK: Losses

    func testLossFormulas() {
        XCTAssertEqual(Losses.crossEntropy([1, 2, 3], label: 0, probabilities: false), 2.40760596, accuracy: 1e-6)
        XCTAssertEqual(Losses.crossEntropy([1000, 0], label: 0, probabilities: false), 0, accuracy: 1e-9)  // stable
        XCTAssertEqual(Losses.crossEntropy([0.2, 0.5, 0.3], label: 1, probabilities: true), 0.69314718, accuracy: 1e-6)
        XCTAssertEqual(Losses.crossEntropy([1, 0], label: 1, probabilities: true), -log(1e-12), accuracy: 1e-6)
        XCTAssertEqual(Losses.binaryCrossEntropy(0.8, 1), 0.22314355, accuracy: 1e-6)
        XCTAssertEqual(Losses.binaryCrossEntropy(0.25, 0.5), 0.83698822, accuracy: 1e-6)
        XCTAssertEqual(Losses.binaryCrossEntropy(0, 1), 100)  // log clamped at −100, as PyTorch
        XCTAssertEqual(Losses.binaryCrossEntropy(1, 1), 0)
        XCTAssertEqual(Losses.argmax([0, 3, 3, 1]), 1)
    }

    /// A compiled 3→3 dense layer set to the identity, so the outputs are the inputs (then `tail`).
    func identitySession(_ name: String, tail: String = "") throws -> Session {
        let path = try TrainKit.writeModel(Self.tmp, name, input: [3], layers: #"{"type": "dense", "units": 3}"# + tail)
        let s = try Session(modelPath: path, options: CompileOptions(maxBatch: 2))  // 3 examples: a full and a partial batch
        try s.context.setParam(0, [1, 0, 0, 0, 1, 0, 0, 0, 1])
        try s.context.setParam(1, [0, 0, 0])
        return s
    }

    let logits: [Float] = [1, 2, 3, 0, 0, 0, 3, 1, 0]

    func testEvaluateCrossEntropy() throws {
        let data = Dataset(x: logits, count: 3, labels: [2, 0, 1])
        let s = try identitySession("ev_ce")
        let r = try Trainer.evaluate(data, context: s.context, graph: s.model.graph, loss: .crossEntropy)
        XCTAssertEqual(r.loss, 1.22535476, accuracy: 1e-5)
        XCTAssertEqual(r.accuracy!, 2.0 / 3, accuracy: 1e-12)  // a tie goes to the first index: example 1 is right
        XCTAssertEqual(r.correct, 2)
        // Rows are labels, columns predictions: example 2 (label 1) is predicted 0.
        XCTAssertEqual(r.confusion, [[1, 0, 0], [1, 0, 0], [0, 0, 1]])
        // A final softmax: the outputs are probabilities, the same loss results.
        let sm = try identitySession("ev_softmax", tail: #", {"type": "softmax"}"#)
        let r2 = try Trainer.evaluate(data, context: sm.context, graph: sm.model.graph, loss: .crossEntropy)
        XCTAssertEqual(r2.loss, 1.22535476, accuracy: 1e-5)
        XCTAssertEqual(r2.correct, 2)
    }

    func testEvaluateRegression() throws {
        let s = try identitySession("ev_mse")
        let mse = Dataset(x: logits, count: 3, targets: [0, 2, 3, 1, 0, 0, 3, 1, 2])
        let r = try Trainer.evaluate(mse, context: s.context, graph: s.model.graph, loss: .mse)
        XCTAssertEqual(r.loss, 2.0 / 3, accuracy: 1e-6)
        XCTAssertNil(r.accuracy)
        let sig = try identitySession("ev_bce", tail: #", {"type": "sigmoid"}"#)
        let bce = Dataset(x: logits, count: 3, targets: [0, 1, 1, 0.5, 0, 1, 1, 0, 0.25])
        let r2 = try Trainer.evaluate(bce, context: sig.context, graph: sig.model.graph, loss: .binaryCrossEntropy)
        XCTAssertEqual(r2.loss, 0.62480165, accuracy: 1e-5)
        // Mismatched data is refused before any forward.
        XCTAssertThrowsError(try Trainer.evaluate(Dataset(x: logits, count: 3), context: s.context, graph: s.model.graph, loss: .mse))
    }

    func testTrainerRefusesInferenceLibraryAndMissingTrainSection() throws {
        let s = try identitySession("no_train")
        XCTAssertThrowsError(try Trainer(session: s)) { XCTAssertTrue("\($0)".contains("no train section"), "\($0)") }
        let cfg = TrainConfig(loss: .mse, optimizer: Optimizer(kind: .sgd, lr: 0.1))
        XCTAssertThrowsError(try Trainer(session: s, config: cfg)) { XCTAssertTrue("\($0)".contains("without --train"), "\($0)") }
    }

    // MARK: CSV and SVG

    func history() -> TrainingHistory {
        var h = TrainingHistory(model: "demo <net>")
        for e in 1...4 {
            let d = Double(e)
            let val: Double? = e == 3 ? nil : 2.2 / d, valAcc: Double? = e == 3 ? nil : 0.9
            h.epochs.append(EpochStats(epoch: e, loss: 2.0 / d, accuracy: 0.5 + 0.1 * d, valLoss: val, valAccuracy: valAcc,
                                       examplesPerSecond: 1234.5, stepLosses: [2.5 / d, 1.8 / d]))
        }
        return h
    }

    func testCSV() {
        let lines = history().csv.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.first, "epoch,loss,accuracy,val_loss,val_accuracy,examples_per_s")
        XCTAssertEqual(lines.count, 6)  // header, 4 epochs, the final newline
        XCTAssertEqual(lines[1], "1,2,0.6,2.2,0.9,1234.5")
        XCTAssertEqual(lines[3], "3,0.666667,0.8,,,1234.5")
        XCTAssertEqual(lines[5], "")
        XCTAssertEqual(TrainingHistory(model: "m").csv, "epoch,loss,accuracy,val_loss,val_accuracy,examples_per_s\n")
    }

    func testSVG() throws {
        let svg = history().svg()
        for f in ["<svg", "</svg>", "<path d=\"M", ">epoch</text>", ">loss", "training loss (epoch mean)", "validation loss",
                  "training loss per step", "demo &lt;net&gt;: training loss", "stroke-dasharray"] {
            XCTAssertTrue(svg.contains(f), "SVG lacks \(f)")
        }
        XCTAssertFalse(svg.contains("nan") || svg.contains("inf"), "non-finite coordinates")
        #if canImport(FoundationXML) || canImport(Darwin)
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse(), "SVG is not well-formed XML")
        XCTAssertTrue(XMLParser(data: Data(TrainingHistory(model: "empty").svg().utf8)).parse())
        #endif
        // Losses over more than a factor of 30 use a log axis.
        var h = history()
        h.epochs[3].stepLosses = [0.001]
        XCTAssertTrue(h.svg().contains("loss (log scale)"))
        XCTAssertFalse(history().svg().contains("log scale"))
        // Classifiers get an accuracy panel under the loss, training and validation.
        for f in ["training loss and accuracy", ">accuracy</text>", "training accuracy", "validation accuracy"] {
            XCTAssertTrue(svg.contains(f), "SVG lacks \(f)")
        }
        var regression = history()
        for i in regression.epochs.indices { (regression.epochs[i].accuracy, regression.epochs[i].valAccuracy) = (nil, nil) }
        XCTAssertFalse(regression.svg().contains("accuracy"))
    }
}

/// Training through a --train library: needs the generated train_step.
final class TrainEndToEndTests: XCTestCase {
    static var tmp: URL!
    nonisolated(unsafe) static var cache: (dir: URL, previous: String?)?

    override class func setUp() {
        super.setUp()
        tmp = TrainKit.tempDir("nncc-train-e2e")
        cache = FixtureKit.useTempCache("nncc-train-e2e-cache")
    }

    override class func tearDown() {
        if let c = cache { FixtureKit.restoreCache(c) }
        try? FileManager.default.removeItem(at: tmp)
        super.tearDown()
    }

    func digits(_ model: String) throws -> (Session, Dataset, Dataset) {
        let path = TrainKit.examples.appendingPathComponent("\(model).json").path
        let s = try Session(modelPath: path, options: CompileOptions(maxBatch: 32, train: true))
        let dir = TrainKit.examples.appendingPathComponent("digits")
        return (s, try Dataset.load(path: dir.appendingPathComponent("train.npz").path, model: s.model, loss: .crossEntropy),
                try Dataset.load(path: dir.appendingPathComponent("test.npz").path, model: s.model, loss: .crossEntropy))
    }

    func testOneEpochOfDigitsMLPImprovesAccuracy() throws {
        let (s, train, test) = try digits("digits_mlp")
        XCTAssertEqual(train.count, 1437)
        XCTAssertEqual(test.count, 360)
        let trainer = try Trainer(session: s)
        let before = try trainer.evaluate(test)
        var progress: [Trainer.Progress] = []
        let stats = try trainer.runEpoch(train, epoch: 1) { progress.append($0) }
        let after = try trainer.evaluate(test)
        XCTAssertEqual(progress.count, 45)  // 44 full batches of 32 and one of 29
        XCTAssertEqual(progress.last?.done, 1437)
        XCTAssertEqual(stats.stepLosses.count, 45)
        XCTAssertTrue(stats.loss.isFinite && stats.loss < 2.3, "loss \(stats.loss)")
        XCTAssertLessThan(after.loss, before.loss)
        XCTAssertGreaterThan(after.accuracy!, 0.8, "test accuracy \(after.accuracy!) after one epoch (before \(before.accuracy!))")
        XCTAssertGreaterThan(after.accuracy! - before.accuracy!, 0.4)
    }

    func testAugmentedTrainingIsDeterministic() throws {
        var weights: [[Float]] = []
        for _ in 0..<2 {
            let (s, train, _) = try digits("digits_cnn")
            let trainer = try Trainer(session: s)
            XCTAssertNotNil(trainer.augmenter)
            _ = try trainer.runEpoch(train, epoch: 1)
            weights.append((0..<s.library.numParams).flatMap { s.context.getParam($0) })
        }
        XCTAssertEqual(weights[0], weights[1])
    }

    func testNonFiniteLossNamesTheStepAndLearningRate() throws {
        let (s, train, _) = try digits("digits_mlp")
        let trainer = try Trainer(session: s)
        trainer.learningRate = 1e30
        XCTAssertThrowsError(try trainer.runEpoch(train, epoch: 1)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("epoch 1, step "), text)
            XCTAssertTrue(text.contains("loss became NaN or infinite at epoch 1, step "), text)
            XCTAssertTrue(text.contains("(learning rate 1e+30); the step was not taken; try a lower learning rate"), text)
            XCTAssertEqual((e as? NNCCError)?.code, ModelLibrary.errorNonFinite)
        }
    }

    /// The spec's one-step check: one full batch, no shuffle, reproduces PyTorch's weights after one step.
    func testOneStepMatchesPyTorch() throws {
        let dir = TrainKit.golden.appendingPathComponent("dense_relu")
        let s = try Session(modelPath: dir.appendingPathComponent("model.json").path, options: CompileOptions(maxBatch: 4, train: true))
        let data = try Dataset.load(path: dir.appendingPathComponent("train.npz").path, model: s.model, loss: .mse)
        var cfg = try XCTUnwrap(s.model.graph.train)
        (cfg.batchSize, cfg.shuffle) = (data.count, false)
        let trainer = try Trainer(session: s, config: cfg)
        let stats = try trainer.runEpoch(data, epoch: 1)
        XCTAssertEqual(stats.stepLosses.count, 1)
        let want = try XCTUnwrap(Double(String(contentsOf: dir.appendingPathComponent("loss.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(stats.loss, want, accuracy: 1e-4 + 1e-3 * abs(want))
        let saved = Self.tmp.appendingPathComponent("w1.safetensors").path
        try trainer.saveWeights(path: saved)
        let got = Dictionary(try SafeTensors.read(path: saved).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let after = try SafeTensors.read(path: dir.appendingPathComponent("after.safetensors").path)
        XCTAssertFalse(after.isEmpty)
        for (name, t) in after where !name.hasSuffix("num_batches_tracked") {
            let g = try XCTUnwrap(got[name], "saved weights lack \(name)")
            XCTAssertEqual(g.shape, t.shape, name)
            for (i, (a, b)) in zip(g.data, t.data).enumerated() where !TrainKit.within(a, b, atol: 1e-4, rtol: 1e-3) {
                XCTFail("\(name)[\(i)]: got \(a), PyTorch \(b)")
                break
            }
        }
    }
}
