/*
 * arrowhead.h — the C ABI of Arrowhead (library product `ArrowheadC`, libArrowheadC.so).
 *
 * A small, stable C interface over the Swift engine: hardware probe, gemm, distance
 * matrices, weight quantization (one tensor or a whole safetensors model), products
 * computed on quantized weights, nearest-neighbour indexes (flat and HNSW), and sentence
 * embeddings of texts (a sentence-transformers text encoder). No Swift type crosses it:
 * only C scalars, pointers to caller-owned buffers, UTF-8 strings and opaque handles.
 *
 * CONVENTIONS (they hold for every function below unless its comment says otherwise)
 *
 * Status. Every function that can fail returns an ah_status: AH_OK (0) on success, a
 *   positive AH_ERROR_* code otherwise. After a failure, ah_last_error() returns a one-line
 *   message naming what was wrong (argument, shape, file, offset). Out-parameters are
 *   written only on success.
 *
 * Handles. ah_engine, ah_index, ah_tensor, ah_qmatrix and ah_encoder are opaque: a handle
 *   is a token, never a pointer to memory, and must not be dereferenced. Each kind is created
 *   by the functions of its part (ah_engine_create; ah_index_create / ah_index_create_hnsw /
 *   ah_index_load; ah_quantize / ah_tensor_create / ah_tensor_create_from_codes /
 *   ah_qmatrix_tensor; ah_qmatrix_create / ah_qmatrix_load; ah_encoder_load / _load_with) and
 *   released by its *_free function; the caller owns it until then. Every call validates
 *   its handles: NULL, a handle of another kind, a freed handle or a garbage value yields
 *   AH_ERROR_INVALID_HANDLE, never a crash (handles carry a kind tag, a slot and a
 *   generation that changes when the slot is freed, so a stale handle never reaches a new
 *   object). Freeing NULL is a no-op (AH_OK); freeing twice is AH_ERROR_INVALID_HANDLE.
 *   A handle may be freed while another thread still uses it: the object lives until the
 *   running call returns. Requires 64-bit pointers.
 *
 * Buffers. Input buffers (const pointers) are borrowed for the duration of the call only:
 *   the library never keeps a pointer after it returns and never writes to them. Output
 *   buffers are allocated by the caller with the capacity the function names; the library
 *   writes exactly that many elements and checks the capacity you pass. Matrices are
 *   row-major float32 with a leading dimension (the distance in elements between the
 *   starts of consecutive rows, >= the row length). Strings returned through `char **`
 *   are allocated by the library and owned by the caller: release them with
 *   ah_string_free. Strings returned as `const char *` are owned by the library.
 *
 * Threads. Every function may be called from any thread. Indexes synchronise themselves:
 *   searches run concurrently; add/remove wait for running searches (the lock prefers
 *   readers, so a search's filter may call read-only functions of its index; a steady
 *   stream of searches from other threads delays an add/remove until a pause). Kernels use the
 *   engine's threads (ARROWHEAD_THREADS, or the count given to ah_engine_create).
 *
 * Values. Counts, dimensions and ids are int64_t; a negative count is
 *   AH_ERROR_INVALID_ARGUMENT. Index and quantizer inputs must be finite (NaN/±inf:
 *   AH_ERROR_NON_FINITE naming row and column); the vectors and queries of an L2 or
 *   inner-product index must also have squared norms <= FLT_MAX / 4 (elements up to about
 *   1e18), or their distances could overflow (AH_ERROR_INVALID_ARGUMENT naming the row);
 *   gemm and distances follow IEEE semantics like BLAS (NaN propagates).
 */
#ifndef ARROWHEAD_H
#define ARROWHEAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this interface; ah_abi_version() returns the library's. A program
 *  built against version N runs with any library whose ABI version is N. Version 2:
 *  ah_index_info gained `layer0_links`; ah_hnsw_options and ah_index_create_hnsw. */
#define AH_ABI_VERSION 2

/* ---------------------------------------------------------------------------------- */
/* Status codes and errors                                                              */
/* ---------------------------------------------------------------------------------- */

/** The result of a call: AH_OK or one of the AH_ERROR_* codes. */
typedef int32_t ah_status;

enum {
  AH_OK = 0,
  /** A value, shape, dimension, count, id list, option or capacity is invalid. */
  AH_ERROR_INVALID_ARGUMENT = 1,
  /** A handle is NULL, of another kind, freed, or not an Arrowhead handle at all. */
  AH_ERROR_INVALID_HANDLE = 2,
  /** An input that must be finite holds NaN or ±inf (vectors, weights, a model's tensors),
   *  or GPTQ's error feedback carried a weight past the Float32 range. */
  AH_ERROR_NON_FINITE = 3,
  /** No live vector has the given id. */
  AH_ERROR_NOT_FOUND = 4,
  /** The index holds no live vector, so there is nothing to search. */
  AH_ERROR_EMPTY_INDEX = 5,
  /** A file could not be opened, read or written. */
  AH_ERROR_IO = 6,
  /** A file is not in the expected format, or its contents are corrupted. */
  AH_ERROR_CORRUPT_FILE = 7,
  /** The operation is not supported in this build or for these arguments. */
  AH_ERROR_UNSUPPORTED = 8,
  /** A filter callback asked to abort the search (it returned a negative value). */
  AH_ERROR_CALLBACK = 9,
  /** A numerical routine failed (e.g. a kernel rejected validated input). */
  AH_ERROR_INTERNAL = 10
};

/** The message of the last failing call on the calling thread ("" if none has failed).
 *  Owned by the library; valid until the next failing call on the same thread. Successful
 *  calls leave it unchanged (like errno). */
const char *ah_last_error(void);

/** The status code of the last failing call on the calling thread (AH_OK if none). */
ah_status ah_last_status(void);

/** A static name for a status code ("AH_ERROR_NOT_FOUND"; "AH_UNKNOWN" otherwise). */
const char *ah_status_name(ah_status status);

/** Releases a string the library returned through a `char **` parameter. NULL is ignored. */
void ah_string_free(char *string);

/** The library's version, e.g. "0.1.0" (static; never free). */
const char *ah_version(void);

/** The ABI version of the library (compare with AH_ABI_VERSION). */
int32_t ah_abi_version(void);

/* ---------------------------------------------------------------------------------- */
/* Engine: backend selection and threads                                                */
/* ---------------------------------------------------------------------------------- */

/** An engine: the dispatch table (which backend runs each kernel) and a thread count. */
typedef struct ah_engine ah_engine;

/** Creates an engine. `backend`: NULL for automatic selection (or ARROWHEAD_BACKEND), else
 *  a backend name such as "openblas" or "reference" (unknown or not runnable on this CPU:
 *  AH_ERROR_INVALID_ARGUMENT listing the valid names). `threads`: 0 for ARROWHEAD_THREADS or
 *  all logical cores, else the thread count (>= 1; more than 256, the worker pool's size,
 *  run as 256: ah_engine_threads reports the count used). Free with ah_engine_free. */
ah_status ah_engine_create(const char *backend, int32_t threads, ah_engine **engine);

/** Releases an engine. Indexes created with it keep working (they hold their own copy). */
ah_status ah_engine_free(ah_engine *engine);

/** The thread count the engine's kernels use. */
ah_status ah_engine_threads(const ah_engine *engine, int32_t *threads);

/** What `arrowhead probe --json` prints for this engine: CPU, features, backends compiled
 *  and runnable, and the backend chosen per operation and size, as compact JSON. The string
 *  is the caller's: release it with ah_string_free. */
ah_status ah_probe_json(const ah_engine *engine, char **json);

/* ---------------------------------------------------------------------------------- */
/* Kernels                                                                              */
/* ---------------------------------------------------------------------------------- */

/** C <- alpha * op(A) * op(B) + beta * C (row-major, like cblas_sgemm with CblasRowMajor).
 *  op(A) is m x k and op(B) k x n; A is stored m x k (lda >= k) when transpose_a is 0 and
 *  k x m (lda >= m) when it is 1; likewise B. C is m x n (ldc >= n); beta = 0 means C is
 *  not read. Runs on the engine's threads and its fastest gemm kernel. */
ah_status ah_gemm(const ah_engine *engine, int32_t transpose_a, int32_t transpose_b,
                  int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc);

/** Metrics of ah_distances and indexes. */
enum {
  /** Squared Euclidean distance |q - x|^2 (smaller is nearer). */
  AH_METRIC_L2 = 0,
  /** Inner product q.x (larger is nearer). */
  AH_METRIC_INNER_PRODUCT = 1,
  /** Cosine similarity q.x / (|q| |x|), 0 when either is zero (larger is nearer). */
  AH_METRIC_COSINE = 2
};

/** out[i * ldo + j] = metric(query i, base row j) for `queries` x `base` pairs of
 *  `dimension`-long row vectors (q: queries x dimension, ldq >= dimension; x: base x
 *  dimension, ldx >= dimension; out: queries x base, ldo >= base). */
ah_status ah_distances(const ah_engine *engine, int32_t metric, int64_t queries, int64_t base,
                       int64_t dimension, const float *q, int64_t ldq, const float *x,
                       int64_t ldx, float *out, int64_t ldo);

/* ---------------------------------------------------------------------------------- */
/* Quantized tensors                                                                    */
/* ---------------------------------------------------------------------------------- */

/** A quantized tensor: packed codes, per-group scales and offsets, shape and scheme. */
typedef struct ah_tensor ah_tensor;

/** Which weights share one scale. A tensor of shape [d0, d1, ...] is a matrix of d0 rows by
 *  d1*d2*... columns (a 1-D tensor is one row, a 0-D tensor one element); groups never
 *  straddle rows. */
enum {
  AH_GRANULARITY_GROUP = 0,   /* `group_size` consecutive weights of a row (8 ... 8192) */
  AH_GRANULARITY_CHANNEL = 1, /* one scale per row */
  AH_GRANULARITY_TENSOR = 2   /* one scale for the whole tensor */
};

/** How a code q maps back to a value. */
enum {
  AH_MODE_FLOAT_MINIMUM = 0, /* x = q*s + m, m a float minimum */
  AH_MODE_ZERO_POINT = 1,    /* x = (q - z)*s, z an integer zero-point */
  AH_MODE_SYMMETRIC = 2      /* x = (q - 2^(bits-1))*s, s of either sign */
};

/** Quantizes `values` (row-major float32, the product of `shape` elements; `ndim` 0 ... 32)
 *  to `bits` (2, 3, 4 or 8) per weight. `optimizer`: NULL or "minmax", "grid", "hqq", or
 *  "signed-max" (AH_MODE_SYMMETRIC only: every code in use, ggml Q4_0's rule; negative
 *  scales where a group's larger extreme is positive);
 *  `optimizer_settings`: NULL or a JSON object of settings (e.g. {"steps": 5} for grid,
 *  {"iterations": 20} for hqq; values may be strings or numbers). Codes are identical to
 *  what `arrowhead quantize` writes for the same tensor and options. Free the result with
 *  ah_tensor_free. */
ah_status ah_quantize(const ah_engine *engine, const float *values, const int64_t *shape,
                      int32_t ndim, int32_t bits, int32_t granularity, int64_t group_size,
                      int32_t mode, const char *optimizer, const char *optimizer_settings,
                      ah_tensor **tensor);

/** Makes a quantized tensor from its stored parts, as ah_tensor_packed_codes, ah_tensor_scales
 *  and ah_tensor_offsets return them (what pickling a tensor keeps) or as another quantizer
 *  produced them: `packed_codes` (`packed_bytes` bytes: each row a little-endian bit stream
 *  of `bits`-bit codes padded to a byte), `scales` and `offsets` (`group_count` float32 each,
 *  in the order of ah_tensor_scales; offsets as ah_tensor_offsets describes them). The
 *  scheme arguments are those of ah_quantize. Everything is checked before a tensor exists:
 *  byte and group counts against the shape and scheme, each group's parameters (finite;
 *  scale >= 0 except for SYMMETRIC; zero-points integral and within 0 ... 2^bits - 1;
 *  every code dequantizing to a finite value), and a group with scale 0 holding only the
 *  code the quantizer writes for one. A wrong part is AH_ERROR_INVALID_ARGUMENT naming
 *  it (the group, the expected and actual counts). The parts are copied. Free the result
 *  with ah_tensor_free. */
ah_status ah_tensor_create(const ah_engine *engine, const int64_t *shape, int32_t ndim, int32_t bits,
                           int32_t granularity, int64_t group_size, int32_t mode,
                           const uint8_t *packed_codes, int64_t packed_bytes, const float *scales,
                           const float *offsets, int64_t group_count, ah_tensor **tensor);

/** As ah_tensor_create, from one unpacked code per weight (`count` bytes, row-major, each
 *  below 2^bits: what ah_tensor_codes returns, or a GPTQ/AWQ export's integer codes) instead
 *  of the packed stream. A code too large for `bits` is AH_ERROR_INVALID_ARGUMENT naming its
 *  flat index. */
ah_status ah_tensor_create_from_codes(const ah_engine *engine, const int64_t *shape, int32_t ndim,
                                      int32_t bits, int32_t granularity, int64_t group_size,
                                      int32_t mode, const uint8_t *codes, int64_t count,
                                      const float *scales, const float *offsets,
                                      int64_t group_count, ah_tensor **tensor);

/** Facts about a quantized tensor. */
typedef struct ah_tensor_info {
  int32_t bits;          /* 2, 3, 4 or 8 */
  int32_t granularity;   /* AH_GRANULARITY_* */
  int32_t mode;          /* AH_MODE_* */
  int32_t ndim;          /* entries of the shape (ah_tensor_shape) */
  int64_t group_size;    /* weights per group (columns for CHANNEL, count for TENSOR) */
  int64_t count;         /* weights */
  int64_t rows;          /* d0 (1 for 0-D and 1-D tensors) */
  int64_t columns;       /* d1*d2*... */
  int64_t group_count;   /* scales (= offsets) */
  int64_t packed_bytes;  /* bytes of packed codes (rows of ceil(columns*bits/8) bytes) */
  int64_t stored_bytes;  /* packed codes + parameters as stored in a file */
} ah_tensor_info;

/** Fills `info`. */
ah_status ah_tensor_describe(const ah_tensor *tensor, ah_tensor_info *info);

/** Writes the shape (info.ndim values) into `shape`, which holds `capacity` values. */
ah_status ah_tensor_shape(const ah_tensor *tensor, int64_t *shape, int64_t capacity);

/** Writes the dequantized tensor (info.count float32, row-major) into `out`. */
ah_status ah_tensor_dequantize(const ah_tensor *tensor, float *out, int64_t capacity);

/** Writes one unpacked code per weight (info.count bytes, row-major) into `out`. */
ah_status ah_tensor_codes(const ah_tensor *tensor, uint8_t *out, int64_t capacity);

/** Writes the packed codes (info.packed_bytes bytes; each row a little-endian bit stream
 *  padded to a byte) into `out`. */
ah_status ah_tensor_packed_codes(const ah_tensor *tensor, uint8_t *out, int64_t capacity);

/** Writes the scales (info.group_count float32; group = row * groups_per_row +
 *  column / group_size) into `out`. */
ah_status ah_tensor_scales(const ah_tensor *tensor, float *out, int64_t capacity);

/** Writes the offsets (info.group_count float32: float minima for FLOAT_MINIMUM, integral
 *  zero-points for ZERO_POINT, 2^(bits-1) for SYMMETRIC) into `out`. */
ah_status ah_tensor_offsets(const ah_tensor *tensor, float *out, int64_t capacity);

/** Releases a quantized tensor. */
ah_status ah_tensor_free(ah_tensor *tensor);

/* ---------------------------------------------------------------------------------- */
/* Quantized matrices: products computed on the codes                                   */
/* ---------------------------------------------------------------------------------- */

/** A quantized weight matrix W^ (rows = outputs x columns = inputs), repacked once into the
 *  layout of the quantized-matmul kernels, which compute y = x * W^T (+ bias) on the codes,
 *  never expanding W^ to float32 (a linear layer: torch.nn.functional.linear(x, W^, bias)).
 *  Immutable: one matrix may be multiplied from several threads at once. */
typedef struct ah_qmatrix ah_qmatrix;

/** How ah_qmatrix_matmul treats the activations x (Sources/ArrowheadQuant/README.md,
 *  "Quantized matmul"). */
enum {
  /** float32 x (W8A32 / W4A32): y is x * W^T up to float32 rounding; the only error is the
   *  weights'. The default to reach for. */
  AH_QMATMUL_WEIGHT_ONLY = 0,
  /** x rounded to int8 per (row, weight group), integer dot products (AVX512-VNNI
   *  vpdpbusd, AVX2 vpmaddubsw): fastest on batches; adds the activations' rounding
   *  (|x - x^| <= max|x in the group| / 254). */
  AH_QMATMUL_INT8 = 1,
  /** x rounded to two int8 digits per (row, weight group), about 16 bits: the weight-only
   *  error at twice the integer work of INT8. */
  AH_QMATMUL_INT16 = 2
};

/** Repacks `tensor` (seen as info.rows x info.columns; a 1-D tensor is one row) for
 *  ah_qmatrix_matmul. Per-channel and per-tensor scales become one group per row;
 *  symmetric codes the zero-point form with z = 2^(bits-1). The repacked matrix holds 4
 *  bits per weight for 2-, 3- and 4-bit codes, 8 for 8-bit, and two floats per (row,
 *  group) (ah_qmatrix_info.bytes); it is independent of `tensor`, which may be freed.
 *  Free the result with ah_qmatrix_free. */
ah_status ah_qmatrix_create(const ah_engine *engine, const ah_tensor *tensor, ah_qmatrix **matrix);

/** The weights of `matrix` as a rows x columns quantized tensor: the inverse of
 *  ah_qmatrix_create, so that ah_qmatrix_create of the result multiplies exactly as `matrix`
 *  does. Its granularity is GROUP (the matrix's group size) or CHANNEL where a group spans
 *  a row (what per-channel and per-tensor tensors became); its mode FLOAT_MINIMUM or
 *  ZERO_POINT as ah_qmatrix_info.mode says, or SYMMETRIC where every zero-point is
 *  2^(bits-1) (what a symmetric tensor became; its scales may be negative). Use it to save
 *  or send a matrix as its parts (ah_tensor_packed_codes, ...). Free the result with
 *  ah_tensor_free. */
ah_status ah_qmatrix_tensor(const ah_engine *engine, const ah_qmatrix *matrix, ah_tensor **tensor);

/** Loads the quantized tensor `name` of an Arrowhead quantized safetensors file (what
 *  ah_quantize_model and `arrowhead quantize` write), verifying its checksums, and repacks it
 *  as ah_qmatrix_create does. A missing file is AH_ERROR_IO; a file that is not an Arrowhead
 *  quantized file, or is corrupted, AH_ERROR_CORRUPT_FILE; a name the file does not hold as
 *  a quantized tensor (absent, or kept in floating point) AH_ERROR_INVALID_ARGUMENT, the
 *  message listing some names it does hold. */
ah_status ah_qmatrix_load(const ah_engine *engine, const char *path, const char *name, ah_qmatrix **matrix);

/** Facts about a quantized matrix. */
typedef struct ah_qmatrix_info {
  int32_t bits;       /* 2, 3, 4 or 8 */
  int32_t mode;       /* AH_MODE_FLOAT_MINIMUM or AH_MODE_ZERO_POINT (symmetric tensors are
                         held as zero-points) */
  int64_t rows;       /* outputs: the length of a row of y */
  int64_t columns;    /* inputs: the length of a row of x */
  int64_t group_size; /* inputs sharing one scale (columns for per-channel and per-tensor) */
  int64_t bytes;      /* bytes of the repacked codes and parameters */
} ah_qmatrix_info;

/** Fills `info`. */
ah_status ah_qmatrix_describe(const ah_qmatrix *matrix, ah_qmatrix_info *info);

/** y = x * W^T (+ bias) for `m` rows of activations: x is m x info.columns (ldx >=
 *  info.columns), y is m x info.rows (ldy >= info.rows; only those elements are written),
 *  `bias` NULL or info.rows floats. `mode`: AH_QMATMUL_*. `threads`: 0 for the engine's;
 *  results do not depend on it. Non-finite activations are not an error: NaN or inf in a
 *  row of x makes that row's outputs NaN or inf, never a trap or a hang. m = 0 writes
 *  nothing. The engine's backend (ARROWHEAD_BACKEND, ah_engine_create) chooses the
 *  kernel: every backend gives results within the bounds of the README. */
ah_status ah_qmatrix_matmul(const ah_engine *engine, const ah_qmatrix *matrix, int32_t mode, int64_t m,
                            const float *x, int64_t ldx, const float *bias, int32_t threads, float *y,
                            int64_t ldy);

/** Releases a quantized matrix. */
ah_status ah_qmatrix_free(ah_qmatrix *matrix);

/** Quantizes a safetensors model (a file, a sharded model's index.json, or a directory) into
 *  an Arrowhead quantized safetensors file written atomically at `output`, as
 *  `arrowhead quantize` does. `options`: NULL or a JSON object (keys in
 *  Sources/ArrowheadC/README.md: bits, group, granularity, mode, optimizer,
 *  optimizer_options, budget, keep, fallback, time_groups, calibration, ...). On success
 *  `report` receives the report as JSON (what `arrowhead quantize --json` prints); release it
 *  with ah_string_free. */
ah_status ah_quantize_model(const ah_engine *engine, const char *input, const char *output,
                            const char *options, char **report);

/* ---------------------------------------------------------------------------------- */
/* Nearest-neighbour indexes                                                            */
/* ---------------------------------------------------------------------------------- */

/** A flat (exact) or HNSW (approximate) index of float32 vectors with int64 ids. */
typedef struct ah_index ah_index;

enum { AH_INDEX_FLAT = 0, AH_INDEX_HNSW = 1 };
enum { AH_STORAGE_F32 = 0, AH_STORAGE_INT8 = 1, AH_STORAGE_INT4 = 2 };

/** Creates an empty index of `dimension` (1 ... 65536) values per vector. `storage`:
 *  AH_STORAGE_*; `rerank` != 0 keeps a float32 copy of quantized vectors to re-score the
 *  best candidates exactly. HNSW only (ignored for flat): `m` links per node (0: 16),
 *  `ef_construction` (0: 200), `ef_search` default candidate list (0: 64), `seed` of the
 *  level generator. The index uses `engine`'s kernels and threads. Free with ah_index_free. */
ah_status ah_index_create(const ah_engine *engine, int32_t kind, int64_t dimension,
                          int32_t metric, int32_t storage, int32_t rerank, int64_t m,
                          int64_t ef_construction, int64_t ef_search, uint64_t seed,
                          ah_index **index);

/** Every HNSW construction option, for ah_index_create_hnsw. Fill it with
 *  ah_hnsw_options_init (which sets `struct_size` and every default), then change the fields
 *  you need: a later version may append fields, and `struct_size` tells it which exist. */
typedef struct ah_hnsw_options {
  int64_t struct_size;         /* sizeof(ah_hnsw_options), set by ah_hnsw_options_init */
  int64_t m;                   /* links per node above layer 0, 2 ... 2048 (16); 2m on layer 0 */
  int64_t ef_construction;     /* candidates while inserting, 1 ... 2^20 (200) */
  int64_t ef_search;           /* default candidate list of searches (64) */
  uint64_t seed;               /* of the level generator (42): a 1-thread build is deterministic */
  int64_t layer0_links;        /* neighbours a new node keeps on layer 0, 1 ... 2m;
                                  0 (default): 3m/2. hnswlib keeps m, faiss 2m. Saved with
                                  the index, so later adds to a loaded index keep it. */
  int32_t reuse_deleted_slots; /* != 0: adds fill slots freed by removals (hnswlib's
                                  replace_deleted), so memory does not grow under churn (0) */
  int32_t build_threads;       /* threads of an add, 0 (default): the engine's */
} ah_hnsw_options;

/** Sets `options` to the defaults (the values in parentheses above) and `struct_size`. */
ah_status ah_hnsw_options_init(ah_hnsw_options *options);

/** Creates an empty HNSW index with every option of ah_hnsw_options (ah_index_create
 *  covers the common ones). `options`: NULL for the defaults. A value out of range is
 *  AH_ERROR_INVALID_ARGUMENT naming the field; a `struct_size` smaller than the fields
 *  this library reads, or not set by ah_hnsw_options_init, too. */
ah_status ah_index_create_hnsw(const ah_engine *engine, int64_t dimension, int32_t metric,
                               int32_t storage, int32_t rerank, const ah_hnsw_options *options,
                               ah_index **index);

/** Releases an index (a search running on another thread finishes first). */
ah_status ah_index_free(ah_index *index);

/** Adds `count` vectors (row-major, count x dimension; `dimension` must be the index's).
 *  `ids`: NULL for automatic ids (continuing from the largest id so far), else `count`
 *  unique ids not already in the index, none of them -1 (reserved: searches write it where
 *  they found fewer than k neighbours). `assigned`: NULL, or room for `count` ids, which
 *  receives the ids given. Everything is validated first: on failure the index is
 *  unchanged. */
ah_status ah_index_add(ah_index *index, const float *vectors, int64_t count, int64_t dimension,
                       const int64_t *ids, int64_t *assigned);

/** Progress of a long call: `done` of `total` items so far. Called from the library's worker
 *  threads, one call at a time, with `done` increasing, at most about 200 times per call
 *  (an HNSW add: every 256 to 1 024 vectors) and always once with done == total. It must not call functions on the object being
 *  changed (the call holds its lock: they would wait forever). */
typedef void (*ah_progress_fn)(int64_t done, int64_t total, void *context);

/** ah_index_add, reporting progress to `progress` (with `context`; NULL: none). An HNSW
 *  index reports vectors as they are linked into the graph; a flat index once, at the end.
 *  On a validation failure nothing is added and `progress` is not called. */
ah_status ah_index_add_with_progress(ah_index *index, const float *vectors, int64_t count,
                                     int64_t dimension, const int64_t *ids, int64_t *assigned,
                                     ah_progress_fn progress, void *context);

/** A search filter: returns 1 to accept `id`, 0 to reject it, a negative value to abort the
 *  search (the search then fails with AH_ERROR_CALLBACK). Called during the search, possibly
 *  from several threads at once (a batch search splits queries over threads: pass
 *  threads = 1 for a filter that is not thread-safe). It may call read-only functions of the
 *  index it filters (count, contains, vector); ah_index_add and ah_index_remove on that index
 *  fail with AH_ERROR_INVALID_ARGUMENT (the search holds its lock: they would wait forever). */
typedef int32_t (*ah_filter_fn)(int64_t id, void *context);

/** The k nearest live vectors of each of `count` queries (row-major, count x dimension),
 *  nearest first, into `distances` and `ids` (count x k each). A query with fewer than k
 *  results (fewer live vectors, or a filter rejecting many) gets id -1 and distance +inf
 *  (L2) or -inf (inner product, cosine) in the remaining places. `distances` holds the
 *  metric values: squared L2, inner product, or cosine similarity.
 *  `ef`: HNSW candidate list size (0: the index's default; raised to k). `rerank`: for
 *  quantized storage kept with a float32 copy, candidates re-scored exactly (-1: 4k).
 *  `threads`: 0 for the engine's thread count. Filtering, optional: `mask` of
 *  `mask_length` bytes accepts id i when 0 <= i < mask_length and mask[i] != 0; `filter`
 *  (with `context`) is called for candidate ids. Both may be given (both must accept). */
ah_status ah_index_search(const ah_index *index, const float *queries, int64_t count,
                          int64_t dimension, int64_t k, int64_t ef, int64_t rerank,
                          int32_t threads, const uint8_t *mask, int64_t mask_length,
                          ah_filter_fn filter, void *context, float *distances, int64_t *ids);

/** Removes the vectors with the `count` given ids. All ids are checked first (unknown id:
 *  AH_ERROR_NOT_FOUND, repeated id: AH_ERROR_INVALID_ARGUMENT) and nothing is removed if
 *  one fails; the check and the removal hold the index's lock together, so concurrent
 *  calls each remove all of their ids or none. */
ah_status ah_index_remove(ah_index *index, const int64_t *ids, int64_t count);

/** Live vectors. */
ah_status ah_index_count(const ah_index *index, int64_t *count);

/** Whether a live vector has `id` (writes 1 or 0). */
ah_status ah_index_contains(const ah_index *index, int64_t id, int32_t *contains);

/** The stored vector with `id` (unit-normalised for cosine; decoded for quantized storage)
 *  into `out`, which holds `capacity` >= dimension floats. */
ah_status ah_index_vector(const ah_index *index, int64_t id, float *out, int64_t capacity);

/** The stored vectors with the `count` given ids, row by row, into `out`, which holds
 *  `capacity` >= count * dimension floats. An unknown id is AH_ERROR_NOT_FOUND naming it
 *  (and its position); `out` is then unspecified. */
ah_status ah_index_vectors(const ah_index *index, const int64_t *ids, int64_t count, float *out,
                           int64_t capacity);

/** The ids of the live vectors, in storage order (the order of adding until vectors are
 *  removed: a flat index moves its last vector into a freed slot, an HNSW index that reuses
 *  deleted slots fills them with new vectors): with `ids` NULL and `capacity` 0, writes their number to `*count`;
 *  otherwise, when `capacity` is at least that number, the ids to `ids` and their number
 *  to `*count`, and else AH_ERROR_INVALID_ARGUMENT (nothing written: another thread may
 *  have added vectors since the count was asked; ask again). */
ah_status ah_index_ids(const ah_index *index, int64_t *ids, int64_t capacity, int64_t *count);

/** Facts about an index. */
typedef struct ah_index_info {
  int32_t kind;            /* AH_INDEX_* */
  int32_t metric;          /* AH_METRIC_* */
  int32_t storage;         /* AH_STORAGE_* */
  int32_t rerank;          /* 1 if quantized storage keeps a float32 copy */
  int64_t dimension;
  int64_t count;           /* live vectors */
  int64_t m;               /* HNSW: links per node (0 for flat) */
  int64_t ef_construction; /* HNSW (0 for flat) */
  int64_t ef_search;       /* HNSW default (0 for flat) */
  int64_t memory_bytes;    /* bytes held (vectors, codes, links, ids) */
  int64_t layer0_links;    /* HNSW: neighbours a new node keeps on layer 0 (0 for flat) */
} ah_index_info;

/** Fills `info`. */
ah_status ah_index_describe(const ah_index *index, ah_index_info *info);

/** Saves the index to `path` atomically (temporary file, fsync, rename). */
ah_status ah_index_save(const ah_index *index, const char *path);

/** Loads an index saved by ah_index_save, verifying every checksum. `mmap` != 0 maps the
 *  file (no copy; pages read on demand); 0 copies it into memory (faster graph searches).
 *  A corrupted or truncated file is AH_ERROR_CORRUPT_FILE, a missing one AH_ERROR_IO. */
ah_status ah_index_load(const ah_engine *engine, const char *path, int32_t mmap,
                        ah_index **index);

/* ---------------------------------------------------------------------------------- */
/* Text encoder (sentence-transformers models)                                          */
/* ---------------------------------------------------------------------------------- */

/** A sentence-transformers text encoder (a BERT model, its tokenizer, pooling and
 *  normalisation) held in memory: texts in, one float32 embedding per text out. */
typedef struct ah_encoder ah_encoder;

/** Loads the sentence-transformers model in the folder `model_dir` (modules.json, the
 *  transformer's config.json, model.safetensors and tokenizer files, 1_Pooling/config.json,
 *  sentence_bert_config.json), e.g. all-MiniLM-L6-v2. `weights` names how the matrices are
 *  held: NULL or "f32" (float32), "int8" (INT8 groups of 64 quantized on load, int8
 *  activations: cosine to the float32 embeddings about 0.999 on MiniLM), "int4" (INT4
 *  groups of 64, grid optimizer, int8 activations), "auto" (as the folder holds them: an
 *  Arrowhead quantized model.safetensors runs quantized). A name this build does not
 *  implement is AH_ERROR_UNSUPPORTED, and the message lists the names it does. A missing folder or file is AH_ERROR_IO (the file named), a malformed file or a
 *  tensor of the wrong shape AH_ERROR_CORRUPT_FILE, an unsupported architecture, activation
 *  or pooling mode AH_ERROR_UNSUPPORTED. The encoder runs on `engine`'s kernels and threads
 *  (it keeps its own copy: the engine may be freed). The caller owns the encoder: free it
 *  with ah_encoder_free. One encoder may encode from several threads at once. */
ah_status ah_encoder_load(const ah_engine *engine, const char *model_dir, const char *weights,
                          ah_encoder **encoder);

/** ah_encoder_load choosing how the quantized layers multiply their activations:
 *  `activations` NULL for the default ("int8" for quantized weights), "weight-only" (float32
 *  activations: only the weights' error; slower on batches), "int8" (int8 per row and weight
 *  group) or "int16" (two int8 digits: the weight-only error at twice the int8 work); see
 *  Sources/ArrowheadQuant/README.md, "Quantized matmul". An unknown name, or a name given for
 *  float32 weights (no quantized layer to apply it to), is AH_ERROR_INVALID_ARGUMENT. */
ah_status ah_encoder_load_with(const ah_engine *engine, const char *model_dir, const char *weights,
                               const char *activations, ah_encoder **encoder);

/** Releases an encoder (an encode running on another thread finishes first). */
ah_status ah_encoder_free(ah_encoder *encoder);

/** Facts about an encoder. */
typedef struct ah_encoder_info {
  int64_t dimension;       /* floats per embedding (the row length of ah_encoder_encode) */
  int64_t max_length;      /* tokens read per text, [CLS] and [SEP] included; longer texts
                              are truncated (as sentence-transformers does) */
  int64_t hidden_size;     /* width of the transformer */
  int64_t layers;          /* transformer layers */
  int64_t vocabulary_size; /* token ids 0 ... vocabulary_size - 1 */
  int32_t normalized;      /* 1 if embeddings are scaled to unit length */
  int32_t reserved;        /* 0 */
} ah_encoder_info;

/** Fills `info`. */
ah_status ah_encoder_describe(const ah_encoder *encoder, ah_encoder_info *info);

/** The encoder's weights kind ("f32", ...) as a string the caller owns: release it with
 *  ah_string_free. */
ah_status ah_encoder_weights(const ah_encoder *encoder, char **weights);

/** How the encoder's quantized layers multiply their activations ("weight-only", "int8" or
 *  "int16"; "" when its weights are float32), as a string the caller owns: release it with
 *  ah_string_free. */
ah_status ah_encoder_activations(const ah_encoder *encoder, char **activations);

/** Embeds `count` UTF-8 texts into `out` (row-major, count x info.dimension floats; text i
 *  is row i), which holds `capacity` floats. `texts[i]` is read for `lengths[i]` bytes (a
 *  text may then contain NUL bytes), or up to its terminating NUL when `lengths` is NULL.
 *  Texts and lengths are borrowed for the call only. Invalid UTF-8 is
 *  AH_ERROR_INVALID_ARGUMENT naming the text and the byte offset; an empty text is
 *  accepted (it embeds [CLS] [SEP]). `batch_size`: texts per forward pass (0: 32); texts
 *  are sorted by length before batching, so rows do not depend on it beyond float
 *  rounding. `threads`: 0 for the engine's thread count. Nothing is written on failure. */
ah_status ah_encoder_encode(const ah_encoder *encoder, const char *const *texts,
                            const int64_t *lengths, int64_t count, int64_t batch_size,
                            int32_t threads, float *out, int64_t capacity);

/** ah_encoder_encode, reporting the texts embedded so far to `progress` (with `context`;
 *  NULL: none; see ah_progress_fn), after each batch. On failure the calls stop; nothing
 *  is written to `out`. */
ah_status ah_encoder_encode_with_progress(const ah_encoder *encoder, const char *const *texts,
                                          const int64_t *lengths, int64_t count, int64_t batch_size,
                                          int32_t threads, float *out, int64_t capacity,
                                          ah_progress_fn progress, void *context);

#ifdef __cplusplus
}
#endif

#endif /* ARROWHEAD_H */
