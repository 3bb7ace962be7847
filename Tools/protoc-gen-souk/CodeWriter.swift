/// Collects generated source text with indentation.
struct CodeWriter {
    private(set) var text = ""
    private var indentation = ""

    mutating func line(_ content: String = "") {
        if content.isEmpty { text += "\n" } else { text += indentation + content + "\n" }
    }

    mutating func lines(_ contents: [String]) {
        for content in contents { line(content) }
    }

    /// Writes a doc comment from a `.proto` comment.
    mutating func doc(_ comment: String) {
        for line in Naming.docComment(comment, indent: "") { self.line(line) }
    }

    mutating func block(_ opening: String, closing: String = "}", _ body: (inout CodeWriter) throws -> Void) rethrows {
        line(opening)
        indent()
        try body(&self)
        outdent()
        line(closing)
    }

    mutating func indent() { indentation += "    " }
    mutating func outdent() { indentation.removeLast(4) }
}
