#!/usr/bin/env bash
# A short study on each visible NVIDIA GPU, then one across all of them, with kiln's CUDA
# build (and LibTorch's, where scripts/setup-tch.sh has run): every trial must finish
# COMPLETE on the device slot it was pinned to. Then `kiln bench train` on each device.
#
#     bash scripts/gpu-check.sh              # skips, exit 0, where no GPU is visible
#     bash scripts/gpu-check.sh --require    # fails instead of skipping
#     KILN_GPU_CHECK_DEVICES=cpu bash scripts/gpu-check.sh   # the same checks on the CPU
#
# KILN_BIN names a kiln binary to use instead of building one (`--features cuda` by default).
# Output: a log per study under $KILN_GPU_CHECK_DIR (default: a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."

require=0
[ "${1:-}" = "--require" ] && require=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
out="${KILN_GPU_CHECK_DIR:-$(mktemp -d)}"
mkdir -p "$out"

if [ -n "${KILN_GPU_CHECK_DEVICES:-}" ]; then
    read -r -a devices <<<"${KILN_GPU_CHECK_DEVICES//,/ }"
    features=""
else
    count=0
    if command -v nvidia-smi >/dev/null 2>&1; then
        count="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)"
    fi
    if [ "$count" = 0 ]; then
        echo "gpu-check: no NVIDIA GPU visible (nvidia-smi -L lists none)"
        [ "$require" = 1 ] && exit 1
        echo "gpu-check: skipped"
        exit 0
    fi
    nvidia-smi -L
    devices=()
    for ((i = 0; i < count; i++)); do devices+=("cuda:$i"); done
    features="cuda"
    if bash scripts/setup-tch.sh --check; then
        eval "$(bash scripts/setup-tch.sh)"
        features="cuda,tch"
        for ((i = 0; i < count; i++)); do devices+=("tch:cuda:$i"); done
    fi
fi

kiln="${KILN_BIN:-}"
if [ -z "$kiln" ]; then
    echo "== building kiln${features:+ --features $features}"
    cargo build --release -p kiln-cli ${features:+--features "$features"}
    kiln="$CARGO_TARGET_DIR/release/kiln"
fi

# Every trial COMPLETE, each on a slot of the devices it was given.
audit() {
    python3 - "$1/kiln.db" "$2" <<'PY'
import json, sqlite3, sys
db, wanted = sys.argv[1], set(sys.argv[2].split(","))
rows = sqlite3.connect(db).execute(
    "SELECT t.number, t.state, a.value_json FROM trials t LEFT JOIN trial_system_attributes a"
    " ON a.trial_id = t.trial_id AND a.key = 'kiln:device' ORDER BY t.number").fetchall()
bad = [r for r in rows if r[1] != "COMPLETE" or r[2] is None
       or json.loads(r[2])["device"] not in wanted]
for number, state, at in rows:
    print(f"  trial {number}: {state} on {json.loads(at) if at else 'no slot'}")
if not rows or bad:
    sys.exit(f"gpu-check: {len(bad)} of {len(rows)} trial(s) not COMPLETE on {sorted(wanted)}")
PY
}

study() { # name, comma-separated devices
    local run="$out/$1" list
    list="$(printf '"%s",' ${2//,/ })"
    echo "== study on $2"
    if ! "$kiln" run tests/gpu/study.toml --run-dir "$run" --set "devices=[${list%,}]" \
        >"$run.log" 2>&1; then
        tail -30 "$run.log"
        echo "gpu-check: the study on $2 failed (log: $run.log)"
        exit 1
    fi
    audit "$run" "$2"
}

for d in "${devices[@]}"; do study "one-${d//:/-}" "$d"; done
if [ "${#devices[@]}" -gt 1 ]; then
    all="$(IFS=,; echo "${devices[*]}")"
    study "all" "$all"
fi
echo "== kiln bench train"
"$kiln" bench train --devices "$(IFS=,; echo "${devices[*]}")" --repeats 1
echo "gpu-check: passed on ${devices[*]} (logs in $out)"
