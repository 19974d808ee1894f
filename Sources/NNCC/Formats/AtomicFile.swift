import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way nncc writes an output file (models' C, headers, manifests, libraries, weights, arrays, logs):
/// a temporary file in the same directory, flushed to disk, then renamed over the final name. A reader
/// sees the old file or the complete new one; a failure or Ctrl-C leaves nothing behind.
public enum AtomicFile {
    /// Writes `data` to `path`. Creates missing parent directories. Errors name the path.
    public static func write(_ data: Data, to path: String) throws {
        try replace(path) { tmp in
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            guard fd >= 0 else { throw posixError(path, "cannot create temporary file \(tmp)") }
            defer { close(fd) }
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var done = 0
                while done < raw.count {
                    guard let base = raw.baseAddress else { break }
                    let n = sysWrite(fd, base + done, raw.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw posixError(path, "cannot write")
                    }
                    done += n
                }
            }
        }
    }

    /// `produce` writes the file at the temporary path it is given (gcc's `-o`, NAME_save_weights);
    /// then it is synced and renamed to `path`. Creates missing parent directories.
    public static func replace(_ path: String, _ produce: (_ temporary: String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw NNCCError(file: path, "cannot create directory \(dir.path): \(error.localizedDescription)")
        }
        // Same directory, so rename(2) stays on one file system and is atomic.
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try Interrupt.removingOnInterrupt([tmp]) {
            var ok = false
            defer { if !ok { unlink(tmp) } }
            try produce(tmp)
            // Flush to disk before the rename so a crash cannot leave an empty file under the final name.
            let fd = open(tmp, O_RDONLY)
            guard fd >= 0 else { throw posixError(path, "cannot open temporary file \(tmp)") }
            guard fsync(fd) == 0 else {
                let e = posixError(path, "cannot sync")
                close(fd)
                throw e
            }
            close(fd)
            guard rename(tmp, path) == 0 else { throw posixError(path, "cannot rename temporary file into place") }
            ok = true
        }
    }

    private static func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, p, n)
        #else
        return Darwin.write(fd, p, n)
        #endif
    }

    private static func posixError(_ path: String, _ what: String) -> NNCCError {
        NNCCError(file: path, "\(what): \(String(cString: strerror(errno)))")
    }
}
