#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer instrumentation on the stable
# toolchain and runs each for a fixed time. See fuzz/README.md.
#
#   fuzz/run.sh [SECONDS] [TARGET...]   each target SECONDS (default 60); inputs
#                                       that add coverage are merged into
#                                       fuzz/corpus/<target>/ (commit them)
#   fuzz/run.sh --smoke                 CI: each target 10 s, corpus untouched
#   fuzz/run.sh --build                 build only
#   fuzz/run.sh --lint                  rustfmt --check and clippy -D warnings
#                                       on the fuzz crate (after a build: cheap)
#   fuzz/run.sh --minimize [TARGET...]  shrink the committed corpora to a set
#                                       that keeps their coverage
#   fuzz/run.sh --repro TARGET FILE...  run inputs once (e.g. a crash artifact)
#   fuzz/run.sh --relock                fuzz/Cargo.lock := the root Cargo.lock plus
#                                       libfuzzer-sys (after a dependency change)
#
# Exits non-zero on any crash, timeout, out-of-memory or failed assertion; the
# offending input is written to target/fuzz-artifacts/<target>/.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$fuzz_dir/.." && pwd)"
targets_all=(bearer jwt jwks oauth_params client_metadata guard)

# What `cargo fuzz build --sanitizer none` passes (cargo-fuzz src/project.rs);
# none of it needs nightly. `--target` keeps the flags off build scripts and
# proc macros. Debug assertions and overflow checks come from the profile in
# fuzz/Cargo.toml.
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="--cfg fuzzing \
-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/target/fuzz}"
artifacts="$root/target/fuzz-artifacts"
bin_dir="$CARGO_TARGET_DIR/$triple/release"
mkdir -p "$artifacts"

build() {
    local started=$SECONDS
    echo "== fuzz build (instrumented, target dir $CARGO_TARGET_DIR)"
    cargo build --locked --release --manifest-path "$fuzz_dir/Cargo.toml" \
        --target "$triple" --bins
    echo "-- fuzz build: $((SECONDS - started)) s"
}

# run TARGET SECONDS MODE: fuzzes a scratch copy of the committed corpus;
# MODE "grow" then merges what adds coverage back into it, "smoke" leaves the
# tree untouched.
run() {
    local target=$1 seconds=$2 mode=$3
    local corpus="$fuzz_dir/corpus/$target"
    mkdir -p "$corpus" "$artifacts/$target"
    local work
    work="$(mktemp -d)"
    cp -r "$corpus/." "$work/"
    local dict=()
    if [ -f "$fuzz_dir/dict/$target.dict" ]; then
        dict=(-dict="$fuzz_dir/dict/$target.dict")
    fi
    local started=$SECONDS status=0
    echo "== fuzz $target: ${seconds} s"
    # -max_len keeps inputs (and so the committed corpus) small; -timeout
    # turns a hang into a failure, -rss_limit_mb a runaway allocation.
    "$bin_dir/$target" "$work" "${dict[@]}" \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$target/" \
        >"$artifacts/$target.log" 2>&1 || status=$?
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^#[0-9]+ +DONE|panicked|ERROR: libFuzzer|SUMMARY|Test unit written' \
        "$artifacts/$target.log" | sed 's/^/   /' || true
    if [ "$status" -eq 0 ] && [ "$mode" = grow ]; then
        # Only inputs that reach new code (edges; hit counts ignored) are kept,
        # so the committed corpus grows slowly.
        "$bin_dir/$target" -merge=1 -use_counters=0 -max_len=4096 "$corpus" "$work" \
            >"$artifacts/$target.merge.log" 2>&1 || status=$?
        grep -E 'MERGE-OUTER: [0-9]+ new files' "$artifacts/$target.merge.log" | sed 's/^/   /' || true
    fi
    rm -rf "$work"
    echo "-- fuzz $target: $((SECONDS - started)) s, exit $status"
    if [ "$status" -ne 0 ]; then
        echo "   FAILED: see $artifacts/$target.log; reproduce with"
        echo "   fuzz/run.sh --repro $target $artifacts/$target/<crash-file>"
        tail -n 40 "$artifacts/$target.log" | sed 's/^/   /'
        return "$status"
    fi
}

# minimize TARGET: replaces the committed corpus by a smallest set of its
# inputs that still reaches every edge it reached (libFuzzer's set-cover
# merge, hit counts ignored), plus the hand-written seed-* files.
minimize() {
    local target=$1 corpus="$fuzz_dir/corpus/$1" out
    out="$(mktemp -d)"
    "$bin_dir/$target" -set_cover_merge=1 -use_counters=0 -max_len=4096 "$out" "$corpus" \
        >"$artifacts/$target.minimize.log" 2>&1
    # The hand-written seeds stay, whatever they cover: they document the format.
    cp "$corpus"/seed-* "$out"/ 2>/dev/null || true
    echo "   $target: $(ls "$corpus" | wc -l) -> $(ls "$out" | wc -l) inputs"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp "$out"/* "$corpus"/
    rm -rf "$out"
}

case "${1:-}" in
    --build)
        build
        ;;
    --lint)
        cargo fmt --manifest-path "$fuzz_dir/Cargo.toml" -- --check
        cargo clippy --locked --release --manifest-path "$fuzz_dir/Cargo.toml" \
            --target "$triple" --all-targets -- -D warnings
        ;;
    --minimize)
        shift
        targets=("$@")
        [ "${#targets[@]}" -eq 0 ] && targets=("${targets_all[@]}")
        build
        mkdir -p "$artifacts"
        for t in "${targets[@]}"; do
            minimize "$t"
        done
        ;;
    --relock)
        cp "$root/Cargo.lock" "$fuzz_dir/Cargo.lock"
        (cd "$fuzz_dir" && cargo metadata --offline --format-version 1 >/dev/null)
        ;;
    --repro)
        shift
        target=$1
        shift
        build
        "$bin_dir/$target" "$@"
        ;;
    --smoke)
        build
        started=$SECONDS
        failed=0
        for t in "${targets_all[@]}"; do
            run "$t" 10 smoke || failed=1
        done
        echo "-- fuzz smoke: $((SECONDS - started)) s for ${#targets_all[@]} targets"
        exit "$failed"
        ;;
    *)
        seconds=${1:-60}
        if [ "$#" -gt 0 ]; then shift; fi
        targets=("$@")
        [ "${#targets[@]}" -eq 0 ] && targets=("${targets_all[@]}")
        build
        failed=0
        for t in "${targets[@]}"; do
            run "$t" "$seconds" grow || failed=1
        done
        exit "$failed"
        ;;
esac
