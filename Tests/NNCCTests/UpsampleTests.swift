import Foundation
import XCTest
@testable import NNCC

/// conv_transpose, upsample and pixel shuffle without gcc: what the JSON and ONNX frontends
/// build, the index tables against PyTorch's and ONNX Runtime's, and errors that name the
/// layer or node. The fixtures upsample_* run them end to end, forward and backward.
final class UpsampleTests: XCTestCase {
    typealias O = ONNXImportTests

    func json(_ layers: String, input: String) throws -> Graph {
        let text = #"{"format": 1, "name": "m", "input": {"shape": \#(input)}, "layers": [\#(layers)]}"#
        return try inferShapes(ModelDecoder.decode(Data(text.utf8), file: "m.json").graph, file: "m.json")
    }

    func assertJSONError(_ layers: String, input: String, _ path: String, _ fragment: String, line: UInt = #line) {
        do {
            _ = try json(layers, input: input)
            XCTFail("expected an error", line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.path, path, "\(e)", line: line)
            XCTAssertTrue(e.message.contains(fragment), "\(e.message) lacks \"\(fragment)\"", line: line)
        } catch {
            XCTFail("not an NNCCError: \(error)", line: line)
        }
    }

    func testJSONLayersAndShapes() throws {
        let g = try json(#"""
            {"type": "conv_transpose2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
            {"type": "upsample", "scale_factor": 2},
            {"type": "upsample", "size": [5, 7], "mode": "bilinear", "align_corners": true},
            {"type": "pixel_unshuffle", "downscale_factor": 1},
            {"type": "upsample", "scale_factor": [1.5, 0.5], "mode": "bilinear"}
            """#, input: "[4, 3, 5]")
        XCTAssertEqual(g.nodes.map(\.shape), [[4, 3, 5], [6, 6, 10], [6, 12, 20], [6, 5, 7], [6, 5, 7], [6, 7, 3]])
        XCTAssertEqual(g.params.map(\.shape), [[4, 3, 3, 3], [6]])
        // Nearest by 2 is a select reading each index twice.
        guard case let .select(sel) = g.nodes[2].op else { return XCTFail("nearest should be a select: \(g.nodes[2].op)") }
        XCTAssertEqual(sel[1], .list([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]))
        let one = try json(#"{"type": "conv_transpose1d", "out_channels": 2, "kernel_size": 4, "stride": 3, "bias": false}"#, input: "[3, 7]")
        XCTAssertEqual(one.nodes[1].shape, [2, 22])
        XCTAssertEqual(one.params.map(\.shape), [[3, 2, 4]])
    }

    func testJSONErrorsNameTheLayer() {
        let img = "[4, 6, 6]"
        assertJSONError(#"{"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 2}"#,
                        input: img, "layers[0].output_padding", "less than stride or dilation")
        assertJSONError(#"{"type": "conv_transpose2d", "out_channels": 3, "kernel_size": 3, "groups": 2}"#, input: img,
                        "layers[0]", "groups 2 must divide")
        assertJSONError(#"{"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 1, "padding": 4}"#, input: img,
                        "layers[0]", "leaves no output")
        assertJSONError(#"{"type": "upsample", "scale_factor": 2, "size": 3}"#, input: img, "layers[0].size", "either size or scale_factor")
        assertJSONError(#"{"type": "upsample", "scale_factor": 2, "align_corners": true}"#, input: img, "layers[0].align_corners",
                        "only the linear modes")
        assertJSONError(#"{"type": "upsample", "scale_factor": 2, "mode": "bicubic"}"#, input: img, "layers[0].mode", "bicubic")
        assertJSONError(#"{"type": "upsample", "scale_factor": [2, 2, 2], "mode": "bilinear"}"#, input: img, "layers[0].scale_factor",
                        "resizes 2 axes")
        assertJSONError(#"{"type": "upsample", "scale_factor": [2, 2, 2]}"#, input: img, "layers[0]", "3 sizes or scales for the 2 axes")
        assertJSONError(#"{"type": "upsample", "scale_factor": 0}"#, input: img, "layers[0].scale_factor", "positive number")
        assertJSONError(#"{"type": "upsample", "scale_factor": 0.01}"#, input: img, "layers[0]", "would resize to 0")
        assertJSONError(#"{"type": "pixel_shuffle", "upscale_factor": 3}"#, input: img, "layers[0]", "not a multiple of 3² = 9")
        assertJSONError(#"{"type": "pixel_unshuffle", "downscale_factor": 4}"#, input: img, "layers[0]", "not multiples of 4")
        assertJSONError(#"{"type": "pixel_shuffle", "upscale_factor": 2}"#, input: "[4, 6]", "layers[0]", "expected a [C, H, W] input")
    }

    /// PyTorch's nearest copies an axis that keeps its length; nearest-exact rounds half-pixel centres.
    func testNearestIndicesArePyTorchs() throws {
        func indices(_ r: Resize, _ n: Int) throws -> [Int] {
            let sel = try r.nearestSelection([n], fail: { NNCCError($0) })
            guard case let .list(l) = sel[0] else { return [] }
            return l
        }
        let nearest = Resize(.nearest(.floor), coordinates: .asymmetric, scales: [1.3], reciprocal: true)
        XCTAssertEqual(try indices(nearest, 3), [0, 1, 2])  // floor(3 · 1.3) = 3
        XCTAssertEqual(try indices(nearest, 5), [0, 0, 1, 2, 3, 3])  // torch: floor(o / 1.3)
        let exact = Resize(.nearest(.roundPreferCeil), coordinates: .halfPixel, scales: [1.5], reciprocal: true)
        XCTAssertEqual(try indices(exact, 4), [0, 1, 1, 2, 3, 3])  // torch: floor((o + 0.5) / 1.5)
    }

    // MARK: - ONNX

    func testONNXConvTransposePadsFromOutputShapeAndAutoPad() throws {
        let w = O.floats("ct.weight", [3, 2, 3, 3])
        func imported(_ attrs: [Onnx_AttributeProto]) throws -> (ConvTranspose, [Int]) {
            let m = try ONNXImporter.decode(O.model([O.node("ConvTranspose", ["x", "ct.weight"], ["y"], attrs)], inits: [w],
                                                    input: [nil, 3, 5, 6]), file: "m.onnx", name: "m")
            guard case let .convTranspose(c) = m.graph.nodes[1].op else { throw NNCCError("not a conv_transpose") }
            return (c, m.graph.nodes[1].shape)
        }
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(v.utf8) }
        }
        var (c, shape) = try imported([O.ints("strides", [2, 2]), O.ints("output_shape", [10, 12])])
        XCTAssertTrue(c.pads == (1, 1, 0, 0), "\(c.pads)")  // full 11 × 13: the odd one first
        XCTAssertEqual(shape, [2, 10, 12])
        (c, shape) = try imported([O.ints("strides", [2, 2]), string("auto_pad", "SAME_UPPER")])
        XCTAssertTrue(c.pads == (0, 0, 1, 1), "\(c.pads)")
        XCTAssertEqual(shape, [2, 10, 12])
        (c, shape) = try imported([O.ints("strides", [2, 3]), O.ints("pads", [1, 0, 2, 1]), O.ints("output_padding", [1, 2])])
        XCTAssertTrue(c.pads == (1, 0, 2, 1) && c.outputPadding == (1, 2))
        XCTAssertEqual(shape, [2, 9, 19])
    }

    func testONNXResizeAndDepthToSpace() throws {
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(v.utf8) }
        }
        // Nearest over H only (W's scale is 1): a select of H.
        var m = try ONNXImporter.decode(O.model([O.node("Resize", ["x", "", "s"], ["y"], [string("nearest_mode", "floor")])],
                                                inits: [O.floats("s", [4], [1, 1, 2, 1])], input: [nil, 2, 3, 4], opset: 19),
                                        file: "m.onnx", name: "m")
        XCTAssertEqual(m.graph.nodes[1].op, .select([.range(start: 0, step: 1, count: 2), .list([0, 0, 0, 1, 1, 2]),
                                                     .list([0, 1, 2, 3])]))
        // Linear from sizes, the batch's entry ignored.
        m = try ONNXImporter.decode(O.model([O.node("Resize", ["x", "", "", "sz"], ["y"], [string("mode", "linear")])],
                                            inits: [O.int64s("sz", [1, 2, 5, 7])], input: [nil, 2, 3, 4], opset: 13),
                                    file: "m.onnx", name: "m")
        XCTAssertEqual(m.graph.nodes[1].shape, [2, 5, 7])
        m = try ONNXImporter.decode(O.model([O.node("DepthToSpace", ["x"], ["y"], [O.int("blocksize", 2)])], input: [nil, 8, 3, 4]),
                                    file: "m.onnx", name: "m")
        XCTAssertEqual(m.graph.nodes[1].op, .pixelShuffle(PixelShuffle(.dcr, factor: 2)))
        XCTAssertEqual(m.graph.nodes[1].shape, [2, 6, 8])
    }

    func assertError(_ data: Data, _ fragments: [String], line: UInt = #line) {
        do {
            _ = try ONNXImporter.decode(data, file: "m.onnx", name: "m")
            XCTFail("expected an error containing \(fragments)", line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.file, "m.onnx", line: line)
            for f in fragments { XCTAssertTrue(e.description.contains(f), "\(e) lacks \"\(f)\"", line: line) }
        } catch {
            XCTFail("not an NNCCError: \(error)", line: line)
        }
    }

    func testONNXErrorsNameTheNode() {
        let t = self
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(v.utf8) }
        }
        let s = O.floats("s", [4], [1, 1, 2, 2]), img: [Int64?] = [nil, 2, 4, 4]
        func resize(_ attrs: [Onnx_AttributeProto], _ scales: Onnx_TensorProto = s) -> Data {
            O.model([O.node("Resize", ["x", "", "s"], ["y"], attrs)], inits: [scales], input: img, opset: 19)
        }
        t.assertError(resize([string("mode", "cubic")]), ["graph.node[0] (Resize", "mode cubic is not supported"])
        t.assertError(resize([string("coordinate_transformation_mode", "tf_crop_and_resize")]), ["tf_crop_and_resize"])
        t.assertError(resize([string("nearest_mode", "up")]), ["nearest_mode \"up\""])
        t.assertError(resize([O.int("antialias", 1)]), ["antialias"])
        t.assertError(resize([], O.floats("s", [4], [2, 1, 1, 1])), ["resizing the batch axis"])
        t.assertError(resize([], O.floats("s", [3], [1, 2, 2])), ["3 scales or sizes for 4 axes"])
        t.assertError(resize([], O.floats("s", [4], [1, 1, -2, 1])), ["must be a positive number"])
        t.assertError(O.model([O.node("Resize", ["x", "", "s"], ["y"], [string("mode", "linear")])],
                              inits: [O.floats("s", [5], [1, 2, 2, 2, 2])], input: [nil, 2, 3, 4, 4], opset: 19), ["more than 3 axes"])
        let w = O.floats("w", [2, 2, 3, 3])
        t.assertError(O.model([O.node("ConvTranspose", ["x", "w"], ["y"], [O.ints("output_padding", [1])])], inits: [w], input: img),
                      ["graph.node[0] (ConvTranspose", "output_padding"])
        t.assertError(O.model([O.node("ConvTranspose", ["x", "w"], ["y"], [O.ints("output_shape", [40, 40])])], inits: [w], input: img),
                      ["larger than the full result"])
        t.assertError(O.model([O.node("ConvTranspose", ["x", "w"], ["y"])], inits: [O.floats("w", [3, 2, 3, 3])], input: img),
                      ["input channels 2 first"])
        t.assertError(O.model([O.node("ConvTranspose", ["x", "w"], ["y"])], inits: [O.floats("w", [2, 2, 3, 3, 3])], input: [nil, 2, 4, 4, 4]),
                      ["only 1-D and 2-D"])
        t.assertError(O.model([O.node("DepthToSpace", ["x"], ["y"], [O.int("blocksize", 2), string("mode", "XYZ")])], input: img),
                      ["graph.node[0] (DepthToSpace", "mode \"XYZ\""])
        t.assertError(O.model([O.node("DepthToSpace", ["x"], ["y"], [O.int("blocksize", 3)])], input: img), ["not a multiple of 3²"])
        t.assertError(O.model([O.node("SpaceToDepth", ["x"], ["y"], [O.int("blocksize", 0)])], input: img), ["blocksize 0"])
    }
}
