import Foundation
import CNNCCSpawn
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What an interrupted nncc undoes before it dies: compilers still running
/// (their watchers kill them when the lifeline closes) and half-built files.
/// Without the handlers (library use) the watchers still kill gcc when the
/// process dies, and the cache removes stale temporary folders when next opened.
public enum Interrupt {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var lifelines: [Int32: Int32] = [:]  // watcher pid → lifeline fd
    nonisolated(unsafe) private static var temporaries: [UUID: String] = [:]
    nonisolated(unsafe) private(set) static var interrupted = false
    nonisolated(unsafe) private static var deferring = false
    nonisolated(unsafe) private static var deferred: Int32 = 0

    /// SIGINT, SIGTERM and SIGHUP stop the compilers, remove the temporary
    /// files, then end the process by the same signal. The C handler only
    /// writes to a pipe; a thread does the rest.
    public static func installHandlers() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let reader = fds[0]
        Thread {
            while true {
                var sig: UInt8 = 0
                while read(reader, &sig, 1) != 1 {}
                lock.lock()
                let postpone = deferring && deferred == 0 && Int32(sig) == SIGINT
                if postpone { deferred = Int32(sig) }
                lock.unlock()
                if !postpone { stop(Int32(sig)) }
            }
        }.start()
        _ = nncc_catch_interrupts(fds[1])
    }

    private static func stop(_ sig: Int32) {
        lock.lock()
        interrupted = true
        for fd in lifelines.values where fd >= 0 { close(fd) }
        for pid in lifelines.keys { lifelines[pid] = -1 }
        lock.unlock()
        // The spawning threads reap their watchers, which exit once gcc is dead.
        for _ in 0..<200 {
            lock.lock()
            let running = lifelines.count
            lock.unlock()
            if running == 0 { break }
            usleep(10_000)
        }
        lock.lock()
        let paths = Array(temporaries.values)
        lock.unlock()
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
        signal(sig, SIG_DFL)
        kill(getpid(), sig)
        usleep(200_000)
        exit(128 + sig)
    }

    /// Runs `body` with the first Ctrl-C (SIGINT) only recorded: `body` polls `deferredInterrupt`
    /// and winds down (a training run saves its checkpoint). A second one, or SIGTERM, stops at once.
    public static func deferringInterrupt<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        deferring = true
        lock.unlock()
        defer {
            lock.lock()
            deferring = false
            lock.unlock()
        }
        return try body()
    }

    /// Whether a Ctrl-C arrived inside `deferringInterrupt`.
    public static var deferredInterrupt: Bool {
        lock.lock()
        defer { lock.unlock() }
        return deferred != 0
    }

    /// Registers a running child's lifeline; the returned closure unregisters
    /// it and closes the lifeline unless an interrupt already did.
    static func track(watcher pid: Int32, lifeline fd: Int32) -> () -> Void {
        lock.lock()
        lifelines[pid] = fd
        lock.unlock()
        return {
            lock.lock()
            if let fd = lifelines.removeValue(forKey: pid), fd >= 0 { close(fd) }
            let stopping = interrupted
            lock.unlock()
            // The handler is removing files and ending the process: go no further.
            if stopping { while true { pause() } }
        }
    }

    /// Runs `body` with `path` removed if the process is interrupted meanwhile.
    public static func removingOnInterrupt<T>(_ paths: [String], _ body: () throws -> T) rethrows -> T {
        let ids = paths.map { p in
            let id = UUID()
            lock.lock()
            temporaries[id] = p
            lock.unlock()
            return id
        }
        defer {
            lock.lock()
            for id in ids { temporaries[id] = nil }
            lock.unlock()
        }
        return try body()
    }
}
