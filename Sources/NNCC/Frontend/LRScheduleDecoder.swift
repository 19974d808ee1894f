import Foundation

/// Decodes `train.lr_schedule` and `--lr-schedule`'s shorthand `TYPE[:key=value,...]`.
public enum LRScheduleDecoder {
    static let types = ["step", "multi_step", "exponential", "cosine", "one_cycle", "reduce_on_plateau"]

    static func decode(_ v: JSON, file: String, path: String = "train.lr_schedule") throws -> LRSchedule {
        let f = try Fields(v, file: file, path: path)
        let type = try f.string("type")
        func number(_ key: String, _ d: Double?, min lo: Double, max hi: Double = .infinity, openMin: Bool = false) throws -> Double {
            guard let raw = f.raw(key) else {
                if let d { return d }
                _ = try f.required(key)
                return 0
            }
            guard case let .number(x, _) = raw, x.isFinite, openMin ? x > lo : x >= lo, x <= hi else {
                let found: String
                if case let .number(x, _) = raw { found = "\(x)" } else { found = raw.kindName }
                throw f.fail(key, "expected a number in \(openMin ? "(" : "[")\(lo), \(hi)], found \(found)")
            }
            return x
        }
        switch type {
        case "step":
            try f.onlyKeys(["type", "step_size", "gamma"], what: "the step schedule")
            return .step(stepSize: try f.int("step_size", min: 1, max: 1 << 20), gamma: try number("gamma", 0.1, min: 0))
        case "multi_step":
            try f.onlyKeys(["type", "milestones", "gamma"], what: "the multi_step schedule")
            guard case let .array(items)? = f.raw("milestones"), !items.isEmpty else {
                throw f.fail("milestones", "expected a non-empty list of epochs, e.g. [30, 80]")
            }
            let milestones = try items.map { try Fields.int($0, lo: 1, hi: 1 << 20) { f.fail("milestones", $0) } }
            guard zip(milestones, milestones.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw f.fail("milestones", "expected epochs in increasing order, found \(milestones)")
            }
            return .multiStep(milestones: milestones, gamma: try number("gamma", 0.1, min: 0))
        case "exponential":
            try f.onlyKeys(["type", "gamma"], what: "the exponential schedule")
            return .exponential(gamma: try number("gamma", nil, min: 0))
        case "cosine":
            try f.onlyKeys(["type", "warmup_steps", "warmup_start_factor", "eta_min"], what: "the cosine schedule")
            return .cosine(warmupSteps: try f.int("warmup_steps", default: 0, min: 0, max: 1 << 40),
                           warmupStartFactor: try number("warmup_start_factor", 0.01, min: 0, max: 1, openMin: true),
                           etaMin: try number("eta_min", 0, min: 0))
        case "one_cycle":
            try f.onlyKeys(["type", "max_lr", "pct_start", "div_factor", "final_div_factor", "anneal_strategy", "three_phase"],
                           what: "the one_cycle schedule")
            var c = LRSchedule.OneCycle()
            if f.has("max_lr") { c.maxLR = try number("max_lr", nil, min: 0) }
            c.pctStart = try number("pct_start", 0.3, min: 0, max: 1, openMin: true)
            c.divFactor = try number("div_factor", 25, min: 0, openMin: true)
            c.finalDivFactor = try number("final_div_factor", 1e4, min: 0, openMin: true)
            let anneal = try f.string("anneal_strategy", default: "cos")
            guard anneal == "cos" || anneal == "linear" else {
                throw f.fail("anneal_strategy", "expected \"cos\" or \"linear\", found \"\(anneal)\"")
            }
            c.linear = anneal == "linear"
            c.threePhase = try f.bool("three_phase", default: false)
            return .oneCycle(c)
        case "reduce_on_plateau":
            try f.onlyKeys(["type", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr"],
                           what: "the reduce_on_plateau schedule")
            var p = LRSchedule.Plateau()
            p.factor = try number("factor", 0.1, min: 0, max: 1, openMin: true)
            guard p.factor < 1 else { throw f.fail("factor", "expected a factor below 1 (the rate is multiplied by it)") }
            p.patience = try f.int("patience", default: 10, min: 0, max: 1 << 20)
            p.threshold = try number("threshold", 1e-4, min: 0)
            let mode = try f.string("threshold_mode", default: "rel")
            guard mode == "rel" || mode == "abs" else { throw f.fail("threshold_mode", "expected \"rel\" or \"abs\", found \"\(mode)\"") }
            p.relative = mode == "rel"
            p.cooldown = try f.int("cooldown", default: 0, min: 0, max: 1 << 20)
            p.minLR = try number("min_lr", 0, min: 0)
            return .reduceOnPlateau(p)
        default:
            throw f.fail("type", "expected one of \(types.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(type)\"")
        }
    }

    /// `--lr-schedule`: a JSON object, or `TYPE[:key=value,...]` with JSON values
    /// (`multi_step:milestones=[5,8],gamma=0.5`, `cosine:warmup_steps=100`).
    public static func parse(option text: String, option: String = "--lr-schedule") throws -> LRSchedule {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let json: JSON
        if trimmed.hasPrefix("{") {
            do { json = try JSONReader.parse(Data(trimmed.utf8)) } catch {
                throw NNCCError(path: option, "expected a JSON object or TYPE[:key=value,...]: \(error)")
            }
        } else {
            let (type, rest) = trimmed.firstIndex(of: ":").map { (String(trimmed[..<$0]), String(trimmed[trimmed.index(after: $0)...])) }
                ?? (trimmed, "")
            var pairs: [(String, JSON)] = [("type", .string(type))]
            for item in splitTopLevel(rest) where !item.isEmpty {
                guard let eq = item.firstIndex(of: "=") else {
                    throw NNCCError(path: option, "expected key=value, found \"\(item)\"")
                }
                let key = String(item[..<eq]), value = String(item[item.index(after: eq)...])
                pairs.append((key, (try? JSONReader.parse(Data(value.utf8))) ?? .string(value)))
            }
            json = .object(pairs)
        }
        return try decode(json, file: option, path: "")
    }

    /// Splits at commas outside brackets, so a list value keeps its commas.
    private static func splitTopLevel(_ s: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0
        for c in s {
            if c == "[" { depth += 1 } else if c == "]" { depth -= 1 }
            if c == "," && depth == 0 { parts.append(current); current = "" } else { current.append(c) }
        }
        parts.append(current)
        return parts
    }
}
