/// An error caused by the user's input (a config, a data file, a flag), with what to do about it.
/// It is printed as `error: <message>` and `HINT: <hint>`, and the process exits non-zero.
public struct UserError: Error, CustomStringConvertible {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String {
        hint.map { "\(message)\nHINT: \($0)" } ?? message
    }
}
