/// A user's C function as a layer (docs/custom-ops.md): the checked declarations and the user's
/// code with its file-scope names prefixed (Frontend/CustomSource.swift), ready to copy into the
/// generated C.
public struct CustomOp: Equatable {
    /// `float f(float x)`, applied to each element (fused into a dense or conv2d producer at
    /// inference), or `void f(const float *x, float *y, int64_t batch, ...)` over whole arrays
    /// with the input's per-example dims as the `int64_t` arguments after `batch`.
    public enum Form: Equatable { case elementwise, array(dims: Int) }

    /// The layer's result: the operand's shape, or a fixed per-example shape.
    public enum Shape: Equatable { case same, fixed([Int]) }

    /// The source file as the model named it (resolved), for messages.
    public var source: String
    public var form: Form
    public var shape: Shape
    /// The user's function names and their prefixed C names in `code`.
    public var forward: String, cForward: String
    public var backward: String?, cBackward: String?
    /// Where the forward function is declared, `file:line:col`.
    public var forwardLocation: String
    /// `static` declarations of the prefixed functions, for the kernels that call them before
    /// the code (placed at the end of the generated C, so its macros reach nothing of nncc's).
    public var prototypes: String
    /// The whole file with every file-scope name prefixed and made `static`.
    public var code: String

    public var formName: String {
        switch form {
        case .elementwise: return "elementwise"
        case .array: return "array"
        }
    }
}
