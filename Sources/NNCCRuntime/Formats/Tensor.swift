import Foundation

/// A dense float32 tensor in C (row-major) order.
public struct Tensor: Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        self.shape = shape
        self.data = data
    }
}

/// An .npy array: float data (float32; float64 is converted) or integer labels
/// (int32/int64, also uint8/int8/int16 accepted).
public enum NpyArray: Equatable {
    case float(Tensor)
    case int(shape: [Int], data: [Int64])

    public var shape: [Int] {
        switch self {
        case let .float(t): return t.shape
        case let .int(shape, _): return shape
        }
    }
}

/// Helpers shared by the format readers (`package`: the compiler's readers use them too). Everything
/// that touches file bytes goes through a bounds check here, so hostile input throws instead of trapping.
package enum FormatIO {
    /// Product of the dims, or nil on a negative dim or Int overflow.
    package static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// `count * size`, or nil on overflow.
    package static func byteCount(_ count: Int, _ size: Int) -> Int? {
        let (p, overflow) = count.multipliedReportingOverflow(by: size)
        return overflow ? nil : p
    }

    /// `a + b`, or nil on overflow.
    package static func sum(_ a: Int, _ b: Int) -> Int? {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }

    /// True when `offset..<offset+length` lies inside `0..<total`, without overflowing.
    package static func inBounds(_ offset: Int, _ length: Int, _ total: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= total && length <= total - offset
    }

    /// "[2, 3]": the shape as printed in error messages.
    package static func show(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    /// Reads a whole regular file, memory-mapped when possible (weight files can be large).
    /// Pipes and devices (/dev/stdin) are refused before opening, since a read could block forever.
    package static func readFile(_ path: String) throws -> Data {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw NNCCError(file: path, errno == ENOENT ? "file not found" : "cannot read the file: \(String(cString: strerror(errno)))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw NNCCError(file: path, "expected a file, found a directory")
        default: throw NNCCError(file: path, "not a regular file (a pipe, terminal or device); give the path of a file")
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw NNCCError(file: path, "cannot read the file: \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw NNCCError(file: path, "cannot read the file: \(error.localizedDescription)")
        }
    }

    /// Throws unless `data.count` matches the shape: writers refuse to produce inconsistent files.
    package static func checkConsistent(_ shape: [Int], _ count: Int, file: String, path: String?) throws {
        guard let n = elementCount(shape) else {
            throw NNCCError(file: file, path: path, "invalid shape \(show(shape))")
        }
        guard n == count else {
            throw NNCCError(file: file, path: path, "shape \(show(shape)) needs \(n) values, found \(count)")
        }
    }
}

extension FormatIO {
    /// Bounds-checked little-endian reads over raw bytes (always 0-based, unlike a Data slice).
    package struct Bytes {
        package let raw: UnsafeRawBufferPointer
        package var count: Int { raw.count }

        package init(raw: UnsafeRawBufferPointer) { self.raw = raw }

        package func has(_ offset: Int, _ length: Int) -> Bool { FormatIO.inBounds(offset, length, raw.count) }

        package func u8(_ o: Int) -> UInt8? { has(o, 1) ? raw[o] : nil }
        package func u16(_ o: Int) -> UInt16? {
            has(o, 2) ? UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)) : nil
        }
        package func u32(_ o: Int) -> UInt32? {
            has(o, 4) ? UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)) : nil
        }
        package func u64(_ o: Int) -> UInt64? {
            has(o, 8) ? UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)) : nil
        }
        package func bytes(_ o: Int, _ n: Int) -> [UInt8]? { has(o, n) ? Array(raw[o..<o + n]) : nil }
        package func data(_ o: Int, _ n: Int) -> Data? {
            guard has(o, n) else { return nil }
            guard let base = raw.baseAddress else { return Data() }  // only for an empty buffer
            return Data(bytes: base + o, count: n)
        }

        /// `n` little-endian values of type `E` starting at `o`, each mapped by `f`; nil when out of bounds.
        package func array<E: FixedWidthInteger, T>(_ o: Int, _ n: Int, of: E.Type, _ f: (E) -> T) -> [T]? {
            let size = MemoryLayout<E>.size
            guard let len = FormatIO.byteCount(n, size), has(o, len) else { return nil }
            return [T](unsafeUninitializedCapacity: n) { buf, initialized in
                for i in 0..<n {
                    buf[i] = f(E(littleEndian: raw.loadUnaligned(fromByteOffset: o + i * size, as: E.self)))
                }
                initialized = n
            }
        }

        package func floats32(_ o: Int, _ n: Int) -> [Float]? { array(o, n, of: UInt32.self) { Float(bitPattern: $0) } }
    }

    /// Appends `v` as little-endian bytes.
    package static func appendLE<T: FixedWidthInteger>(_ d: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }

    /// Appends float32 values as little-endian bytes.
    package static func appendFloats(_ d: inout Data, _ values: [Float]) {
        d.reserveCapacity(d.count + values.count * 4)
        for v in values { appendLE(&d, v.bitPattern) }
    }
}
