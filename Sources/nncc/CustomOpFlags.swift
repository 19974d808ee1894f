import ArgumentParser
import Foundation
import NNCC

/// `--custom-op`, for every command that loads a model: ONNX operators as C functions (docs/custom-ops.md).
struct CustomOpFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Map an ONNX operator (DOMAIN::OpType; ::OpType for a standard one) to a C function, "
                               + "as a custom layer (docs/custom-ops.md); repeatable. Default: none.",
                               valueName: "DOMAIN::OpType=file.c:function[:backward][:shape=D0,D1,...]"))
    var customOp: [String] = []

    /// Reads the model with the mappings; a malformed option, or one given for a JSON model, is exit 2.
    func load(_ model: String, name: String? = nil) throws -> LoadedModel {
        let mappings: [CustomOpMapping]
        do { mappings = try CustomOpMapping.parseAll(customOp) } catch let e as NNCCError { throw UsageError(message: e.description) }
        if !mappings.isEmpty, !model.lowercased().hasSuffix(".onnx") {
            throw UsageError(message: "--custom-op applies to ONNX models; a JSON model names its C file in a \"custom\" layer")
        }
        return try Pipeline.load(model, name: name, customOps: mappings)
    }
}
