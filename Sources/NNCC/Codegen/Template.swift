import CNNCCTemplates

/// The fixed C of the generated libraries, one file of templates/ per case,
/// built into nncc by Sources/CNNCCTemplates (C23 #embed). A library holds
/// only the templates its ops need (`needed(for:training:)`, from what each op family declares), in
/// the order of the cases: each comes after those it uses.
enum Template: String, CaseIterable {
    case prologue, gemm, conv, conv3d, depthwise, pool, winograd, safetensors
    case train, denseTrain = "dense_train", convTrain = "conv_train", poolTrain = "pool_train"
    case batchnormTrain = "batchnorm_train", winogradTrain = "winograd_train", recurrentTrain = "recurrent_train"
    case convTranspose = "conv_transpose"

    /// Templates whose types, macros or functions this one uses.
    var requires: [Template] {
        switch self {
        case .prologue: return []
        case .gemm, .pool, .safetensors, .train: return [.prologue]
        case .conv: return [.gemm]  // NN_NR, the packing helpers
        case .conv3d: return [.gemm]  // nn_gemm and the packing
        case .depthwise: return [.conv]  // nn_conv_shape, nn_copy_short
        case .winograd: return [.conv]  // nn_conv_shape, nn_conv_pad, the micro-kernels
        case .denseTrain, .recurrentTrain: return [.gemm, .train]
        case .convTrain: return [.conv, .train]
        case .poolTrain: return [.pool, .train]
        case .batchnormTrain: return [.train]
        case .winogradTrain: return [.winograd, .train]
        case .convTranspose: return [.convTrain]  // im2col, col2im
        }
    }

    /// templates/NAME.c without its final newline.
    var source: String {
        guard let text = nncc_template(rawValue) else { preconditionFailure("templates/\(rawValue).c is not embedded") }
        let s = String(cString: text)
        return s.hasSuffix("\n") ? String(s.dropLast()) : s
    }

    /// The templates and all they require, in canonical (case) order.
    static func closure(_ roots: some Sequence<Template>) -> [Template] {
        var set = Set<Template>(), stack = Array(roots)
        while let t = stack.popLast() {
            if set.insert(t).inserted { stack += t.requires }
        }
        return allCases.filter(set.contains)
    }
}
