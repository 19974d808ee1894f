/// Decodes the `train` section: loss, optimizer, batching and augmentation.
enum TrainDecoder {
    static func decode(_ v: JSON, file: String) throws -> TrainConfig {
        let f = try Fields(v, file: file, path: "train")
        try f.onlyKeys(["loss", "optimizer", "batch_size", "epochs", "shuffle", "clip_grad_norm", "augment", "lr_schedule"],
                       what: "train")
        let lossName = try f.string("loss")
        guard let loss = Loss(rawValue: lossName) else {
            throw f.fail("loss", "expected \"cross_entropy\", \"mse\" or \"binary_cross_entropy\", found \"\(lossName)\"")
        }
        var cfg = TrainConfig(loss: loss, optimizer: try optimizer(try f.required("optimizer"), file: file))
        cfg.batchSize = try f.int("batch_size", default: 32, min: 1, max: Limits.batch)
        cfg.epochs = try f.int("epochs", default: 1, min: 1, max: 1 << 20)
        cfg.shuffle = try f.bool("shuffle", default: true)
        cfg.clipGradNorm = try f.float("clip_grad_norm", default: 0, min: 0)
        if let av = f.raw("augment") { cfg.augment = try augment(av, file: file) }
        if let sv = f.raw("lr_schedule") { cfg.lrSchedule = try LRScheduleDecoder.decode(sv, file: file) }
        return cfg
    }

    /// PyTorch's and Keras' default rates where the model gives none.
    static let defaultLR: [Optimizer.Kind: Float] = [.adam: 1e-3, .sgd: 1e-2]

    /// An object, or the shorthand "adam" / "sgd" for the type with every default.
    static func optimizer(_ v: JSON, file: String) throws -> Optimizer {
        let value: JSON
        if case let .string(type) = v { value = .object([("type", .string(type))]) } else { value = v }
        let f = try Fields(value, file: file, path: "train.optimizer")
        let type = try f.string("type")
        switch type {
        case "sgd":
            try f.onlyKeys(["type", "lr", "momentum", "weight_decay", "nesterov"], what: "the sgd optimizer")
            var o = Optimizer(kind: .sgd, lr: try f.float("lr", default: defaultLR[.sgd], min: 0))
            o.momentum = try f.float("momentum", default: 0, min: 0)
            o.weightDecay = try f.float("weight_decay", default: 0, min: 0)
            o.nesterov = try f.bool("nesterov", default: false)
            if o.nesterov && o.momentum <= 0 {
                throw f.fail("nesterov", "nesterov needs a momentum greater than 0 (as PyTorch)")
            }
            return o
        case "adam":
            try f.onlyKeys(["type", "lr", "betas", "eps", "weight_decay"], what: "the adam optimizer")
            var o = Optimizer(kind: .adam, lr: try f.float("lr", default: defaultLR[.adam], min: 0))
            if let bv = f.raw("betas") {
                guard case let .array(b) = bv, b.count == 2, case let .number(b1, _) = b[0], case let .number(b2, _) = b[1],
                      (0..<1).contains(b1), (0..<1).contains(b2) else {
                    throw f.fail("betas", "expected [beta1, beta2] with each in [0, 1)")
                }
                o.betas = (Float(b1), Float(b2))
            }
            o.eps = try f.float("eps", default: 1e-8, min: 0)
            o.weightDecay = try f.float("weight_decay", default: 0, min: 0)
            return o
        default:
            throw f.fail("type", "expected \"sgd\" or \"adam\", found \"\(type)\"")
        }
    }

    static func augment(_ v: JSON, file: String) throws -> Augment {
        let f = try Fields(v, file: file, path: "train.augment")
        try f.onlyKeys(["hflip", "crop_padding", "rotate_degrees", "shear_degrees", "zoom", "brightness"], what: "augment")
        var a = Augment()
        a.hflip = try f.bool("hflip", default: false)
        a.cropPadding = try f.int("crop_padding", default: 0, min: 0, max: 64)
        a.rotateDegrees = try f.float("rotate_degrees", default: 0, min: 0, max: 180)
        a.shearDegrees = try f.float("shear_degrees", default: 0, min: 0, max: 60)
        a.zoom = try f.float("zoom", default: 0, min: 0, max: 0.9)
        a.brightness = try f.float("brightness", default: 0, min: 0, max: 1)
        return a
    }
}
