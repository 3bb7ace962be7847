/// Where a JSON value sits in the document, for error messages: `items[3].unitPrice.amountMinor`.
///
/// Paths are built on every field the decoder visits, so the last component is kept inline and only
/// deeper paths allocate: appending to the root costs nothing.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
  enum Component: Sendable, Hashable {
    case field(String)
    case index(Int)
    case mapKey(String)
  }

  /// Everything before `last`, innermost first; shared between paths that branch from the same parent.
  let parent: JSONPathNode?
  /// `nil` only for the root.
  let last: Component?

  private init(parent: JSONPathNode?, last: Component?) {
    self.parent = parent
    self.last = last
  }

  /// The whole document.
  public static let root = JSONPath(parent: nil, last: nil)

  /// The path of a member of the object at this path.
  public func appending(field: String) -> JSONPath {
    appending(.field(field))
  }

  /// The path of an element of the array at this path.
  public func appending(index: Int) -> JSONPath {
    appending(.index(index))
  }

  /// The path of an entry of the map at this path; renders as `name["key"]`.
  public func appending(mapKey: String) -> JSONPath {
    appending(.mapKey(mapKey))
  }

  private func appending(_ component: Component) -> JSONPath {
    guard let last else { return JSONPath(parent: nil, last: component) }
    return JSONPath(parent: JSONPathNode(parent: parent, component: last), last: component)
  }

  /// The document itself, no field or element of it.
  public var isRoot: Bool { last == nil }

  /// Outermost first.
  var components: [Component] {
    guard let last else { return [] }
    var reversed = [last]
    var node = parent
    while let current = node {
      reversed.append(current.component)
      node = current.parent
    }
    return reversed.reversed()
  }

  /// Fields joined by `.`, indexes as `[3]`, map keys as `["key"]`; the root renders as `<root>`.
  public var description: String {
    var out = ""
    for component in components {
      switch component {
      case .field(let name):
        if !out.isEmpty { out += "." }
        out += name
      case .index(let index):
        out += "[\(index)]"
      case .mapKey(let key):
        out += "[" + JSONText.quoted(key) + "]"
      }
    }
    return out.isEmpty ? "<root>" : out
  }

  /// Paths are equal when they name the same location, however they were built.
  public static func == (lhs: JSONPath, rhs: JSONPath) -> Bool {
    if lhs.last != rhs.last { return false }
    if lhs.parent === rhs.parent { return true }
    return lhs.components == rhs.components
  }

  /// Hashes the components, consistently with `==`.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(components)
  }
}

/// Immutable, so sharing one between paths (and threads) is safe.
final class JSONPathNode: Sendable {
  let parent: JSONPathNode?
  let component: JSONPath.Component

  init(parent: JSONPathNode?, component: JSONPath.Component) {
    self.parent = parent
    self.component = component
  }
}
