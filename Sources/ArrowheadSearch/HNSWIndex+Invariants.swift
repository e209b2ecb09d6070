/// A structural defect found by `HNSWIndex.checkInvariants()`.
public struct HNSWInvariantViolation: Error, Sendable, CustomStringConvertible {
  /// One line per defect (at most 20 are collected).
  public var problems: [String]

  /// The defects, one per line.
  public var description: String { "HNSW invariants violated:\n" + problems.joined(separator: "\n") }
}

extension HNSWIndex {
  /// Checks the graph's structure and throws every defect found:
  /// - every link names an existing slot, never the node itself, never twice in a list;
  /// - a node at layer l links only to nodes whose level is ≥ l;
  /// - link counts are ≤ 2·M on layer 0 and ≤ M above;
  /// - the entry point exists and has the top level; no level exceeds it;
  /// - upper-layer records lie inside the upper-link block;
  /// - the id table maps every live slot's id back to that slot.
  /// O(n·M). Used by the tests after builds, deletions and reloads (hnswlib's
  /// `checkIntegrity`, extended).
  public func checkInvariants() throws(HNSWInvariantViolation) {
    let problems = lock.reading { invariantProblems(limit: 20) }
    if !problems.isEmpty { throw HNSWInvariantViolation(problems: problems) }
  }

  func invariantProblems(limit: Int) -> [String] {
    var problems: [String] = []
    func report(_ text: String) { if problems.count < limit { problems.append(text) } }
    if slots == 0 {
      if graph.entryPoint != HNSWGraph.none { report("empty graph has entry point \(graph.entryPoint)") }
      return problems
    }
    if graph.entryPoint == HNSWGraph.none || Int(graph.entryPoint) >= slots {
      report("entry point \(graph.entryPoint) is not a slot (\(slots) slots)")
      return problems
    }
    if graph.level(graph.entryPoint) != graph.maxLevel {
      report("entry point \(graph.entryPoint) has level \(graph.level(graph.entryPoint)), top level is \(graph.maxLevel)")
    }
    var seen = Set<UInt32>()
    for slot in 0..<UInt32(slots) {
      let level = graph.level(slot)
      if level > graph.maxLevel { report("slot \(slot) has level \(level) above the top level \(graph.maxLevel)") }
      if level > 0 {
        let end = Int(graph.node(slot)[1]) + level * graph.wordsPerUpperLevel
        if end > graph.upperWords {
          report("slot \(slot): upper records end at word \(end), beyond \(graph.upperWords)")
          continue
        }
      }
      for layer in 0...level {
        let (links, count) = graph.links(slot, layer)
        if count > graph.capacity(layer) {
          report("slot \(slot) layer \(layer): \(count) links > capacity \(graph.capacity(layer))")
          continue
        }
        seen.removeAll(keepingCapacity: true)
        for i in 0..<count {
          let target = links[i]
          if Int(target) >= slots {
            report("slot \(slot) layer \(layer): link \(target) out of range (\(slots) slots)")
          } else if target == slot {
            report("slot \(slot) layer \(layer): links to itself")
          } else if !seen.insert(target).inserted {
            report("slot \(slot) layer \(layer): duplicate link \(target)")
          } else if graph.level(target) < layer {
            report("slot \(slot) layer \(layer): link \(target) has level \(graph.level(target)) < \(layer)")
          }
        }
      }
      if !deleted.contains(slot) {
        let id = ids.id(of: Int(slot))
        if liveSlot(of: id) != Int(slot) { report("slot \(slot): id \(id) does not map back to it") }
      }
    }
    return problems
  }

  /// Live nodes reachable from the entry point on layer 0 (a connectivity diagnostic).
  func reachableLiveCount() -> Int {
    lock.reading {
      guard slots > 0, graph.entryPoint != HNSWGraph.none else { return 0 }
      var visited = [Bool](repeating: false, count: slots)
      var stack = [graph.entryPoint]
      visited[Int(graph.entryPoint)] = true
      var live = 0
      while let slot = stack.popLast() {
        if !deleted.contains(slot) { live += 1 }
        let (links, count) = graph.links(slot, 0)
        for i in 0..<count where !visited[Int(links[i])] {
          visited[Int(links[i])] = true
          stack.append(links[i])
        }
      }
      return live
    }
  }
}
