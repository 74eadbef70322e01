#!/usr/bin/env bash
# Fuzz smoke run: builds kiln's cargo-fuzz targets (fuzz/) and runs each for a short while
# from its committed corpus (fuzz/corpus/<target>/). Exits non-zero if any target finds a
# crash (panic, overflow, out-of-memory, timeout), printing the reproducer's path. Runs
# from any folder. See fuzz/README.md.
#
# Environment:
#   KILN_FUZZ_SECONDS     seconds per target (default 20)
#   KILN_FUZZ_TARGETS     targets to run, space-separated (default: all five)
#   KILN_FUZZ_TARGET_DIR  cargo target folder (default ~/.cache/kiln-fuzz-target)
#   KILN_FUZZ_SANITIZER   address (default) or none
#   KILN_FUZZ_KEEP        a folder: keep the inputs libFuzzer adds there, one folder per
#                         target, and each target's log (default: both are thrown away;
#                         the committed corpus is never written to)
#   KILN_FUZZ_STABLE=1    use the default toolchain even where a nightly is installed
#   CARGO_BUILD_JOBS      parallel compile jobs (default 2)
#
# Toolchain: `cargo +nightly` where rustup has a nightly; otherwise the default (stable)
# toolchain with RUSTC_BOOTSTRAP=1, which lets it take the `-Zsanitizer=address` flag
# cargo-fuzz passes (with KILN_FUZZ_SANITIZER=none it passes no unstable flag, and plain
# stable builds). Either way the targets build in release mode with debug assertions and
# overflow checks on (cargo-fuzz's default).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${KILN_FUZZ_SECONDS:-20}"
read -r -a targets <<<"${KILN_FUZZ_TARGETS:-pipeline idx cifar csv checkpoint}"
sanitizer="${KILN_FUZZ_SANITIZER:-address}"
export CARGO_TARGET_DIR="${KILN_FUZZ_TARGET_DIR:-$HOME/.cache/kiln-fuzz-target}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR=never

# Longest input per target: a pipeline file, a tiny IDX file, five CIFAR records, a small
# table, a small checkpoint.
max_len() {
    case "$1" in
        pipeline) echo 16384 ;;
        idx) echo 8192 ;;
        cifar) echo 16384 ;;
        csv) echo 4096 ;;
        checkpoint) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "${KILN_FUZZ_STABLE:-}" != 1 ] && cargo +nightly --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
    echo "== toolchain: $(cargo +nightly --version)"
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
    echo "== toolchain: $(cargo --version) with RUSTC_BOOTSTRAP=1"
fi
flags=(--sanitizer "$sanitizer")

work="$(mktemp -d "${TMPDIR:-/tmp}/kiln-fuzz-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp"

echo "== building ${targets[*]} (sanitizer: $sanitizer, target dir: $CARGO_TARGET_DIR)"
start=$(date +%s)
for t in "${targets[@]}"; do
    "${fuzz[@]}" build "${flags[@]}" "$t"
done
echo "built in $(($(date +%s) - start)) s"

failed=()
for t in "${targets[@]}"; do
    grown="$work/corpus/$t"
    if [ -n "${KILN_FUZZ_KEEP:-}" ]; then
        grown="$KILN_FUZZ_KEEP/$t"
    fi
    mkdir -p "$grown" "fuzz/artifacts/$t"
    extra=()
    if [ -f "fuzz/dicts/$t.dict" ]; then
        extra+=("-dict=fuzz/dicts/$t.dict")
    fi
    log="$work/$t.log"
    echo "== fuzzing $t for ${seconds} s"
    # New inputs go to the first corpus folder (a scratch one); the committed corpus is
    # only read. The scratch files of readers that take a path go under $work/tmp.
    set +e
    TMPDIR="$work/tmp" "${fuzz[@]}" run "${flags[@]}" "$t" "$grown" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len="$(max_len "$t")" -timeout=10 -print_final_stats=1 \
        "${extra[@]}" >"$log" 2>&1
    rc=$?
    set -e
    if [ -n "${KILN_FUZZ_KEEP:-}" ]; then
        cp "$log" "$KILN_FUZZ_KEEP/$t.log"
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::' "$log" || true
    if [ "$rc" -ne 0 ]; then
        failed+=("$t")
        echo "!! $t failed (exit $rc); last lines of its log:"
        tail -n 60 "$log"
        grep -E 'Test unit written to|artifact_prefix' "$log" | sed 's/^/!! /' || true
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== FAILED: ${failed[*]} (reproducers under fuzz/artifacts/<target>/; rerun one with"
    echo "   ${fuzz[*]} run ${flags[*]} <target> fuzz/artifacts/<target>/<file>)"
    exit 1
fi
echo "== fuzz smoke passed: ${targets[*]}, ${seconds} s each"
