/// The JSON layers that grow an image (docs/model-format.md): `conv_transpose1d`,
/// `conv_transpose2d`, `upsample`, `pixel_shuffle` and `pixel_unshuffle`, with
/// PyTorch's field names and defaults.
enum UpsampleLayers {
    static func decode(_ f: Fields, _ type: String, _ keys: ([String]) throws -> Void) throws -> Op {
        switch type {
        case "conv_transpose1d", "conv_transpose2d":
            try keys(["out_channels", "kernel_size", "stride", "padding", "output_padding", "dilation", "groups", "bias"])
            let is1D = type == "conv_transpose1d"
            let pad = try f.window("padding", is1D: is1D, default: 0, min: 0, what: "a non-negative integer", names: "ph, pw")
            let c = ConvTranspose(
                channels: try f.int("out_channels", min: 1, max: Limits.filters),
                kernel: try f.window("kernel_size", is1D: is1D, min: 1, what: "a positive integer", names: "kh, kw"),
                stride: try f.window("stride", is1D: is1D, default: 1, min: 1, what: "a positive integer"),
                pads: (pad.0, pad.1, pad.0, pad.1),
                outputPadding: try f.window("output_padding", is1D: is1D, default: 0, min: 0, what: "a non-negative integer"),
                dilation: try f.window("dilation", is1D: is1D, default: 1, min: 1, what: "a positive integer"),
                groups: try f.int("groups", default: 1, min: 1, max: Limits.filters),
                bias: try f.bool("bias", default: true),
                is1D: is1D)
            // PyTorch's rule: output_padding adds less than a stride (or a dilation).
            guard c.outputPadding.0 < max(c.stride.0, c.dilation.0), c.outputPadding.1 < max(c.stride.1, c.dilation.1) else {
                throw f.fail("output_padding", "expected less than stride or dilation along each axis")
            }
            return .convTranspose(c)
        case "upsample":
            try keys(["scale_factor", "size", "mode", "align_corners"])
            return .resize(try upsample(f))
        default:  // pixel_shuffle, pixel_unshuffle
            let shuffle = type == "pixel_shuffle", key = shuffle ? "upscale_factor" : "downscale_factor"
            try keys([key])
            return .pixelShuffle(PixelShuffle(shuffle ? .crd : .unshuffle, factor: try f.int(key, min: 1, max: Limits.window)))
        }
    }

    /// nn.Upsample: nearest reads floor(x / scale) (PyTorch's "nearest"), "nearest-exact" rounds
    /// half-pixel centres; linear, bilinear and trilinear take align_corners (false by default).
    static func upsample(_ f: Fields) throws -> Resize {
        let mode = try f.string("mode", default: "nearest")
        let linearAxes = ["linear": 1, "bilinear": 2, "trilinear": 3][mode]
        guard linearAxes != nil || mode == "nearest" || mode == "nearest-exact" else {
            throw f.fail("mode", "expected \"nearest\", \"nearest-exact\", \"linear\", \"bilinear\" or \"trilinear\", found \"\(mode)\"")
        }
        if linearAxes == nil && f.has("align_corners") {
            throw f.fail("align_corners", "only the linear modes take align_corners (as PyTorch)")
        }
        let alignCorners = try f.bool("align_corners", default: false)
        guard f.has("scale_factor") != f.has("size") else {
            throw f.fail(f.has("size") ? "size" : "scale_factor", "give either size or scale_factor, not both or neither")
        }
        // A single value applies to each axis after the channel; a list names them in order.
        func list<T>(_ key: String, _ item: (JSON, String) throws -> T) throws -> [T]? {
            guard let v = f.raw(key) else { return nil }
            guard case let .array(items) = v else { return [try item(v, f.sub(key))] }
            guard (1...3).contains(items.count) else { throw f.fail(key, "expected a number or a list of 1 to 3") }
            return try items.enumerated().map { try item($1, "\(f.sub(key))[\($0)]") }
        }
        let sizes = try list("size") { v, path in
            try Fields.int(v, lo: 1, hi: Limits.dimension) { NNCCError(file: f.file, path: path, $0) }
        }
        let scales = try list("scale_factor") { v, path -> Float in
            guard case let .number(x, _) = v, x > 0, x <= Double(Limits.dimension) else {
                throw NNCCError(file: f.file, path: path, "expected a positive number")
            }
            return Float(x)
        }
        let count = sizes?.count ?? scales?.count ?? 1
        if let n = linearAxes, count != 1 && count != n {
            throw f.fail(sizes != nil ? "size" : "scale_factor", "mode \(mode) resizes \(n) axes, found \(count) values")
        }
        // Linear modes name their axes count; expand a single value now.
        func expanded<T>(_ v: [T]?) -> [T]? { v.map { $0.count == 1 ? Array(repeating: $0[0], count: linearAxes ?? 1) : $0 } }
        let resizeMode: Resize.Mode = linearAxes == nil ? .nearest(mode == "nearest" ? .floor : .roundPreferCeil) : .linear
        let coordinates: Resize.Coordinates = linearAxes == nil
            ? (mode == "nearest" ? .asymmetric : .halfPixel) : alignCorners ? .alignCorners : .halfPixel
        return Resize(resizeMode, coordinates: coordinates, sizes: expanded(sizes), scales: expanded(scales), spatial: true, reciprocal: true)
    }
}
