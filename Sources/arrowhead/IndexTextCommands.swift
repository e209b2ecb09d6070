import ArgumentParser
import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadSearch
import Foundation

// `index build --text` and `index search --text`: the index holds the embeddings, its
// text catalog (INDEX.texts.jsonl, see `TextCatalog`) the texts by id.

extension IndexBuild {
  /// Embeds the non-empty lines of `path` (the first `--limit`) and the catalog of their
  /// texts; empty lines are skipped (reported on stderr), their numbers stay in the catalog.
  func embedTexts(_ path: String, engine: Engine) throws -> (VectorMatrix<Float>, TextCatalog) {
    let input = try readTexts(path, format: nil, strict: false)
    var kept = zip(input.texts, input.lineNumbers).filter { !$0.0.allSatisfy(\.isWhitespace) }
    if kept.count < input.texts.count {
      StandardError.write("arrowhead: '\(path)': \(input.texts.count - kept.count) empty line(s) not indexed\n")
    }
    if let limit, limit < kept.count { kept = Array(kept.prefix(limit)) }
    guard !kept.isEmpty else { throw CommandFailure("'\(path)' holds no text to index") }
    let encoder = try encoderOptions.load(engine: engine)
    let result = try encoderOptions.encode(
      kept.map(\.0), with: encoder, threads: engine.effectiveThreads, label: "embed", quiet: quiet)
    if !result.truncatedTexts.isEmpty {
      StandardError.write(
        "arrowhead: \(result.truncatedTexts.count) text(s) longer than \(encoder.maximumSequenceLength) tokens were truncated\n")
    }
    let embeddings = result.embeddings
    guard let matrix = VectorMatrix(rows: embeddings.rows, columns: embeddings.columns, elements: embeddings.elements) else {
      throw CommandFailure("internal error: embeddings of \(embeddings.rows) × \(embeddings.columns) do not form a matrix")
    }
    let catalog = TextCatalog(
      entries: kept.map { TextCatalog.Entry(line: $0.1, text: $0.0) }, dimension: embeddings.columns,
      model: encoderOptions.model ?? "", weights: encoderOptions.weights.rawValue, source: path)
    return (matrix, catalog)
  }
}

extension IndexSearch {
  struct TextHit: Codable {
    var rank: Int
    var id: Int
    var score: Float
    var line: Int
    var text: String
  }

  struct TextReport: Codable {
    var query: String
    var results: [TextHit]
  }

  /// Embeds the `--text` queries, searches, and prints the nearest texts with scores.
  func searchTexts(_ loaded: IndexFile.Loaded, engine: Engine) throws {
    let catalogPath = TextCatalog.path(forIndex: index)
    let catalog: TextCatalog
    do {
      catalog = try TextCatalog(contentsOf: catalogPath)
    } catch {
      throw CommandFailure("\(error)")
    }
    guard catalog.entries.count == loaded.index.count, catalog.dimension == loaded.index.dimension else {
      throw CommandFailure(
        "'\(catalogPath)' lists \(catalog.entries.count) texts of dimension \(catalog.dimension), but '\(index)' holds "
          + "\(loaded.index.count) vectors of dimension \(loaded.index.dimension): rebuild the index")
    }
    let encoder = try encoderOptions.load(engine: engine)
    guard encoder.dimension == loaded.index.dimension else {
      throw CommandFailure(
        "the model '\(encoderOptions.model ?? "")' makes \(encoder.dimension)-dimensional embeddings, the index holds \(loaded.index.dimension)")
    }
    if !catalog.model.isEmpty, let model = encoderOptions.model, model != catalog.model {
      StandardError.write("arrowhead: note: the index was embedded with '\(catalog.model)', the queries with '\(model)'\n")
    }
    let embeddings = try encoderOptions.encode(text, with: encoder, threads: engine.effectiveThreads, label: "embed", quiet: true).embeddings
    let parameters = SearchParameters(efSearch: efSearch, rerankCandidates: rerank, threads: engine.effectiveThreads)
    let results: [SearchResult]
    do {
      results = try loaded.index.search(batch: embeddings.elements, k: k, parameters: parameters)
    } catch {
      throw CommandFailure("\(error)")
    }
    if let output { try writeIDs(results, indexCount: loaded.index.count, to: output) }
    let reports = zip(text, results).map { query, result in
      TextReport(
        query: query,
        results: result.neighbors.enumerated().map { rank, neighbor in
          let entry = catalog.entries.indices.contains(neighbor.id) ? catalog.entries[neighbor.id] : TextCatalog.Entry(line: 0, text: "")
          return TextHit(rank: rank + 1, id: neighbor.id, score: neighbor.score, line: entry.line, text: entry.text)
        })
    }
    switch outputOptions.format {
    case .json:
      print(try jsonString(reports))
    case .table, .csv:
      var table = TextTable(["query", "rank", "score", "line", "text"])
      for report in reports {
        for hit in report.results {
          let shown = hit.text.count > 100 ? String(hit.text.prefix(99)) + "…" : hit.text
          table.append([
            hit.rank == 1 ? String(report.query.prefix(40)) : "", "\(hit.rank)", formatted(Double(hit.score), decimals: 4),
            "\(hit.line)", shown,
          ])
        }
      }
      print(outputOptions.format == .csv ? table.renderCSV() : table.render(), terminator: "")
    }
  }
}
