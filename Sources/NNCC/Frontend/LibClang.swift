import Foundation
internal import CClang

/// What libclang tells nncc about a user's C file (custom operators, Frontend/CustomSource.swift):
/// its diagnostics, the functions and variables it declares at file scope, the writes to global
/// variables and the identifier tokens. The only file that touches libclang's C interface.
struct CFileInfo {
    /// A place in the file, 1-based as compilers print it.
    struct Location: Equatable { var line: Int, column: Int }

    /// A type as the checks need it; `spelling` is the C text ("const double *").
    indirect enum TypeKind: Equatable { case void, float, double, int64, pointer(TypeKind, const: Bool), other }
    struct CType: Equatable { var kind: TypeKind, spelling: String }

    struct Function: Equatable {
        var name: String
        var location: Location
        var result: CType
        var parameters: [(name: String, type: CType)]
        var variadic: Bool
        var isDefinition: Bool

        static func == (a: Function, b: Function) -> Bool {
            a.name == b.name && a.location == b.location && a.result == b.result && a.variadic == b.variadic
                && a.isDefinition == b.isDefinition && a.parameters.map(\.name) == b.parameters.map(\.name)
                && a.parameters.map(\.type) == b.parameters.map(\.type)
        }
    }

    /// A file-scope function or variable declaration: where its text starts (UTF-8 offset) and
    /// whether it says `static` already, so the copy can make it file-local.
    struct Declaration: Equatable { var name: String, start: Int, isStatic: Bool, isExtern: Bool, location: Location }

    /// An assignment, `op=`, `++` or `--` whose target is a variable with static storage.
    struct GlobalWrite: Equatable { var variable: String, location: Location }

    struct Token: Equatable { var spelling: String, offset: Int }

    /// Errors and warnings, formatted `file:line:col: error: message`.
    var diagnostics: [String]
    var functions: [Function]
    var declarations: [Declaration]
    var globalWrites: [GlobalWrite]
    /// `#include "..."` lines: the copied code cannot find the user's own headers.
    var quotedIncludes: [Location]
    var identifiers: [Token]
}

enum LibClang {
    /// Parses `text` as the C11 file `path` with -Wall -Wextra (the generated C's warnings).
    static func read(path: String, text: String) -> CFileInfo {
        let index = clang_createIndex(0, 0)
        defer { clang_disposeIndex(index) }
        let args = ["-x", "c", "-std=c11", "-Wall", "-Wextra"]
        var tu: CXTranslationUnit?
        let bytes = Array(text.utf8)
        path.withCString { cpath in
            bytes.withUnsafeBufferPointer { buf in
                buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(bytes.count, 1)) { contents in
                    var unsaved = CXUnsavedFile(Filename: cpath, Contents: contents, Length: UInt(bytes.count))
                    var cargs = args.map { strdup($0) }
                    defer { cargs.forEach { free($0) } }
                    cargs.withUnsafeMutableBufferPointer { argv in
                        argv.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: argv.count) { a in
                            _ = clang_parseTranslationUnit2(index, cpath, a, Int32(argv.count), &unsaved, 1,
                                                            UInt32(CXTranslationUnit_DetailedPreprocessingRecord.rawValue), &tu)
                        }
                    }
                }
            }
        }
        guard let tu else {
            return CFileInfo(diagnostics: ["\(path): libclang could not parse the file"], functions: [], declarations: [],
                             globalWrites: [], quotedIncludes: [], identifiers: [])
        }
        defer { clang_disposeTranslationUnit(tu) }
        var reader = Reader(tu: tu)
        return reader.info()
    }

    fileprivate static func string(_ s: CXString) -> String {
        defer { clang_disposeString(s) }
        return clang_getCString(s).map { String(cString: $0) } ?? ""
    }

    /// The direct children of a cursor (libclang's visitor takes a C callback, so they are collected in a box).
    fileprivate static func children(_ c: CXCursor) -> [CXCursor] {
        final class Box { var items: [CXCursor] = [] }
        let box = Box()
        _ = clang_visitChildren(c, { child, _, data in
            Unmanaged<Box>.fromOpaque(data!).takeUnretainedValue().items.append(child)
            return CXChildVisit_Continue
        }, Unmanaged.passUnretained(box).toOpaque())
        return box.items
    }
}

private struct Reader {
    let tu: CXTranslationUnit
    var declarations: [CFileInfo.Declaration] = []
    var functions: [CFileInfo.Function] = []
    var writes: [CFileInfo.GlobalWrite] = []
    var includes: [CFileInfo.Location] = []

    init(tu: CXTranslationUnit) { self.tu = tu }

    mutating func info() -> CFileInfo {
        var diagnostics = [String]()
        for i in 0..<clang_getNumDiagnostics(tu) {
            let d = clang_getDiagnostic(tu, i)
            defer { clang_disposeDiagnostic(d) }
            guard clang_getDiagnosticSeverity(d).rawValue >= CXDiagnostic_Warning.rawValue else { continue }
            diagnostics.append(LibClang.string(clang_formatDiagnostic(d, clang_defaultDiagnosticDisplayOptions())))
        }
        for c in LibClang.children(clang_getTranslationUnitCursor(tu)) where fromMainFile(c) {
            topLevel(c)
        }
        return CFileInfo(diagnostics: diagnostics, functions: functions, declarations: declarations,
                         globalWrites: writes, quotedIncludes: includes, identifiers: identifiers())
    }

    func fromMainFile(_ c: CXCursor) -> Bool { clang_Location_isFromMainFile(clang_getCursorLocation(c)) != 0 }

    func location(_ loc: CXSourceLocation) -> CFileInfo.Location {
        var line: UInt32 = 0, column: UInt32 = 0
        clang_getExpansionLocation(loc, nil, &line, &column, nil)
        return .init(line: Int(line), column: Int(column))
    }

    func offset(_ loc: CXSourceLocation) -> Int {
        var off: UInt32 = 0
        clang_getExpansionLocation(loc, nil, nil, nil, &off)
        return Int(off)
    }

    mutating func topLevel(_ c: CXCursor) {
        let kind = clang_getCursorKind(c), name = LibClang.string(clang_getCursorSpelling(c))
        switch kind {
        case CXCursor_InclusionDirective:
            let tokens = self.tokens(clang_getCursorExtent(c))
            if tokens.contains(where: { $0.spelling.hasPrefix("\"") }) { includes.append(location(clang_getCursorLocation(c))) }
        case CXCursor_FunctionDecl, CXCursor_VarDecl:
            let storage = clang_Cursor_getStorageClass(c)
            declarations.append(.init(name: name, start: offset(clang_getRangeStart(clang_getCursorExtent(c))),
                                      isStatic: storage == CX_SC_Static, isExtern: storage == CX_SC_Extern,
                                      location: location(clang_getCursorLocation(c))))
            if kind == CXCursor_FunctionDecl {
                let type = clang_getCursorType(c)
                let params = (0..<max(0, clang_Cursor_getNumArguments(c))).map { i -> (String, CFileInfo.CType) in
                    let p = clang_Cursor_getArgument(c, UInt32(i))
                    return (LibClang.string(clang_getCursorSpelling(p)), ctype(clang_getCursorType(p)))
                }
                functions.append(.init(name: name, location: location(clang_getCursorLocation(c)),
                                       result: ctype(clang_getResultType(type)), parameters: params,
                                       variadic: clang_isFunctionTypeVariadic(type) != 0,
                                       isDefinition: clang_isCursorDefinition(c) != 0))
            }
            scanWrites(c)
        default:
            break
        }
    }

    func ctype(_ t: CXType) -> CFileInfo.CType {
        CFileInfo.CType(kind: kind(t), spelling: LibClang.string(clang_getTypeSpelling(t)))
    }

    func kind(_ t: CXType) -> CFileInfo.TypeKind {
        let c = clang_getCanonicalType(t)
        switch c.kind {
        case CXType_Void: return .void
        case CXType_Float: return .float
        case CXType_Double: return .double
        case CXType_Long, CXType_LongLong: return clang_Type_getSizeOf(c) == 8 ? .int64 : .other
        case CXType_Pointer:
            let pointee = clang_getPointeeType(c)
            return .pointer(kind(pointee), const: clang_isConstQualifiedType(pointee) != 0)
        default: return .other
        }
    }

    /// Writes inside `c` (a function body, a variable's initializer) whose target is a variable
    /// with static storage: file scope, `static` locals, or a header's `extern` (errno).
    mutating func scanWrites(_ c: CXCursor) {
        for child in LibClang.children(c) {
            let kind = clang_getCursorKind(child)
            var target: CXCursor?
            if kind == CXCursor_CompoundAssignOperator {
                target = LibClang.children(child).first
            } else if kind == CXCursor_BinaryOperator, let lhs = LibClang.children(child).first {
                let end = offset(clang_getRangeEnd(clang_getCursorExtent(lhs)))
                if tokens(clang_getCursorExtent(child)).first(where: { $0.offset >= end })?.spelling == "=" { target = lhs }
            } else if kind == CXCursor_UnaryOperator {
                let t = tokens(clang_getCursorExtent(child))
                if let first = t.first?.spelling, let last = t.last?.spelling,
                   ["++", "--"].contains(first) || ["++", "--"].contains(last) {
                    target = LibClang.children(child).first
                }
            }
            if let target, let variable = staticVariable(written: target) {
                writes.append(.init(variable: variable, location: location(clang_getCursorLocation(child))))
            }
            scanWrites(child)
        }
    }

    /// The variable an lvalue names (its first reference, `g` in `g[i].x`) when it has static storage.
    func staticVariable(written c: CXCursor) -> String? {
        if clang_getCursorKind(c) == CXCursor_DeclRefExpr {
            let d = clang_getCursorReferenced(c)
            guard clang_getCursorKind(d) == CXCursor_VarDecl else { return nil }
            let parent = clang_getCursorKind(clang_getCursorSemanticParent(d))
            let storage = clang_Cursor_getStorageClass(d)
            let isStatic = parent == CXCursor_TranslationUnit || storage == CX_SC_Static || storage == CX_SC_Extern
            return isStatic ? LibClang.string(clang_getCursorSpelling(d)) : nil
        }
        guard let first = LibClang.children(c).first else { return nil }
        return staticVariable(written: first)
    }

    func tokens(_ range: CXSourceRange) -> [CFileInfo.Token] {
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(tu, range, &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(tu, tokens, count) }
        return (0..<Int(count)).map {
            .init(spelling: LibClang.string(clang_getTokenSpelling(tu, tokens[$0])),
                  offset: offset(clang_getTokenLocation(tu, tokens[$0])))
        }
    }

    /// Every identifier token of the main file, in order.
    func identifiers() -> [CFileInfo.Token] {
        let file = LibClang.string(clang_getTranslationUnitSpelling(tu)).withCString { clang_getFile(tu, $0) }
        let whole = clang_getRange(clang_getLocationForOffset(tu, file, 0), clang_getLocationForOffset(tu, file, length(file)))
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(tu, whole, &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(tu, tokens, count) }
        return (0..<Int(count)).filter { clang_getTokenKind(tokens[$0]) == CXToken_Identifier }.map {
            .init(spelling: LibClang.string(clang_getTokenSpelling(tu, tokens[$0])),
                  offset: offset(clang_getTokenLocation(tu, tokens[$0])))
        }
    }

    func length(_ file: CXFile?) -> UInt32 {
        var size = 0
        _ = clang_getFileContents(tu, file, &size)
        return UInt32(size)
    }
}
