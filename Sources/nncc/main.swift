import ArgumentParser
import Foundation
import NNCC

struct Nncc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nncc",
        abstract: "An ahead-of-time compiler from neural network models to specialized C.",
        version: nnccVersion,
        subcommands: [Compile.self, Run.self, Check.self, IR.self, Bench.self, Train.self, Eval.self, LRFind.self,
                      CheckGrad.self, Summary.self, GraphCommand.self])
}

/// Errors in the model or data are exit 1 with the message; usage errors are
/// exit 2; nothing reaches a trap. Ctrl-C stops gcc and removes temporary files.
func main() -> Never {
    Interrupt.installHandlers()
    do {
        var command = try Nncc.parseAsRoot()
        try command.run()
        exit(0)
    } catch let e as NNCCError {
        FileHandle.standardError.write(Data("nncc: error: \(e)\n".utf8))
        exit(1)
    } catch let e as UsageError {
        FileHandle.standardError.write(Data("nncc: error: \(e.message)\n".utf8))
        exit(2)
    } catch let e as CheckFailed {
        FileHandle.standardError.write(Data("\(e.message)\n".utf8))
        exit(1)
    } catch {
        let code = Nncc.exitCode(for: error)
        if code == .success { Nncc.exit(withError: error) }
        FileHandle.standardError.write(Data((Nncc.fullMessage(for: error) + "\n").utf8))
        if code == .validationFailure { exit(2) }
        exit(code.rawValue == 0 ? 0 : 1)
    }
}

main()
