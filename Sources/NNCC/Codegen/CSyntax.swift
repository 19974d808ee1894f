/// Helpers that keep user-supplied text (layer names) safe inside C source.
enum CSyntax {
    /// A C string literal; every byte outside printable ASCII becomes an octal escape.
    static func literal(_ s: String) -> String {
        var out = "\""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case UInt8(ascii: "?"): out += "\\?"  // no trigraphs
            case 0x20..<0x7F: out += String(UnicodeScalar(b))
            default: out += "\\" + String(b, radix: 8).leftPad(3)
            }
        }
        return out + "\""
    }

    /// Text safe inside a /* */ comment: printable ASCII, no comment terminator.
    static func comment(_ s: String) -> String {
        let printable = String(s.unicodeScalars.map { (0x20..<0x7F).contains($0.value) ? Character($0) : "?" })
        return printable.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "/*", with: "/ *")
    }

    /// A fragment of a C identifier derived from a layer name.
    static func identifier(_ s: String) -> String {
        let id = String(s.unicodeScalars.map {
            ($0.properties.isASCIIHexDigit || ("a"..."z").contains($0) || ("A"..."Z").contains($0)) ? Character($0) : "_"
        })
        return String(id.prefix(24))
    }

    static func shape(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "x") }
    static func list(_ dims: [Int]) -> String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// A float literal that round-trips exactly.
    static func float(_ f: Float) -> String {
        if f.isInfinite { return f < 0 ? "-INFINITY" : "INFINITY" }
        if f == f.rounded(), abs(f) < 1e7 { return "\(Int(f)).0f" }
        return "\(f)f"
    }
}

extension String {
    func leftPad(_ n: Int, _ c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
