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

    /// Shown with control characters escaped and long text cut (`displayText`): the parts quote
    /// user input (names, keys, paths) that must not drive or flood the terminal. The message
    /// keeps its line breaks (gcc's output), each line cut on its own.
    public var description: String {
        let message = self.message.split(separator: "\n", omittingEmptySubsequences: false)
            .map { displayText(String($0), limit: 1000) }.joined(separator: "\n")
        return [file.map { displayText($0) }, path.map { displayText($0) }, message].compactMap { $0 }.joined(separator: ": ")
    }

    /// The same error, attributed to a file when it has none yet.
    public func inFile(_ f: String) -> NNCCError {
        var e = self
        if e.file == nil { e.file = f }
        return e
    }
}

/// A model name as the generated C's symbol prefix: [A-Za-z_][A-Za-z0-9_]*, at most 64 characters.
public func isCIdentifier(_ name: String) -> Bool {
    !name.isEmpty && name.count <= 64 && name.utf8.enumerated().allSatisfy { i, c in
        c == UInt8(ascii: "_") || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (i > 0 && c >= 48 && c <= 57)
    }
}

/// U+0000–U+001F and U+007F: refused in names, escaped in messages.
public func isControlCharacter(_ c: Unicode.Scalar) -> Bool { c.value < 0x20 || c.value == 0x7F }

/// Text as a diagnostic shows it: control characters as `\u001B`, and text longer than `limit`
/// characters cut in the middle with a count of what was left out.
public func displayText(_ s: String, limit: Int = 400) -> String {
    var scalars = Array(s.unicodeScalars)
    if scalars.count > limit {
        let head = limit * 3 / 4, tail = limit / 4
        let omitted = scalars.count - head - tail
        scalars = scalars[..<head] + Array("… (\(omitted) characters omitted) …".unicodeScalars) + scalars[(scalars.count - tail)...]
    }
    var out = String.UnicodeScalarView()
    for c in scalars {
        if isControlCharacter(c) {
            out.append(contentsOf: String(format: "\\u%04X", c.value).unicodeScalars)
        } else {
            out.append(c)
        }
    }
    return String(out)
}
