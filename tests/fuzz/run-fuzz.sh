#!/bin/sh
# SPDX-License-Identifier: MIT
# Bounded libFuzzer run of the codec from a fresh seed corpus; exits with the
# fuzzer's status. Usage: run-fuzz.sh FUZZER GEN_CORPUS ARTIFACT_DIR
set -eu

fuzzer=$1
gen=$2
artifacts=$3
seconds=${TETHER_FUZZ_SECONDS:-60}

corpus=$(mktemp -d "${TMPDIR:-/tmp}/tether-fuzz.XXXXXX")
trap 'rm -rf "$corpus"' EXIT
trap 'exit 1' INT TERM

"$gen" "$corpus"

# A sanitizer report must end the run as a failure, not scroll past.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}

# libFuzzer reports a crash with 77 by default, which meson reads as SKIP:
# ask for 1 instead, and never let 77 through. Crash reproducers land in
# ARTIFACT_DIR so they outlive the temp corpus.
status=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$artifacts/" "$corpus" || status=$?
[ "$status" -eq 77 ] && status=1
exit "$status"
