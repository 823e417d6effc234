#!/usr/bin/env bash
# The decision service of two commits, measured interleaved on one machine: each commit in its
# own git worktree with its own environment (uv sync --frozen) and its own demo data home, then
# PAIRS pairs of bench/bench_service.py runs (one run each, 10 s per measurement), the order
# alternating (old new, new old, ...) so that drift of the machine falls on both alike. Both run
# this checkout's bench/bench_service.py (copied into each worktree), so both are measured
# alike, server CPU time per request included. Prints the median of each figure per commit and
# writes the raw results under OUT.
#
#   bash bench/compare_service.sh OLD_REF [NEW_REF] [PAIRS]     (NEW_REF default HEAD, PAIRS 3)
#
# Run it on a quiet machine: another process on a 2-core machine moves these figures by more
# than the 10% the comparison is for.
set -euo pipefail
OLD_REF=${1:?usage: compare_service.sh OLD_REF [NEW_REF] [PAIRS]}
NEW_REF=${2:-HEAD}
PAIRS=${3:-3}
ROOT=$(git rev-parse --show-toplevel)
OUT=${OUT:-$ROOT/bench/results/compare}
WORK=${WORK:-${TMPDIR:-/tmp}/loyalty-compare}
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true BENTOML_DO_NOT_TRACK=True
mkdir -p "$OUT" "$WORK"

prepare() {  # $1 ref -> prints the worktree path (environment and demo home made once)
  local sha tree
  sha=$(git -C "$ROOT" rev-parse --short "$1")
  tree="$WORK/$sha"
  if [ ! -d "$tree" ]; then
    git -C "$ROOT" worktree add --detach "$tree" "$sha" >&2
  fi
  (cd "$tree" && "$UV" sync --frozen -q >&2)
  if [ ! -f "$tree/.bench-home/ledger.db" ]; then
    (cd "$tree" && LOYALTY_HOME="$tree/.bench-home" .venv/bin/loyalty demo >&2)
  fi
  echo "$tree"
}

run() {  # $1 label, $2 worktree, $3 run number
  cp "$ROOT/bench/bench_service.py" "$2/bench/_bench_service_compare.py"
  (cd "$2" && PATH="$2/.venv/bin:$PATH" .venv/bin/python bench/_bench_service_compare.py \
    --home "$2/.bench-home" --runs 1 --seconds 10 --out "$OUT/$3-$1.json" >"$OUT/$3-$1.log" 2>&1)
  echo "run $3 ($1) done" >&2
}

old_tree=$(prepare "$OLD_REF")
new_tree=$(prepare "$NEW_REF")
printf '{"old": "%s", "new": "%s"}\n' "$(git -C "$ROOT" rev-parse --short "$OLD_REF")" \
  "$(git -C "$ROOT" rev-parse --short "$NEW_REF")" >"$OUT/commits.json"
n=0
for ((i = 0; i < PAIRS; i++)); do
  if ((i % 2 == 0)); then order="old new"; else order="new old"; fi
  for label in $order; do
    n=$((n + 1))
    if [ "$label" = old ]; then run old "$old_tree" "$n"; else run new "$new_tree" "$n"; fi
  done
done
"$new_tree/.venv/bin/python" "$ROOT/bench/compare_summary.py" "$OUT"
