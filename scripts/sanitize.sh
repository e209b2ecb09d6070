#!/usr/bin/env bash
# Builds and runs the test suite under a sanitizer, in its own build folder
# (.build-asan / .build-tsan), so that the ordinary build is left alone.
#
#   scripts/sanitize.sh asan                 # AddressSanitizer, whole suite
#   scripts/sanitize.sh tsan                 # ThreadSanitizer, whole suite
#   scripts/sanitize.sh tsan --concurrency   # only the threaded suites: parallel HNSW builds
#                                            # and searches, the fork-join pool, copy/map loads,
#                                            # atomic writes, quantized products and the
#                                            # quantizer on threads, the C ABI, the encoders,
#                                            # concurrent dispatch calibration
#   scripts/sanitize.sh ubsan                # UndefinedBehaviorSanitizer on the C targets
#                                            # (the quantized-product kernels, the CPU probe,
#                                            # the thread pool); swiftc has no -sanitize=undefined
#                                            # on Linux, and Swift code traps on overflow and
#                                            # out-of-range conversions in a debug build anyway
#   scripts/sanitize.sh asan --filter Regex  # any `swift test` arguments
#
# Any report makes the run fail (halt_on_error). Leak checking is off: the Swift runtime's
# caches and the test runner hold memory to the end by design.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The real model the MiniLM tests need (ARROWHEAD_MINILM), as scripts/test.sh installs it:
# without it those tests skip, and the encoder's and the C ABI's model paths run unchecked.
source scripts/test_data.sh
kind="${1:-}"
shift || true
case "$kind" in
  asan) flags=(--sanitize=address); export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:${ASAN_OPTIONS:-}" ;;
  tsan) flags=(--sanitize=thread); export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}" ;;
  ubsan) flags=(); export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}" ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan|ubsan [--concurrency] [swift test arguments]" >&2; exit 2 ;;
esac
arguments=()
for argument in "$@"; do
  if [ "$argument" = --concurrency ]; then
    arguments+=(--filter "HNSW|Parallel|FlatIndex|Persistence|ArrowheadIOTests|Reachability|QuantizedStorage|QuantizedMatmulTests|QuantizedMatrixTests|TextEncodingTests|StreamingEncodingTests|ArrowheadCTests|QuantizedEncoderTests|ConcurrentCalibrationTests|CalibrationOrderTests|DispatchCacheTests|ClippingSearchTests|GPTQTests|QuantizerAgreementTests|ForwardPassTests")
  else
    arguments+=("$argument")
  fi
done
scratch=".build-$kind"
echo "sanitize: $kind build in $scratch" >&2
build_flags=("${flags[@]}")
if [ "$kind" = ubsan ]; then
  # Every check, none recoverable (a report stops the process), and clang's runtime from the
  # Swift toolchain linked into the test binary.
  runtime="$(dirname "$(readlink -f "$(command -v swiftc)")")/../lib/swift/clang/lib/linux/libclang_rt.ubsan_standalone-$(uname -m).a"
  if [ ! -f "$runtime" ]; then
    echo "sanitize: no UBSan runtime at $runtime" >&2
    exit 1
  fi
  build_flags=(-Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined -Xlinker "$runtime" -Xlinker -lstdc++)
fi
swift build --build-tests --scratch-path "$scratch" "${build_flags[@]}"
swift test --skip-build --scratch-path "$scratch" ${flags[@]+"${flags[@]}"} ${arguments[@]+"${arguments[@]}"}
