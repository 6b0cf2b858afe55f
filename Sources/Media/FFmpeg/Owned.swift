/// A reference to one non-copyable owner, so owners can sit in arrays and optionals that are
/// read in place (Swift's `Array` holds only copyable elements). The owner is still freed
/// exactly once: when the last reference goes.
final class Owned<Value: ~Copyable> {
    var value: Value

    init(_ value: consuming Value) { self.value = value }
}
