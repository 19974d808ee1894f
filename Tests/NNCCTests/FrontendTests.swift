import Foundation
import XCTest
@testable import NNCC

/// The JSON frontend: every malformed model is an NNCCError naming the file,
/// the JSON path and what was expected; valid models decode to the right graph.
final class FrontendTests: XCTestCase {
    static let file = "/models/m.json"

    func decode(_ text: String) throws -> ModelDecoder.Decoded {
        try ModelDecoder.decode(Data(text.utf8), file: Self.file)
    }

    /// A model with the given `layers` array body, input shape and extra top-level keys.
    func model(_ layers: String, input: String = "[8]", extra: String = "") -> String {
        """
        {"format": 1, "name": "m", "input": {"shape": \(input)}, "layers": [\(layers)]\(extra.isEmpty ? "" : ", " + extra)}
        """
    }

    /// Asserts decoding `text` fails with exactly `path` (nil: the whole file) and
    /// a message containing `fragment`.
    func assertError(_ text: String, path: String?, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let d = try decode(text)
            XCTFail("expected an error at \(path ?? "<file>"), decoded \(d.graph.nodes.count) nodes", file: file, line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.file, Self.file, "\(e)", file: file, line: line)
            XCTAssertEqual(e.path, path, "\(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(fragment), "message \"\(e.message)\" lacks \"\(fragment)\"", file: file, line: line)
        } catch {
            XCTFail("expected NNCCError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    // MARK: - Malformed JSON

    func testTruncatedJSON() {
        assertError(#"{"format": 1, "name": "m""#, path: nil, "unexpected end of file inside an object")
        assertError(#"{"format": 1, "name": "m", "layers": [{"type": "relu"}"#, path: nil, "malformed JSON")
        assertError("", path: nil, "unexpected end of file")
        assertError(#"{"name": "unterminated"#, path: nil, "unterminated string")
    }

    func testTrailingCommas() {
        assertError(#"{"format": 1,}"#, path: nil, "expected a quoted key")
        assertError(#"{"format": 1, "input": {"shape": [8,]}}"#, path: nil, "unexpected character ']'")
    }

    func testBadLiterals() {
        assertError(#"{"format": 1, "seed": tru}"#, path: nil, "invalid literal, expected 'true'")
        assertError(#"{"format": 1, "seed": NaN}"#, path: nil, "unexpected character 'N'")
        assertError(#"{"format": 1e999}"#, path: nil, "number out of range")
        assertError(#"{"format": 1} x"#, path: nil, "unexpected text after the JSON value")
    }

    /// RFC 8259 numbers have no leading zeros: `01` is not the integer 1.
    func testLeadingZeroIsRejected() {
        assertError(#"{"format": 01}"#, path: nil, "malformed JSON")
        assertError(#"{"format": -01}"#, path: nil, "malformed JSON")
    }

    func testErrorPositionIsLineAndColumn() {
        assertError("{\n  \"format\": 1,\n  \"name\": ?\n}", path: nil, "line 3, column 11")
    }

    func testDuplicateJSONKey() {
        assertError(#"{"format": 1, "format": 1}"#, path: nil, "duplicate key \"format\"")
    }

    func testDeepNestingDoesNotCrash() {
        let deep = String(repeating: "[", count: 10000) + String(repeating: "]", count: 10000)
        assertError(deep, path: nil, "nesting deeper than")
        let deepObject = String(repeating: #"{"a":"#, count: 10000) + "1" + String(repeating: "}", count: 10000)
        assertError(deepObject, path: nil, "nesting deeper than")
        assertError(model(#"{"type": "reshape", "shape": "# + String(repeating: "[", count: 10000)), path: nil, "nesting deeper")
    }

    func testTopLevelNotAnObject() {
        assertError("[1, 2]", path: nil, "expected an object, found an array")
    }

    // MARK: - Top level

    func testWrongFormat() {
        assertError(#"{"format": 2, "name": "m", "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#,
                    path: "format", "expected 1, found 2")
        assertError(#"{"format": "1", "name": "m"}"#, path: "format", "expected an integer, found a string")
        assertError(#"{"format": 1.0, "name": "m"}"#, path: "format", "found a number")
    }

    func testMissingRequiredKeys() {
        assertError(#"{"name": "m", "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#,
                    path: nil, "missing required key \"format\"")
        assertError(#"{"format": 1, "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#,
                    path: nil, "missing required key \"name\"")
        assertError(#"{"format": 1, "name": "m", "layers": [{"type": "relu"}]}"#, path: nil, "missing required key \"input\"")
        assertError(#"{"format": 1, "name": "m", "input": {"shape": [1]}}"#, path: nil, "missing required key \"layers\"")
        assertError(model(""), path: "layers", "expected a non-empty array of layers")
    }

    func testNameMustBeACIdentifier() {
        for bad in ["my-model", "1abc", String(repeating: "a", count: 65), "", "modèle", "名前", "a b", "a;rm -rf /"] {
            let text = #"{"format": 1, "name": "\#(bad)", "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#
            assertError(text, path: "name", "expected a C identifier")
        }
        assertError(#"{"format": 1, "name": 7}"#, path: "name", "expected a string, found an integer")
        let ok = #"{"format": 1, "name": "\#(String(repeating: "a", count: 64))", "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#
        XCTAssertNoThrow(try decode(ok))
        XCTAssertNoThrow(try decode(#"{"format": 1, "name": "_a9", "input": {"shape": [1]}, "layers": [{"type": "relu"}]}"#))
        // "_A9" is reserved by the C standard: HardeningInputTests.
    }

    func testUnknownTopLevelKey() {
        assertError(model(#"{"type": "relu"}"#, extra: #""weight": "w.safetensors""#), path: "weight", "unknown key for a model")
    }

    func testInputShape() {
        assertError(model(#"{"type": "relu"}"#, input: "[1, 2, 3, 4, 5, 6, 7]"), path: "input.shape", "expected 1 to 6 dimensions, found 7")
        assertError(model(#"{"type": "relu"}"#, input: "[3, 0]"), path: "input.shape[1]", "expected a positive integer, found 0")
        assertError(model(#"{"type": "relu"}"#, input: "[]"), path: "input.shape", "expected a non-empty array of integers")
        assertError(#"{"format": 1, "name": "m", "input": {"dims": [1]}, "layers": [{"type": "relu"}]}"#,
                    path: "input.dims", "unknown key for input")
    }

    func testSeedAndWeights() {
        assertError(model(#"{"type": "relu"}"#, extra: #""seed": -1"#), path: "seed", "expected a non-negative integer, found -1")
        assertError(model(#"{"type": "relu"}"#, extra: #""weights": """#), path: "weights", "expected a file path")
    }

    // MARK: - Layers

    func testLayerNotAnObject() {
        assertError(model(#"{"type": "relu"}, 3"#), path: "layers[1]", "expected an object, found an integer")
    }

    func testUnknownLayerType() {
        assertError(model(#"{"type": "relu"}, {"type": "dense2", "units": 3}"#), path: "layers[1].type", "unknown layer type \"dense2\"")
        assertError(model(#"{"units": 3}"#), path: "layers[0]", "missing required key \"type\"")
    }

    func testUnknownAttribute() {
        assertError(model(#"{"type": "dense", "unit": 10}"#), path: "layers[0].unit", "unknown key for a dense layer")
        assertError(model(#"{"type": "relu", "alpha": 0.1}"#), path: "layers[0].alpha", "unknown key for a relu layer")
    }

    func testMissingRequiredAttributes() {
        assertError(model(#"{"type": "dense"}"#), path: "layers[0]", "missing required key \"units\"")
        assertError(model(#"{"type": "conv2d", "kernel_size": 3}"#, input: "[1, 4, 4]"), path: "layers[0]",
                    "missing required key \"filters\"")
        assertError(model(#"{"type": "conv2d", "filters": 3}"#, input: "[1, 4, 4]"), path: "layers[0]",
                    "missing required key \"kernel_size\"")
        assertError(model(#"{"type": "maxpool2d"}"#, input: "[1, 4, 4]"), path: "layers[0]", "missing required key \"pool_size\"")
        assertError(model(#"{"type": "dropout"}"#), path: "layers[0]", "missing required key \"rate\"")
        assertError(model(#"{"type": "reshape"}"#), path: "layers[0]", "missing required key \"shape\"")
    }

    func testWrongAttributeTypes() {
        assertError(model(#"{"type": "dense", "units": "10"}"#), path: "layers[0].units", "expected a positive integer, found a string")
        assertError(model(#"{"type": "dense", "units": 0}"#), path: "layers[0].units", "expected a positive integer, found 0")
        assertError(model(#"{"type": "dense", "units": -1}"#), path: "layers[0].units", "expected a positive integer, found -1")
        assertError(model(#"{"type": "dense", "units": 1.5}"#), path: "layers[0].units", "expected a positive integer, found a number")
        assertError(model(#"{"type": "dense", "units": 4, "bias": 1}"#), path: "layers[0].bias", "expected true or false")
        assertError(model(#"{"type": "dense", "units": 4, "activation": "swish"}"#), path: "layers[0].activation",
                    "expected an activation")
        assertError(model(#"{"type": "leaky_relu", "alpha": "x"}"#), path: "layers[0].alpha", "expected a number, found a string")
    }

    func testConvAttributes() {
        let img = "[1, 8, 8]"
        assertError(model(#"{"type": "conv2d", "filters": 2, "kernel_size": [3]}"#, input: img), path: "layers[0].kernel_size",
                    "expected a positive integer or")
        assertError(model(#"{"type": "conv2d", "filters": 2, "kernel_size": [3, 0]}"#, input: img), path: "layers[0].kernel_size",
                    "expected a positive integer or")
        assertError(model(#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "full"}"#, input: img),
                    path: "layers[0].padding", #"expected an integer, [ph, pw], "same" or "valid", found "full""#)
        assertError(model(#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": -1}"#, input: img),
                    path: "layers[0].padding", "expected a non-negative integer")
        assertError(model(#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 0}"#, input: img),
                    path: "layers[0].stride", "expected a positive integer")
        assertError(model(#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "groups": 0}"#, input: img),
                    path: "layers[0].groups", "expected a positive integer, found 0")
    }

    func testPoolPaddingAtMostHalfTheWindow() {
        assertError(model(#"{"type": "maxpool2d", "pool_size": 2, "padding": 2}"#, input: "[1, 8, 8]"), path: "layers[0].padding",
                    "expected at most half of pool_size")
    }

    func testDropoutRate() {
        assertError(model(#"{"type": "dropout", "rate": 1.0}"#), path: "layers[0].rate", "expected a number in [0.0, 1.0)")
        assertError(model(#"{"type": "dropout", "rate": -0.1}"#), path: "layers[0].rate", "expected a number in")
        XCTAssertNoThrow(try decode(model(#"{"type": "dropout", "rate": 0}"#)))
    }

    func testRecurrentAttributes() {
        assertError(model(#"{"type": "rnn", "units": 4, "activation": "sigmoid"}"#, input: "[3, 2]"),
                    path: "layers[0].activation", #"expected "tanh" or "relu", found "sigmoid""#)
        assertError(model(#"{"type": "lstm", "units": 4, "activation": "tanh"}"#, input: "[3, 2]"),
                    path: "layers[0].activation", "unknown key for a lstm layer")
        assertError(model(#"{"type": "gru", "units": 4, "return_sequences": "yes"}"#, input: "[3, 2]"),
                    path: "layers[0].return_sequences", "expected true or false")
    }

    func testReshapeAndConcatAttributes() {
        assertError(model(#"{"type": "reshape", "shape": [-1, -1]}"#), path: "layers[0].shape", "at most one -1")
        assertError(model(#"{"type": "reshape", "shape": [2, 0]}"#), path: "layers[0].shape", "expected positive dimensions")
        assertError(model(#"{"type": "reshape", "shape": [2, "a"]}"#), path: "layers[0].shape[1]", "expected an integer")
        assertError(model(#"{"type": "relu", "name": "a"}, {"type": "concat", "inputs": ["a", "input"], "axis": 6}"#),
                    path: "layers[1].axis", "expected at most 5, found 6")
    }

    func testTensorLayers() throws {
        let g = try decode(model(#"{"type": "permute", "dims": [0, 2, -1, 1]}, {"type": "transpose", "dim0": 1, "dim1": -1}, "#
            + #"{"type": "softmax", "dim": 2}, {"type": "log_softmax", "axis": 0}, {"type": "amax", "dim": [-1, 1], "keepdim": true}"#,
                                 input: "[2, 3, 4]")).graph
        XCTAssertEqual(g.nodes.map(\.op), [.input, .transpose([1, 2, 0]), .swapAxes(0, -1), .softmax(axis: 1), .logSoftmax(axis: 0),
                                           .reduce(Reduction(.max, axes: [-1, 0], keepDims: true))])
        let s = try inferShapes(g)
        XCTAssertEqual(s.nodes.map(\.shape), [[2, 3, 4], [3, 4, 2], [2, 4, 3], [2, 4, 3], [2, 4, 3], [1, 4, 1]])
        XCTAssertEqual(s.nodes[2].op, .transpose([2, 1, 0]))
        XCTAssertEqual(s.nodes[5].op, .reduce(Reduction(.max, axes: [0, 2], keepDims: true)))
        assertError(model(#"{"type": "mean", "dim": 0}"#), path: "layers[0].dim", "dim 0 is the batch")
        assertError(model(#"{"type": "permute", "dims": [1, 0]}"#), path: "layers[0].dims", "keeps the batch (0) first")
        assertError(model(#"{"type": "softmax", "dim": 1, "axis": 0}"#), path: "layers[0].axis", "not both")
        let mm = try decode(model(#"{"type": "matmul", "inputs": ["input", "input"]}"#, input: "[3, 4]")).graph
        XCTAssertThrowsError(try inferShapes(mm)) { XCTAssertTrue("\($0)".contains("K differs (4 and 3)"), "\($0)") }
    }

    func testNormalizationAttributes() {
        assertError(model(#"{"type": "layernorm"}"#), path: "layers[0]", "normalized_shape")
        assertError(model(#"{"type": "layernorm", "normalized_shape": [8, 0]}"#), path: "layers[0].normalized_shape[1]",
                    "expected a positive integer")
        assertError(model(#"{"type": "layernorm", "normalized_shape": []}"#), path: "layers[0].normalized_shape", "1 to 3 integers")
        assertError(model(#"{"type": "groupnorm", "num_groups": 0}"#), path: "layers[0].num_groups", "expected a positive integer")
        assertError(model(#"{"type": "instancenorm", "track_running_stats": true}"#), path: "layers[0].track_running_stats",
                    "unknown key for a instancenorm layer")
    }

    func testLayerNames() {
        assertError(model(#"{"type": "relu", "name": "a"}, {"type": "tanh", "name": "a"}"#), path: "layers[1].name",
                    "duplicate layer name \"a\"")
        // The default name of layer 1 is "1": a layer explicitly named "1" earlier collides with it.
        assertError(model(#"{"type": "relu", "name": "1"}, {"type": "tanh"}"#), path: "layers[1].name", "duplicate layer name \"1\"")
        assertError(model(#"{"type": "relu", "name": "input"}"#), path: "layers[0].name", "other than \"input\"")
        assertError(model(#"{"type": "relu", "name": ""}"#), path: "layers[0].name", "expected a non-empty name")
    }

    func testInputsMustNameEarlierLayers() {
        assertError(model(#"{"type": "relu", "inputs": ["b"]}, {"type": "tanh", "name": "b"}"#), path: "layers[0].inputs[0]",
                    "expected the name of an earlier layer or \"input\"")
        assertError(model(#"{"type": "relu"}, {"type": "add", "inputs": ["0", "nope"]}"#), path: "layers[1].inputs[1]",
                    "expected the name of an earlier layer")
        assertError(model(#"{"type": "relu", "name": "self", "inputs": ["self"]}"#), path: "layers[0].inputs[0]", "earlier layer")
        assertError(model(#"{"type": "relu", "inputs": []}"#), path: "layers[0].inputs", "expected a non-empty array of layer names")
        assertError(model(#"{"type": "relu", "inputs": [0]}"#), path: "layers[0].inputs[0]", "earlier layer")
    }

    func testOutputsMustNameLayers() {
        assertError(model(#"{"type": "relu"}"#, extra: #""outputs": ["logits"]"#), path: "outputs[0]", "expected the name of a layer")
        assertError(model(#"{"type": "relu"}"#, extra: #""outputs": ["input"]"#), path: "outputs[0]", "expected the name of a layer")
        assertError(model(#"{"type": "relu"}"#, extra: #""outputs": []"#), path: "outputs", "expected a non-empty array")
    }

    // MARK: - Train section

    func train(_ body: String) -> String { model(#"{"type": "dense", "units": 2}"#, extra: #""train": {\#(body)}"#) }
    let sgd = #""optimizer": {"type": "sgd", "lr": 0.1}"#

    func testTrainErrors() {
        assertError(train(#""loss": "hinge", \#(sgd)"#), path: "train.loss", "expected \"cross_entropy\", \"mse\" or \"binary_cross_entropy\"")
        assertError(train(#""loss": "mse", "optimizer": {"type": "rmsprop", "lr": 0.1}"#), path: "train.optimizer.type",
                    #"expected "sgd" or "adam", found "rmsprop""#)
        assertError(train(#""loss": "mse", "optimizer": {"type": "sgd", "lr": 0.1, "nesterov": true}"#),
                    path: "train.optimizer.nesterov", "nesterov needs a momentum")
        assertError(train(#""loss": "mse", "optimizer": {"type": "adam", "lr": 0.1, "betas": [0.9, 1.0]}"#),
                    path: "train.optimizer.betas", "expected [beta1, beta2] with each in [0, 1)")
        assertError(train(#""loss": "mse", "optimizer": {"type": "adam", "lr": 0.1, "betas": [-0.1, 0.9]}"#),
                    path: "train.optimizer.betas", "each in [0, 1)")
        assertError(train(#""loss": "mse", \#(sgd), "batch_size": 0"#), path: "train.batch_size", "expected a positive integer, found 0")
        assertError(train(#""loss": "mse", "optimizer": {"type": "adam", "lr": 0.1, "momentum": 0.9}"#),
                    path: "train.optimizer.momentum", "unknown key for the adam optimizer")
        assertError(train(#""loss": "mse", \#(sgd), "augment": {"flip": true}"#), path: "train.augment.flip", "unknown key for augment")
        assertError(train(#""loss": "mse""#), path: "train", "missing required key \"optimizer\"")
    }

    func testDescriptionJoinsFilePathAndMessage() {
        do {
            _ = try decode(model(#"{"type": "dense", "units": 0}"#))
            XCTFail("expected an error")
        } catch let e as NNCCError {
            XCTAssertEqual(e.description, "/models/m.json: layers[0].units: expected a positive integer, found 0")
        } catch { XCTFail("\(error)") }
    }

    // MARK: - Valid models

    func testDefaults() throws {
        let text = model(#"{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "maxpool2d", "pool_size": [2, 3]}, {"type": "avgpool2d", "pool_size": 2, "stride": 1}, {"type": "flatten"}"#,
                         input: "[1, 12, 12]")
        let g = try decode(text).graph
        XCTAssertEqual(g.nodes.map(\.name), ["input", "0", "1", "2", "3"])
        XCTAssertEqual(g.nodes.map(\.inputs), [[], [0], [1], [2], [3]])
        XCTAssertEqual(g.nodes.map(\.origin), ["input", "layers[0]", "layers[1]", "layers[2]", "layers[3]"])
        XCTAssertEqual(g.outputs, [4])
        XCTAssertEqual(g.seed, 0)
        XCTAssertNil(g.train)
        XCTAssertEqual(g.nodes[1].op, .conv2d(Conv2D(filters: 2, kernel: (3, 3), stride: (1, 1), padding: .explicit(0, 0),
                                                     dilation: (1, 1), groups: 1, bias: true)))
        XCTAssertEqual(g.nodes[2].op, .maxPool(Pool2D(size: (2, 3), stride: (2, 3), padding: (0, 0))))
        XCTAssertEqual(g.nodes[3].op, .avgPool(Pool2D(size: (2, 2), stride: (1, 1), padding: (0, 0))))
        XCTAssertEqual(g.nodes[4].op, .reshape([-1]))
        XCTAssertNil(try decode(text).weightsPath)
    }

    func testOtherDefaults() throws {
        let g = try decode(model(#"{"type": "dense", "units": 3}, {"type": "leaky_relu"}, {"type": "batchnorm"}, {"type": "rnn", "units": 2, "inputs": ["input"]}, {"type": "concat", "inputs": ["0", "1"]}"#)).graph
        XCTAssertEqual(g.nodes[1].op, .dense(units: 3, bias: true))
        XCTAssertEqual(g.nodes[2].op, .activation(.leakyRelu(alpha: 0.01)))
        XCTAssertEqual(g.nodes[3].op, .batchNorm(eps: 1e-5, momentum: 0.1))
        XCTAssertEqual(g.nodes[4].op, .recurrent(Recurrent(cell: .rnnTanh, units: 2, returnSequences: false)))
        XCTAssertEqual(g.nodes[5].op, .concat(axis: 0))
    }

    func testDenseActivationIsASeparateNode() throws {
        let g = try decode(model(#"{"type": "dense", "units": 4, "activation": "relu"}, {"type": "dense", "units": 2, "activation": "none"}, {"type": "add", "inputs": ["0", "1"]}"#)).graph
        XCTAssertEqual(g.nodes.map(\.name), ["input", "0", "0/activation", "1", "2"])
        XCTAssertEqual(g.nodes[2].op, .activation(.relu))
        XCTAssertEqual(g.nodes[2].inputs, [1])
        XCTAssertEqual(g.nodes[2].origin, "layers[0].activation")
        // The layer's name refers to the activated result, for the next layer and for `inputs`.
        XCTAssertEqual(g.nodes[3].inputs, [2])
        XCTAssertEqual(g.nodes[4].inputs, [2, 3])
        let conv = try decode(model(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "activation": "softmax"}"#, input: "[1, 2, 2]")).graph
        XCTAssertEqual(conv.nodes.map(\.op.typeName), ["input", "conv2d", "softmax"])
        XCTAssertEqual(conv.outputs, [2])
    }

    func testInputsAndOutputsGraph() throws {
        let g = try decode(model(#"""
            {"type": "dense", "units": 8, "name": "a"},
            {"type": "relu", "name": "b"},
            {"type": "add", "name": "sum", "inputs": ["input", "b"]},
            {"type": "dense", "units": 2, "name": "head", "inputs": ["a"]}
            """#, extra: #""outputs": ["sum", "head", "a"], "seed": 42, "weights": "w/m.safetensors""#))
        XCTAssertEqual(g.graph.nodes.map(\.inputs), [[], [0], [1], [0, 2], [1]])
        XCTAssertEqual(g.graph.outputs, [3, 4, 1])
        XCTAssertEqual(g.graph.seed, 42)
        XCTAssertEqual(g.weightsPath, "/models/w/m.safetensors")
        XCTAssertEqual(try decode(model(#"{"type": "relu"}"#, extra: #""weights": "/abs/w.safetensors""#)).weightsPath,
                       "/abs/w.safetensors")
    }

    func testTrainDecodes() throws {
        let g = try decode(train(#"""
            "loss": "cross_entropy", "optimizer": {"type": "adam", "lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1},
            "batch_size": 16, "epochs": 3, "shuffle": false, "clip_grad_norm": 1.5, "augment": {"hflip": true, "crop_padding": 2}
            """#)).graph
        let t = try XCTUnwrap(g.train)
        XCTAssertEqual(t.loss, .crossEntropy)
        XCTAssertEqual(t.optimizer.kind, .adam)
        XCTAssertEqual(t.optimizer.lr, 0.01)
        XCTAssertEqual(t.optimizer.betas.0, 0.8)
        XCTAssertEqual(t.optimizer.betas.1, 0.99)
        XCTAssertEqual(t.optimizer.weightDecay, 0.1)
        XCTAssertEqual(t.batchSize, 16)
        XCTAssertEqual(t.epochs, 3)
        XCTAssertFalse(t.shuffle)
        XCTAssertEqual(t.clipGradNorm, 1.5)
        XCTAssertTrue(t.augment.hflip)
        XCTAssertEqual(t.augment.cropPadding, 2)
        let s = try XCTUnwrap(try decode(train(#""loss": "mse", "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true}"#)).graph.train)
        XCTAssertEqual(s.optimizer.kind, .sgd)
        XCTAssertTrue(s.optimizer.nesterov)
        XCTAssertEqual(s.batchSize, 32)
        XCTAssertTrue(s.shuffle)
    }

    func testAllFixtureModelsDecode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        var count = 0
        for set in ["torch", "golden"] {
            let dir = root.appendingPathComponent(set)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
                let path = dir.appendingPathComponent(name).appendingPathComponent("model.json").path
                guard FileManager.default.fileExists(atPath: path) else { continue }
                XCTAssertNoThrow(try Pipeline.load(path), name)
                count += 1
            }
        }
        XCTAssertGreaterThan(count, 10)
    }
}
