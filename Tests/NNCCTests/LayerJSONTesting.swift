import Foundation
import XCTest
@testable import NNCC

/// Builds a graph from a JSON layer list (through the decoder and shape inference), and checks
/// that a bad one fails with an NNCCError at a JSON path: shared by the layer-family tests.
protocol LayerJSONTesting {}

extension LayerJSONTesting {
    static var modelFile: String { "/models/c.json" }

    func graph(_ layers: String, input: String) throws -> Graph {
        let text = #"{"format": 1, "name": "c", "input": {"shape": \#(input)}, "layers": [\#(layers)]}"#
        return try inferShapes(try ModelDecoder.decode(Data(text.utf8), file: Self.modelFile).graph, file: Self.modelFile)
    }

    func assertLayerError(_ layers: String, input: String, path: String, _ fragment: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try graph(layers, input: input)
            XCTFail("expected an error at \(path)", file: file, line: line)
        } catch let e as NNCCError {
            XCTAssertEqual(e.path, path, "\(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(fragment), "message \"\(e.message)\" lacks \"\(fragment)\"", file: file, line: line)
        } catch {
            XCTFail("expected NNCCError, got \(error)", file: file, line: line)
        }
    }
}
