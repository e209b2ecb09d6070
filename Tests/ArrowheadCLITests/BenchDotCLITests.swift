import Foundation
import Testing

/// `arrowhead bench dot --offsets X,Y`: the operands' placement relative to a cache line is
/// named in each row's shape, and a bad placement is refused with the option's name.
@Suite("arrowhead bench dot")
struct BenchDotCLITests {
  struct Report: Decodable {
    struct Row: Decodable { var operation: String; var backend: String; var shape: String; var throughput: Double }
    var rows: [Row]
  }

  @Test func offsetsNameThePlacementInEveryRow() throws {
    let outcome = try QuantizeCLI.run(
      ["bench", "dot", "--sizes", "4099", "--offsets", "3,13", "--repeats", "1", "--json"],
      environment: ["ARROWHEAD_DISPATCH": "static"])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let report = try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
    #expect(Set(report.rows.map(\.operation)) == ["dot", "l2"])
    #expect(report.rows.allSatisfy { $0.shape == "n=4099 @3,13" && $0.throughput > 0 }, "\(report.rows)")
  }

  @Test func badOffsetsAreRefusedWithAReason() throws {
    for offsets in ["16,0", "1", "a,b", "1,2,3"] {
      let outcome = try QuantizeCLI.run(["bench", "dot", "--sizes", "64", "--offsets", offsets])
      #expect(outcome.status != 0)
      #expect(outcome.stderr.contains("--offsets: expected two floats-past-a-line offsets X,Y in 0…15"),
              "\(offsets): \(outcome.stderr)")
    }
  }

  /// `bench gemm --transposed-b` times A·Bᵀ (the operation is named `gemm-bt`) on every
  /// backend and the dispatched path.
  @Test func gemmWithATransposedBNamesItsOperation() throws {
    let outcome = try QuantizeCLI.run(
      ["bench", "gemm", "--transposed-b", "--shape", "4,100,77", "--repeats", "1", "--json"],
      environment: ["ARROWHEAD_DISPATCH": "static"])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let report = try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
    #expect(!report.rows.isEmpty && report.rows.allSatisfy { $0.operation == "gemm-bt" && $0.shape == "4×100×77" && $0.throughput > 0 },
            "\(report.rows)")
  }
}
