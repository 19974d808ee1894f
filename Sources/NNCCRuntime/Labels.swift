
/// The one class-label check: a label indexes the model's outputs, so it must be in 0..<classes
/// (the generated train_step refuses others too, NN_ERR_LABEL). Used by the data set reader, the
/// trainer and ModelContext.trainStep, with the same message; callers add the file or library.
public enum Labels {
    public static func check<C: Collection>(_ labels: C, classes: Int) throws where C.Element: BinaryInteger {
        guard let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) else { return }
        let example = labels.distance(from: labels.startIndex, to: bad)
        throw NNCCError("label \(labels[bad]) of example \(example) is outside 0..<\(classes) (the model has \(classes) classes)")
    }
}
