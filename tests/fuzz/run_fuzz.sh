#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time from its seed corpus.
# usage: run_fuzz.sh SOURCE_DIR BUILD_DIR SECONDS
set -euo pipefail
src=$1 out=$2/fuzz seconds=$3
if ! command -v clang++ > /dev/null; then
    echo "SKIPPED: clang++ is not installed (Debian packages clang, libclang-rt-14-dev)"
    exit 0
fi
mkdir -p "$out/corpus-osmo"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I "$src" "$src/tests/fuzz/osmo_parser_fuzz.cpp" "$src/capture/osmo_stream_parser.cpp" \
    -o "$out/osmo_parser_fuzz"
# New inputs the run finds go to a scratch corpus; the committed seeds stay as they are.
"$out/osmo_parser_fuzz" -max_total_time="$seconds" -print_final_stats=1 \
    "$out/corpus-osmo" "$src/tests/fuzz/corpus/osmo"
