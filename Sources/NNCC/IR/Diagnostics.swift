import Foundation

/// A user error: names the file, the place in it (a JSON path, a tensor, a
/// layer) and what was expected. The CLI prints it and exits 1.
public struct NNCCError: Error, CustomStringConvertible, Equatable {
    public var file: String?
    public var path: String?
    public var message: String
    /// The generated library's return code, when the error is one (see ModelLibrary's error codes).
    public var code: Int32? = nil

    public init(file: String? = nil, path: String? = nil, _ message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    public var description: String {
        [file, path, message].compactMap { $0 }.joined(separator: ": ")
    }

    /// The same error, attributed to a file when it has none yet.
    public func inFile(_ f: String) -> NNCCError {
        var e = self
        if e.file == nil { e.file = f }
        return e
    }
}
