/// The size limits on a model, in one place (docs/limits.md lists them with
/// the errors). They keep every index the generated C computes with `int`
/// below 2^31 with a factor of 2 to spare, and every size nncc computes in
/// Swift far from `Int` overflow; sizes are multiplied with
/// `FormatIO.elementCount`, which reports overflow instead of trapping.
public enum Limits {
    /// Integers in a JSON model: exactly representable as a double.
    public static let jsonInteger = 1 << 53
    /// One dimension of a per-example shape: `input.shape`, `reshape.shape`, ONNX inputs and Reshape.
    public static let dimension = 1 << 24
    /// Axes of a per-example shape (the batch not counted): input, reshape, every result.
    public static let rank = 6
    /// Each of `kernel_size`, `stride`, `padding`, `dilation`, `pool_size`.
    public static let window = 1 << 20
    /// `dense` units.
    public static let units = 1 << 20
    /// `conv2d` filters and groups; `rnn`/`lstm`/`gru` units.
    public static let filters = 1 << 16
    /// The largest batch a library accepts (`--batch`, `train.batch_size`).
    public static let batch = 1 << 16
    /// Elements of one example of any result, and of a conv2d layer's zero-padded input.
    public static let exampleElements = 1 << 28
    /// Elements of one parameter tensor, and of any result or kernel scratch buffer at the max batch.
    public static let bufferElements = 1 << 30
    /// Elements of all parameters together.
    public static let parameterElements = 1 << 32
    /// Bytes of the arena (activations and scratch) at the max batch.
    public static let arenaBytes = 1 << 36
    /// Layers of a JSON model, IR nodes of an imported ONNX graph: gcc takes about 2 to 10 ms
    /// per layer, and memory planning for training is quadratic (docs/compile-time.md).
    public static let layers = 10_000

    /// Large powers of two as `2^k` for messages: "2^28 (268435456)".
    public static func show(_ limit: Int) -> String {
        limit >= 1024 && limit & (limit - 1) == 0 ? "2^\(limit.trailingZeroBitCount) (\(limit))" : "\(limit)"
    }

    /// Throws unless `dims` has at most `limit` elements; `what` names the tensor in the message.
    static func check(_ what: String, _ dims: [Int], limit: Int, fail: (String) -> NNCCError) throws {
        let shape = "[" + dims.map(String.init).joined(separator: ", ") + "]"
        guard let n = FormatIO.elementCount(dims) else {
            throw fail("\(what) \(shape) is too large: more than 2^63 elements (the limit is \(show(limit)))")
        }
        guard n <= limit else { throw fail("\(what) \(shape) is too large: \(n) elements (the limit is \(show(limit)))") }
    }
}
