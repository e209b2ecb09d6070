// A complete tour of Arrowhead's C ABI: probe, gemm, distances, a quantized tensor, an
// HNSW index (add, filtered search, remove, save, load), sentence embeddings (when a
// sentence-transformers model folder is given) and error handling.
//
// Build and run (after `swift build`; the test suite does exactly this):
//   cc -std=c11 -Wall -Wextra -Werror -I Sources/CArrowhead/include examples/c/example.c
//      -L .build/debug -lArrowheadC -lm -Wl,-rpath,"$PWD/.build/debug" -o example
//   ./example /tmp/example.ahi [all-MiniLM-L6-v2 folder]
// It prints what it checks and exits with status 0 only if every check passed.
#include <arrowhead.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

// Prints the result of one check; on failure also the library's last error.
static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) {
    printf("     last error: %s (%s)\n", ah_last_error(), ah_status_name(ah_last_status()));
    failures++;
  }
}

// Accepts even ids only: a filter callback (context unused).
// Progress of a long call: remembers the last report (calls come one at a time).
static void last_progress(int64_t done, int64_t total, void *context) {
  int64_t *seen = context;
  seen[0] = done;
  seen[1] = total;
}

static int32_t even_ids(int64_t id, void *context) {
  (void)context;
  return id % 2 == 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "example.ahi";
  check(ah_abi_version() == AH_ABI_VERSION, "ABI version matches the header");
  printf("     Arrowhead %s\n", ah_version());

  ah_engine *engine = NULL;
  check(ah_engine_create(NULL, 1, &engine) == AH_OK, "engine on 1 thread");

  // The probe is JSON owned by us: free it with ah_string_free.
  char *probe = NULL;
  check(ah_probe_json(engine, &probe) == AH_OK && strstr(probe, "\"dispatch\"") != NULL, "probe JSON");
  ah_string_free(probe);

  // C = A·B with A 2×3 and B 3×2 (row-major): [[58, 64], [139, 154]].
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  float c[4] = {0};
  check(ah_gemm(engine, 0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2) == AH_OK
          && c[0] == 58 && c[1] == 64 && c[2] == 139 && c[3] == 154, "gemm 2x3 * 3x2");

  // Squared L2 distances of one query to two base vectors: [0, 5].
  const float q[3] = {1, 0, 0}, x[6] = {1, 0, 0, 0, 2, 0};
  float d[2];
  check(ah_distances(engine, AH_METRIC_L2, 1, 2, 3, q, 3, x, 3, d, 2) == AH_OK && d[0] == 0 && d[1] == 5,
        "squared L2 distances");

  // Quantize 2 rows × 64 columns to INT4 groups of 32 and read the parts back.
  float weights[128];
  for (int i = 0; i < 128; i++) weights[i] = sinf((float)i);
  const int64_t shape[2] = {2, 64};
  ah_tensor *tensor = NULL;
  check(ah_quantize(engine, weights, shape, 2, 4, AH_GRANULARITY_GROUP, 32, AH_MODE_FLOAT_MINIMUM, NULL, NULL, &tensor)
          == AH_OK, "quantize INT4 g32");
  ah_tensor_info info;
  check(ah_tensor_describe(tensor, &info) == AH_OK && info.group_count == 4 && info.packed_bytes == 64,
        "4 groups, 64 packed bytes");
  float restored[128], worst = 0;
  check(ah_tensor_dequantize(tensor, restored, 128) == AH_OK, "dequantize");
  for (int i = 0; i < 128; i++) worst = fmaxf(worst, fabsf(restored[i] - weights[i]));
  // Each group spans at most [-1, 1]: the step is <= 2/15, the error at most half of it.
  check(worst <= 1.0f / 15.0f + 1e-6f, "dequantized within half a step");

  // The same tensor as a quantized matrix: y = x * W^T + bias computed on the codes.
  ah_qmatrix *matrix = NULL;
  check(ah_qmatrix_create(engine, tensor, &matrix) == AH_OK, "quantized matrix");
  ah_qmatrix_info qinfo;
  check(ah_qmatrix_describe(matrix, &qinfo) == AH_OK && qinfo.rows == 2 && qinfo.columns == 64 && qinfo.bits == 4
          && qinfo.group_size == 32, "2 x 64 INT4 matrix, groups of 32");
  float activations[64], y[2], y8[2];
  const float bias[2] = {1.0f, -1.0f};
  for (int j = 0; j < 64; j++) activations[j] = cosf((float)j);
  check(ah_qmatrix_matmul(engine, matrix, AH_QMATMUL_WEIGHT_ONLY, 1, activations, 64, bias, 0, y, 2) == AH_OK
          && ah_qmatrix_matmul(engine, matrix, AH_QMATMUL_INT8, 1, activations, 64, bias, 0, y8, 2) == AH_OK,
        "weight-only and int8 products");
  float worst_weight_only = 0, worst_int8 = 0;
  for (int i = 0; i < 2; i++) {
    double expected = bias[i];
    for (int j = 0; j < 64; j++) expected += (double)restored[i * 64 + j] * activations[j];
    worst_weight_only = fmaxf(worst_weight_only, (float)fabs(y[i] - expected));
    worst_int8 = fmaxf(worst_int8, (float)fabs(y8[i] - expected));
  }
  // Weight-only: float rounding only, within γ_70·Σ(|s|q + |m|)|x| < 70·2^-24·64·3 < 1e-3.
  // Int8 adds the activations' rounding, |x - x^| <= max|x|/254: at most 64/254 < 0.26.
  check(worst_weight_only < 1e-3f, "weight-only product equals x * W^T up to float rounding");
  check(worst_int8 < 0.26f, "int8 product within the activations' rounding");
  check(ah_qmatrix_describe((ah_qmatrix *)tensor, &qinfo) == AH_ERROR_INVALID_HANDLE, "a tensor is not a matrix");
  check(ah_qmatrix_free(matrix) == AH_OK && ah_qmatrix_free(matrix) == AH_ERROR_INVALID_HANDLE, "matrix freed once");
  check(ah_tensor_free(tensor) == AH_OK, "tensor freed");

  // An HNSW index of 100 points on a line; ids 0...99 by default.
  ah_index *index = NULL;
  check(ah_index_create(engine, AH_INDEX_HNSW, 2, AH_METRIC_L2, AH_STORAGE_F32, 0, 16, 100, 0, 42, &index) == AH_OK,
        "HNSW index created");
  float points[200];
  for (int i = 0; i < 100; i++) {
    points[2 * i] = (float)i;
    points[2 * i + 1] = 0;
  }
  int64_t progress[2] = {-1, -1};
  check(ah_index_add_with_progress(index, points, 100, 2, NULL, NULL, last_progress, progress) == AH_OK
          && progress[0] == 100 && progress[1] == 100, "100 vectors added, progress reported up to 100 of 100");
  int64_t live = 0, listed[100];
  check(ah_index_ids(index, NULL, 0, &live) == AH_OK && live == 100
          && ah_index_ids(index, listed, 100, &live) == AH_OK && listed[0] == 0 && listed[99] == 99,
        "ids listed: 0 ... 99");
  const float query[2] = {10.2f, 0};
  float distances[3];
  int64_t ids[3];
  check(ah_index_search(index, query, 1, 2, 3, 0, -1, 1, NULL, 0, NULL, NULL, distances, ids) == AH_OK
          && ids[0] == 10 && ids[1] == 11 && ids[2] == 9, "nearest to 10.2: 10, 11, 9");
  check(ah_index_search(index, query, 1, 2, 3, 0, -1, 1, NULL, 0, even_ids, NULL, distances, ids) == AH_OK
          && ids[0] == 10 && ids[1] == 12 && ids[2] == 8, "even ids only: 10, 12, 8");
  const int64_t gone[1] = {10};
  check(ah_index_remove(index, gone, 1) == AH_OK, "id 10 removed");
  check(ah_index_save(index, path) == AH_OK, "index saved");

  ah_index *loaded = NULL;
  int64_t count = 0;
  check(ah_index_load(engine, path, 0, &loaded) == AH_OK && ah_index_count(loaded, &count) == AH_OK && count == 99,
        "index loaded back with 99 vectors");
  check(ah_index_search(loaded, query, 1, 2, 1, 0, -1, 1, NULL, 0, NULL, NULL, distances, ids) == AH_OK && ids[0] == 11,
        "nearest after removal: 11");

  // Errors are status codes with a message, never crashes.
  check(ah_index_search(loaded, query, 1, 3, 1, 0, -1, 1, NULL, 0, NULL, NULL, distances, ids)
          == AH_ERROR_INVALID_ARGUMENT, "wrong dimension is AH_ERROR_INVALID_ARGUMENT");
  printf("     message: %s\n", ah_last_error());
  check(ah_index_free(index) == AH_OK, "index freed");
  check(ah_index_count(index, &count) == AH_ERROR_INVALID_HANDLE, "a freed handle is AH_ERROR_INVALID_HANDLE");
  printf("     message: %s\n", ah_last_error());
  check(ah_index_free(index) == AH_ERROR_INVALID_HANDLE, "freeing twice is AH_ERROR_INVALID_HANDLE");
  check(ah_index_count((ah_index *)engine, &count) == AH_ERROR_INVALID_HANDLE, "an engine is not an index");
  check(ah_index_load(engine, "/nonexistent/x.ahi", 0, &index) == AH_ERROR_IO, "a missing file is AH_ERROR_IO");

  // Sentence embeddings with a sentence-transformers model, if a folder was given.
  ah_encoder *encoder = NULL;
  check(ah_encoder_load(engine, "/nonexistent/model", "f32", &encoder) == AH_ERROR_IO, "a missing model folder is AH_ERROR_IO");
  if (argc > 2) {
    check(ah_encoder_load(engine, argv[2], "f32", &encoder) == AH_OK, "encoder loaded");
    ah_encoder_info facts;
    check(ah_encoder_describe(encoder, &facts) == AH_OK && facts.dimension > 0 && facts.normalized == 1,
          "encoder described (normalised embeddings)");
    printf("     dimension %lld, max length %lld tokens\n", (long long)facts.dimension, (long long)facts.max_length);
    const char *texts[3] = {"A man is eating food.", "A man is eating a piece of bread.", "The stock market fell today."};
    float *embeddings = malloc(sizeof(float) * 3 * (size_t)facts.dimension);  // ours: rows x dimension
    check(embeddings != NULL && ah_encoder_encode(encoder, texts, NULL, 3, 0, 0, embeddings, 3 * facts.dimension) == AH_OK,
          "3 texts encoded");
    float same = 0, other = 0;  // unit vectors: the dot product is the cosine
    for (int64_t j = 0; embeddings != NULL && j < facts.dimension; j++) {
      same += embeddings[j] * embeddings[facts.dimension + j];
      other += embeddings[j] * embeddings[2 * facts.dimension + j];
    }
    printf("     cosine(eating, eating bread) = %.3f, cosine(eating, stock market) = %.3f\n", same, other);
    check(same > other, "the paraphrase is nearer than the unrelated sentence");
    free(embeddings);
    check(ah_encoder_free(encoder) == AH_OK, "encoder freed");
  } else {
    printf("     (no model folder given: sentence embeddings skipped)\n");
  }

  check(ah_index_free(loaded) == AH_OK && ah_engine_free(engine) == AH_OK, "everything freed");
  remove(path);
  printf("%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
