import Foundation
import XCTest
@testable import NNCC

/// Shape inference for every op, compile-time shape errors naming the layer,
/// and the parameter table (PyTorch names and layouts).
final class ShapeTests: XCTestCase {
    static let file = "/models/s.json"

    func graph(_ layers: String, input: String, outputs: String? = nil) throws -> Graph {
        let extra = outputs.map { #", "outputs": \#($0)"# } ?? ""
        let text = #"{"format": 1, "name": "s", "input": {"shape": \#(input)}, "layers": [\#(layers)]\#(extra)}"#
        return try inferShapes(try ModelDecoder.decode(Data(text.utf8), file: Self.file).graph, file: Self.file)
    }

    /// Per-example shape of the layer named `name`.
    func shape(_ g: Graph, _ name: String, file: StaticString = #filePath, line: UInt = #line) -> [Int]? {
        guard let n = g.nodes.first(where: { $0.name == name }) else {
            XCTFail("no node \(name)", file: file, line: line)
            return nil
        }
        return n.shape
    }

    /// Shape of the single layer `layer` applied to `input`.
    func one(_ layer: String, _ input: String, file: StaticString = #filePath, line: UInt = #line) -> [Int]? {
        do {
            return try graph(layer, input: input).nodes[1].shape
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    func assertShapeError(_ layers: String, input: String, path: String, _ fragments: String...,
                          file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try graph(layers, input: input)
            XCTFail("expected a shape error at \(path)", file: file, line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.file, Self.file, "\(e)", file: file, line: line)
            XCTAssertEqual(e.path, path, "\(e)", file: file, line: line)
            for f in fragments {
                XCTAssertTrue(e.message.contains(f), "message \"\(e.message)\" lacks \"\(f)\"", file: file, line: line)
            }
        } catch {
            XCTFail("expected NNCCError, got \(error)", file: file, line: line)
        }
    }

    // MARK: - Shapes of every op

    func testNormalizations() throws {
        let g = try graph(#"{"type": "layernorm", "normalized_shape": 8, "name": "a"}, {"type": "layernorm", "normalized_shape": [5, 8], "bias": false, "name": "b"}, {"type": "layernorm", "normalized_shape": 8, "elementwise_affine": false, "name": "c"}, {"type": "groupnorm", "num_groups": 5, "eps": 0.001, "name": "d"}, {"type": "instancenorm", "name": "e"}, {"type": "instancenorm", "affine": true, "name": "f"}"#, input: "[5, 8]")
        XCTAssertEqual(g.nodes.map(\.shape), Array(repeating: [5, 8], count: 7))
        XCTAssertEqual(g.nodes[1].op, .norm(Norm(.layer(normalizedShape: [8]))))
        XCTAssertEqual(g.nodes[4].op, .norm(Norm(.group(5), eps: 0.001)))
        XCTAssertEqual(g.nodes[5].op, .norm(Norm(.instance, weight: false, bias: false)))
        XCTAssertEqual(g.params.map { "\($0.name)\($0.shape)" },
                       ["a.weight[8]", "a.bias[8]", "b.weight[5, 8]", "d.weight[5]", "d.bias[5]", "f.weight[5]", "f.bias[5]"])
        assertShapeError(#"{"type": "layernorm", "normalized_shape": [8, 5]}"#, input: "[5, 8]", path: "layers[0]",
                         "normalized_shape [8, 5] must be the last axes of the input [5, 8]")
        assertShapeError(#"{"type": "groupnorm", "num_groups": 3}"#, input: "[5, 8]", path: "layers[0]",
                         "num_groups 3 must divide the channels")
        assertShapeError(#"{"type": "instancenorm"}"#, input: "[5]", path: "layers[0]", "expected a [C, L] or [C, H, W] input")
    }

    func testDense() {
        XCTAssertEqual(one(#"{"type": "dense", "units": 4}"#, "[8]"), [4])
        XCTAssertEqual(one(#"{"type": "dense", "units": 4}"#, "[5, 8]"), [5, 4])
        XCTAssertEqual(one(#"{"type": "dense", "units": 3}"#, "[2, 5, 8]"), [2, 5, 3])
    }

    func testConv() {
        let img = "[3, 32, 32]"
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": 3}"#, img), [8, 30, 30])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": 3, "stride": 2, "padding": 1}"#, img), [8, 16, 16])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": 5, "padding": "same"}"#, img), [8, 32, 32])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": 4, "padding": "same"}"#, img), [8, 32, 32])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": [2, 3], "padding": "same", "dilation": 2}"#, img),
                       [8, 32, 32])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": 5, "padding": "valid"}"#, img), [8, 28, 28])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 8, "kernel_size": 3, "dilation": 2}"#, img), [8, 28, 28])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 6, "kernel_size": 3, "groups": 3}"#, img), [6, 30, 30])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 4, "kernel_size": [3, 5], "stride": [2, 1], "padding": [1, 2]}"#, img),
                       [4, 16, 32])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 3}"#, "[1, 10, 11]"), [4, 3, 3])
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 2, "kernel_size": 1}"#, "[1, 1, 1]"), [2, 1, 1])
    }

    func testSamePaddingIsAsymmetricForEvenKernels() throws {
        let g = try graph(#"{"type": "conv2d", "filters": 1, "kernel_size": 4, "padding": "same"}"#, input: "[1, 6, 6]")
        guard case let .conv2d(c) = g.nodes[1].op else { return XCTFail() }
        XCTAssertTrue(c.pads == (1, 1, 2, 2), "\(c.pads)")
    }

    func testPools() {
        let img = "[3, 9, 9]"
        XCTAssertEqual(one(#"{"type": "maxpool2d", "pool_size": 2}"#, img), [3, 4, 4])
        XCTAssertEqual(one(#"{"type": "avgpool2d", "pool_size": 3, "stride": 2, "padding": 1}"#, img), [3, 5, 5])
        XCTAssertEqual(one(#"{"type": "maxpool2d", "pool_size": [3, 1], "stride": [3, 2]}"#, img), [3, 3, 5])
        XCTAssertEqual(one(#"{"type": "avgpool2d", "pool_size": 9}"#, img), [3, 1, 1])
        XCTAssertEqual(one(#"{"type": "global_avgpool2d"}"#, img), [3])
    }

    func testFlattenAndReshape() {
        XCTAssertEqual(one(#"{"type": "flatten"}"#, "[3, 4, 5]"), [60])
        XCTAssertEqual(one(#"{"type": "flatten"}"#, "[7]"), [7])
        XCTAssertEqual(one(#"{"type": "reshape", "shape": [-1, 4]}"#, "[3, 4, 4]"), [12, 4])
        XCTAssertEqual(one(#"{"type": "reshape", "shape": [4, -1]}"#, "[3, 4, 4]"), [4, 12])
        XCTAssertEqual(one(#"{"type": "reshape", "shape": [2, 3, 8]}"#, "[48]"), [2, 3, 8])
        XCTAssertEqual(one(#"{"type": "reshape", "shape": [-1]}"#, "[6, 2]"), [12])
    }

    func testElementwiseKeepShape() {
        for t in ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "gelu", "identity", "batchnorm"] {
            XCTAssertEqual(one(#"{"type": "\#(t)"}"#, "[2, 3, 4]"), [2, 3, 4], t)
        }
        XCTAssertEqual(one(#"{"type": "dropout", "rate": 0.5}"#, "[5]"), [5])
    }

    func testRecurrent() {
        for t in ["rnn", "lstm", "gru"] {
            XCTAssertEqual(one(#"{"type": "\#(t)", "units": 6}"#, "[7, 5]"), [6], t)
            XCTAssertEqual(one(#"{"type": "\#(t)", "units": 6, "return_sequences": true}"#, "[7, 5]"), [7, 6], t)
            XCTAssertEqual(one(#"{"type": "\#(t)", "units": 3, "return_sequences": false}"#, "[1, 1]"), [3], t)
        }
    }

    func testAddAndConcat() throws {
        let g = try graph(#"""
            {"type": "dense", "units": 4, "name": "a"}, {"type": "dense", "units": 6, "name": "b", "inputs": ["input"]},
            {"type": "dense", "units": 4, "name": "c", "inputs": ["input"]},
            {"type": "add", "name": "sum", "inputs": ["a", "c", "a"]},
            {"type": "concat", "name": "cat0", "inputs": ["a", "b"]},
            {"type": "concat", "name": "catm1", "inputs": ["a", "b", "c"], "axis": -1}
            """#, input: "[8]")
        XCTAssertEqual(shape(g, "sum"), [4])
        XCTAssertEqual(shape(g, "cat0"), [10])
        XCTAssertEqual(shape(g, "catm1"), [14])
        let seq = try graph(#"""
            {"type": "dense", "units": 3, "name": "a"}, {"type": "dense", "units": 5, "name": "b", "inputs": ["input"]},
            {"type": "concat", "name": "last", "inputs": ["a", "b"], "axis": -1},
            {"type": "concat", "name": "time", "inputs": ["a", "a"], "axis": 0},
            {"type": "concat", "name": "feat", "inputs": ["a", "a"], "axis": 1}
            """#, input: "[4, 2]")
        XCTAssertEqual(shape(seq, "last"), [4, 8])
        XCTAssertEqual(shape(seq, "time"), [8, 3])
        XCTAssertEqual(shape(seq, "feat"), [4, 6])
        let img = try graph(#"""
            {"type": "conv2d", "filters": 2, "kernel_size": 1, "name": "a"},
            {"type": "conv2d", "filters": 5, "kernel_size": 1, "name": "b", "inputs": ["input"]},
            {"type": "concat", "name": "ch", "inputs": ["a", "b", "input"]}
            """#, input: "[3, 4, 4]")
        XCTAssertEqual(shape(img, "ch"), [10, 4, 4])
    }

    func testAWholeNetwork() throws {
        let g = try graph(#"""
            {"type": "conv2d", "filters": 6, "kernel_size": 5, "padding": 2, "activation": "relu"},
            {"type": "maxpool2d", "pool_size": 2},
            {"type": "conv2d", "filters": 16, "kernel_size": 5},
            {"type": "batchnorm"}, {"type": "relu"}, {"type": "avgpool2d", "pool_size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 120}, {"type": "dropout", "rate": 0.5},
            {"type": "dense", "units": 10, "name": "logits"}
            """#, input: "[1, 28, 28]")
        XCTAssertEqual(g.nodes.map(\.shape), [[1, 28, 28], [6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10],
                                              [16, 10, 10], [16, 5, 5], [400], [120], [120], [10]])
    }

    // MARK: - Shape errors

    func testKernelLargerThanPaddedInput() {
        assertShapeError(#"{"type": "relu"}, {"type": "conv2d", "filters": 2, "kernel_size": 5}"#, input: "[1, 4, 4]",
                         path: "layers[1]", #"conv2d layer "1""#, "larger than the padded input 4×4")
        assertShapeError(#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "dilation": 2}"#, input: "[1, 4, 9]",
                         path: "layers[0]", "kernel 5×5 (dilated) is larger than the padded input 4×9")
        XCTAssertEqual(one(#"{"type": "conv2d", "filters": 2, "kernel_size": 5, "padding": 1}"#, "[1, 3, 3]"), [2, 1, 1])
    }

    func testGroupsMustDivideChannels() {
        assertShapeError(#"{"type": "conv2d", "filters": 4, "kernel_size": 1, "groups": 2, "name": "g"}"#, input: "[3, 4, 4]",
                         path: "layers[0]", #"conv2d layer "g""#, "groups 2 must divide")
        assertShapeError(#"{"type": "conv2d", "filters": 3, "kernel_size": 1, "groups": 2}"#, input: "[4, 4, 4]",
                         path: "layers[0]", "filters 3")
    }

    func testSamePaddingNeedsStrideOne() {
        assertShapeError(#"{"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": "same"}"#,
                         input: "[1, 8, 8]", path: "layers[0]", "needs stride 1")
    }

    func testImageOpsNeedImages() {
        assertShapeError(#"{"type": "conv2d", "filters": 4, "kernel_size": 1}"#, input: "[8]", path: "layers[0]",
                         "expected a [C, H, W] input, found [8]")
        assertShapeError(#"{"type": "maxpool2d", "pool_size": 2}"#, input: "[4, 8]", path: "layers[0]", "expected a [C, H, W] input")
        assertShapeError(#"{"type": "global_avgpool2d"}"#, input: "[4]", path: "layers[0]", "expected a [C, L], [C, H, W] or [C, D, H, W] input")
    }

    func testAddAndConcatMismatch() {
        assertShapeError(#"{"type": "dense", "units": 4, "name": "a"}, {"type": "dense", "units": 5, "name": "b", "inputs": ["input"]}, {"type": "add", "name": "sum", "inputs": ["a", "b"]}"#,
                         input: "[8]", path: "layers[2]", #"add layer "sum""#, "inputs have different shapes: [4] and [5]")
        assertShapeError(#"{"type": "add", "inputs": ["input"]}"#, input: "[8]", path: "layers[0]", "expected two or more inputs, found 1")
        assertShapeError(#"{"type": "dense", "units": 4, "name": "a"}, {"type": "concat", "inputs": ["a", "input"], "axis": 0}"#,
                         input: "[3, 8]", path: "layers[1]", "inputs differ outside axis 0: [3, 4] and [3, 8]")
        assertShapeError(#"{"type": "flatten", "name": "f"}, {"type": "concat", "inputs": ["f", "input"]}"#,
                         input: "[3, 8]", path: "layers[1]", "inputs have different ranks")
        assertShapeError(#"{"type": "relu", "name": "a"}, {"type": "concat", "inputs": ["a", "input"], "axis": 1}"#,
                         input: "[8]", path: "layers[1]", "axis 1 is out of range for rank 1")
        assertShapeError(#"{"type": "relu", "name": "a"}, {"type": "concat", "inputs": ["a", "input"], "axis": -2}"#,
                         input: "[8]", path: "layers[1]", "out of range")
    }

    func testSingleInputOpsRejectSeveralInputs() {
        assertShapeError(#"{"type": "relu", "name": "a"}, {"type": "dense", "units": 2, "inputs": ["a", "input"]}"#,
                         input: "[8]", path: "layers[1]", "expected exactly one input, found 2")
    }

    func testRecurrentNeedsSequences() {
        assertShapeError(#"{"type": "lstm", "units": 4}"#, input: "[8]", path: "layers[0]", #"lstm layer "0""#,
                         "expected a [T, F] sequence input, found [8]")
        assertShapeError(#"{"type": "rnn", "units": 4}"#, input: "[1, 8, 8]", path: "layers[0]", #"layer "0""#,
                         "expected a [T, F] sequence input")
        assertShapeError(#"{"type": "gru", "units": 4, "return_sequences": true}, {"type": "gru", "units": 4}, {"type": "gru", "units": 2}"#,
                         input: "[3, 2]", path: "layers[2]", "found [4]")
    }

    func testPoolThatLeavesNoOutput() {
        assertShapeError(#"{"type": "maxpool2d", "pool_size": 5}"#, input: "[1, 3, 3]", path: "layers[0]",
                         "pool 5×5 leaves no output on a 3×3 input")
        assertShapeError(#"{"type": "avgpool2d", "pool_size": [1, 4], "padding": [0, 1]}"#, input: "[1, 3, 1]", path: "layers[0]",
                         "leaves no output")
    }

    func testReshapeWithWrongCount() {
        assertShapeError(#"{"type": "reshape", "shape": [4, 6]}"#, input: "[5, 5]", path: "layers[0]",
                         "cannot reshape [5, 5] (25 values) to [4, 6]")
        assertShapeError(#"{"type": "reshape", "shape": [-1, 7]}"#, input: "[5, 5]", path: "layers[0]", "cannot reshape [5, 5] to [-1, 7]")
    }

    func testHugeResultIsAnError() {
        assertShapeError(#"{"type": "dense", "units": 1048576}, {"type": "reshape", "shape": [1, -1]}, {"type": "dense", "units": 1048576}"#,
                         input: "[1024, 1]", path: "layers[0]", "too large")
    }

    // MARK: - Parameter table

    func testParameterTable() throws {
        let g = try graph(#"""
            {"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "groups": 2},
            {"type": "conv2d", "filters": 4, "kernel_size": 1, "bias": false},
            {"type": "relu"},
            {"type": "batchnorm"},
            {"type": "flatten"},
            {"type": "dense", "units": 3, "activation": "tanh"}
            """#, input: "[2, 5, 5]")
        let table = g.params.map { "\($0.name) \($0.shape) \($0.trainable)" }
        XCTAssertEqual(table, [
            "0.weight [4, 1, 3, 2] true", "0.bias [4] true", "1.weight [4, 4, 1, 1] true",
            "3.weight [4] true", "3.bias [4] true", "3.running_mean [4] false", "3.running_var [4] false",
            "5.weight [3, 48] true", "5.bias [3] true",
        ])
        XCTAssertEqual(g.param("0.weight")?.initializer, .uniform(bound: 1 / Float(6).squareRoot()))
        XCTAssertEqual(g.param("5.bias")?.initializer, .uniform(bound: 1 / Float(48).squareRoot()))
        XCTAssertEqual(g.param("3.weight")?.initializer, .constant(1))
        XCTAssertEqual(g.param("3.bias")?.initializer, .constant(0))
        XCTAssertEqual(g.param("3.running_mean")?.initializer, .constant(0))
        XCTAssertEqual(g.param("3.running_var")?.initializer, .constant(1))
    }

    func testRecurrentParameters() throws {
        let g = try graph(#"""
            {"type": "lstm", "units": 6, "return_sequences": true},
            {"type": "gru", "units": 3, "return_sequences": true, "name": "g"},
            {"type": "rnn", "units": 2, "activation": "relu", "name": "r"},
            {"type": "dense", "units": 1, "bias": false}
            """#, input: "[7, 5]")
        let table = g.params.map { "\($0.name) \($0.shape)" }
        XCTAssertEqual(table, [
            "0.weight_ih_l0 [24, 5]", "0.weight_hh_l0 [24, 6]", "0.bias_ih_l0 [24]", "0.bias_hh_l0 [24]",
            "g.weight_ih_l0 [9, 6]", "g.weight_hh_l0 [9, 3]", "g.bias_ih_l0 [9]", "g.bias_hh_l0 [9]",
            "r.weight_ih_l0 [2, 3]", "r.weight_hh_l0 [2, 2]", "r.bias_ih_l0 [2]", "r.bias_hh_l0 [2]",
            "3.weight [1, 2]",
        ])
        XCTAssertEqual(g.param("g.bias_hh_l0")?.initializer, .uniform(bound: 1 / Float(3).squareRoot()))
        XCTAssertTrue(g.params.allSatisfy(\.trainable))
        XCTAssertEqual(g.nodes[3].op, .recurrent(Recurrent(cell: .rnnRelu, units: 2, returnSequences: false)))
    }

    func testDenseOnSequencesUsesLastDimension() throws {
        let g = try graph(#"{"type": "dense", "units": 4, "name": "d"}, {"type": "batchnorm"}"#, input: "[5, 8]")
        XCTAssertEqual(g.param("d.weight")?.shape, [4, 8])
        // batchnorm normalises over dim 0 of the example: C = 5 for [T, F].
        XCTAssertEqual(g.param("1.running_var")?.shape, [5])
    }

    func testShapelessLayersHaveNoParameters() throws {
        let g = try graph(#"{"type": "relu"}, {"type": "dropout", "rate": 0.1}, {"type": "softmax"}"#, input: "[4]")
        XCTAssertEqual(g.params, [])
    }

    /// The transformer layers: PyTorch's state_dict names and shapes, the layer's name on its result, dropout nodes
    /// where PyTorch has them, and errors naming the layer.
    func testTransformerLayers() throws {
        let g = try graph(#"""
            {"type": "embedding", "num_embeddings": 11, "embedding_dim": 8, "padding_idx": -1, "name": "emb"},
            {"type": "multihead_attention", "embed_dim": 8, "num_heads": 2, "bias": false, "name": "mha"},
            {"type": "transformer_encoder_layer", "d_model": 8, "nhead": 4, "dim_feedforward": 6, "name": "enc"},
            {"type": "transformer_encoder_layer", "d_model": 8, "nhead": 1, "dim_feedforward": 5, "norm_first": true,
             "activation": "gelu", "dropout": 0, "name": "pre"}
            """#, input: "[5]")
        XCTAssertEqual(g.nodes[1].op, .embedding(Embedding(count: 11, dim: 8, paddingIdx: 10)))
        XCTAssertEqual(shape(g, "emb"), [5, 8])
        XCTAssertEqual(g.params.map { "\($0.name) \($0.shape)" }, [
            "emb.weight [11, 8]", "mha.in_proj_weight [24, 8]", "mha.out_proj.weight [8, 8]",
            "enc.self_attn.in_proj_weight [24, 8]", "enc.self_attn.in_proj_bias [24]",
            "enc.self_attn.out_proj.weight [8, 8]", "enc.self_attn.out_proj.bias [8]",
            "enc.norm1.weight [8]", "enc.norm1.bias [8]", "enc.linear1.weight [6, 8]", "enc.linear1.bias [6]",
            "enc.linear2.weight [8, 6]", "enc.linear2.bias [8]", "enc.norm2.weight [8]", "enc.norm2.bias [8]",
            "pre.norm1.weight [8]", "pre.norm1.bias [8]", "pre.self_attn.in_proj_weight [24, 8]", "pre.self_attn.in_proj_bias [24]",
            "pre.self_attn.out_proj.weight [8, 8]", "pre.self_attn.out_proj.bias [8]", "pre.norm2.weight [8]",
            "pre.norm2.bias [8]", "pre.linear1.weight [5, 8]", "pre.linear1.bias [5]", "pre.linear2.weight [8, 5]",
            "pre.linear2.bias [8]",
        ])
        XCTAssertEqual(g.param("emb.weight")?.initializer, .normal(std: 1, zeroRow: 10))
        // PyTorch's default dropout 0.1 in enc: attention weights, dropout1, after the activation, dropout2.
        XCTAssertEqual(g.nodes.filter { $0.op == .dropout(rate: 0.1) }.map(\.name),
                       ["enc/attn_dropout", "enc/dropout1", "enc/dropout", "enc/dropout2"])
        XCTAssertFalse(g.nodes.contains { $0.name.hasPrefix("pre/") && $0.op.typeName == "dropout" })
        XCTAssertEqual(g.nodes.last?.name, "pre/residual2")
        XCTAssertEqual(g.nodes.last?.shape, [5, 8])
        XCTAssertEqual(shape(g, "mha/scores"), [2, 5, 5])

        let seq = #"{"type": "embedding", "num_embeddings": 5, "embedding_dim": 8}, "#
        assertShapeError(#"{"type": "multihead_attention", "embed_dim": 6, "num_heads": 2}"#, input: "[4, 8]",
                         path: "layers[0]", "expected a [T, 6] sequence (embed_dim 6), found [4, 8]")
        assertShapeError(#"{"type": "transformer_encoder_layer", "d_model": 8, "nhead": 2}"#, input: "[2, 4, 8]",
                         path: "layers[0]", "expected a [T, 8] sequence (d_model 8), found [2, 4, 8]")
        assertShapeError(#"{"type": "transformer_encoder_layer", "d_model": 8, "nhead": 2, "norm_first": true}"#,
                         input: "[4, 6]", path: "layers[0]", "(d_model 8), found [4, 6]")
        // Layer names may hold dots: a PyTorch name claimed twice is an error.
        assertShapeError(seq + #"{"type": "dense", "units": 3, "name": "m.out_proj"}, "#
                            + #"{"type": "multihead_attention", "embed_dim": 8, "num_heads": 2, "inputs": ["0"], "name": "m"}"#,
                         input: "[4]", path: "layers[2]", "\"m.out_proj.weight\" has the name of a parameter of layer \"m.out_proj\"")
        for (layer, path, fragment) in [
            (#"{"type": "multihead_attention", "embed_dim": 8, "num_heads": 3}"#, "layers[0].num_heads", "must divide embed_dim 8"),
            (#"{"type": "transformer_encoder_layer", "d_model": 8, "nhead": 2, "activation": "tanh"}"#, "layers[0].activation",
             "expected \"relu\" or \"gelu\""),
            (#"{"type": "transformer_encoder_layer", "d_model": 8, "nhead": 2, "dropout": 1}"#, "layers[0].dropout", "[0.0, 1.0)"),
            (#"{"type": "transformer_encoder_layer", "d_model": 8, "nhead": 2, "batch_first": true}"#, "layers[0].batch_first", "unknown key"),
            (#"{"type": "embedding", "num_embeddings": 4, "embedding_dim": 2, "padding_idx": 4}"#, "layers[0].padding_idx", "at most 3"),
            (#"{"type": "embedding", "num_embeddings": 16777217, "embedding_dim": 2}"#, "layers[0].num_embeddings", "at most 2^24"),
        ] {
            assertShapeError(layer, input: "[4, 8]", path: path, fragment)
        }
    }
}
