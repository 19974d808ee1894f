import Foundation
@testable import NNCC
import NNCCRuntime

/// The files the C drivers (Fixtures/c/driver.c and train_driver.c) read, and
/// the checks of what they write: shared by the sanitizer builds and the
/// aarch64 builds under qemu.
enum DriverFiles {
    static let driver = FixtureKit.root.appendingPathComponent("c/driver.c")
    static let trainDriver = FixtureKit.root.appendingPathComponent("c/train_driver.c")

    /// Writes NAME.c and NAME.h into `dir` (created) and returns their URLs.
    static func writeSources(_ lib: GeneratedLibrary, name: String, in dir: URL) throws -> (source: URL, header: URL) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let source = dir.appendingPathComponent("\(name).c"), header = dir.appendingPathComponent("\(name).h")
        try lib.source.write(to: source, atomically: true, encoding: .utf8)
        try lib.header.write(to: header, atomically: true, encoding: .utf8)
        return (source, header)
    }

    /// The compiler arguments that build a driver for the library NAME: its header included first.
    static func defines(_ name: String, header: URL) -> [String] { ["-DMODEL=\(name)", "-include", header.path] }

    /// Writes the fixture's x.npy and y.npy as raw floats into `dir` and returns driver.c's
    /// arguments: WEIGHTS X.f32 Y.f32 COUNT SAVE.safetensors.
    static func forwardArguments(_ fixture: URL, model: LoadedModel, in dir: URL) throws -> [String] {
        let x = try FixtureKit.floats(fixture.appendingPathComponent("x.npy"))
        let y = try FixtureKit.floats(fixture.appendingPathComponent("y.npy"))
        let xFile = dir.appendingPathComponent("x.f32"), yFile = dir.appendingPathComponent("y.f32")
        try x.data.withUnsafeBytes { try Data($0).write(to: xFile) }
        try y.data.withUnsafeBytes { try Data($0).write(to: yFile) }
        guard let weights = model.weightsPath else { throw NNCCError(file: fixture.path, "fixture has no weights file") }
        return [weights, xFile.path, yFile.path, String(x.shape[0]), dir.appendingPathComponent("saved.safetensors").path]
    }

    /// Writes the fixture's train.npz as raw inputs and targets into `dir` and returns
    /// train_driver.c's arguments: WEIGHTS X.f32 T.raw COUNT labels|floats AFTER.safetensors.
    static func trainArguments(_ fixture: URL, model: LoadedModel, graph: Graph, in dir: URL) throws -> [String] {
        guard let train = graph.train, let weights = model.weightsPath else {
            throw NNCCError(file: fixture.path, "fixture has no training settings or no weights file")
        }
        let data = try Dataset.load(path: fixture.appendingPathComponent("train.npz").path, model: model, loss: train.loss)
        let xFile = dir.appendingPathComponent("x.f32"), tFile = dir.appendingPathComponent("t.raw")
        try data.x.withUnsafeBytes { try Data($0).write(to: xFile) }
        if let labels = data.labels {
            try labels.withUnsafeBytes { try Data($0).write(to: tFile) }
        } else if let targets = data.targets {
            try targets.withUnsafeBytes { try Data($0).write(to: tFile) }
        }
        return [weights, xFile.path, tFile.path, String(data.count), data.labels != nil ? "labels" : "floats",
                dir.appendingPathComponent("after.safetensors").path]
    }

    /// The parameters train_driver saved after its one step (its last argument) against
    /// PyTorch's after.safetensors (atol 1e-4, rtol 1e-3): one line per parameter that differs.
    static func trainProblems(_ fixture: URL, saved: String) throws -> [String] {
        let want = Dictionary(uniqueKeysWithValues: try SafeTensors.read(
            path: fixture.appendingPathComponent("after.safetensors").path).map { ($0.name, $0.tensor) })
        var problems = [String](), compared = 0
        for (name, t) in try SafeTensors.read(path: saved) {
            guard let w = want[name] else { continue }
            compared += 1
            if let e = FixtureKit.assertClose(t.data, w.data, atol: 1e-4, rtol: 1e-3) {
                problems.append("\(name) after one step: \(e)")
            }
        }
        return compared > 0 ? problems : ["no parameter of \(saved) is in after.safetensors"]
    }
}
