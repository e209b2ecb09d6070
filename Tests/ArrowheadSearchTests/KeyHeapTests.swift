import Testing
@testable import ArrowheadSearch

/// `KeyHeap.second` is what the graph walk guesses will be expanded after the top (its
/// link record and rows are requested early); a wrong value would cost only cache
/// requests, so it is checked here directly: the second-smallest key held, duplicates
/// included, after every push and pop.
@Suite("Key heap")
struct KeyHeapTests {
  @Test func secondIsTheSecondSmallestKeyAfterEveryChange() {
    var heap = KeyHeap(capacity: 4)
    defer { heap.deallocate() }
    #expect(heap.second == nil)
    var generator = SeededGenerator(seed: 7)
    var held: [UInt64] = []
    for step in 0..<2_000 {
      // Mostly pushes early, mostly pops late; small keys so that duplicates occur.
      if held.isEmpty || generator.next() % 100 < (step < 1_000 ? 70 : 30) {
        let key = generator.next() % 64
        heap.push(key)
        held.append(key)
      } else {
        let popped = heap.pop()
        #expect(popped == held.min())
        held.remove(at: held.firstIndex(of: popped)!)
      }
      let sorted = held.sorted()
      #expect(heap.second == (sorted.count >= 2 ? sorted[1] : nil), "step \(step)")
      if let top = sorted.first { #expect(heap.top == top) }
    }
  }
}
