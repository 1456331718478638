#!/usr/bin/env bash
# One command from a fresh clone to a running demo on embedded defaults:
# install, seed the small generated world, import the public data, forecast, propose reorders,
# train the recommender, propose markdowns, build the search index and the knowledge graph, then
# serve on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
aisle=.venv/bin/aisle
shared="${AISLE_SHARED_DATA_DIR:-../shared/data}"

$aisle db upgrade
$aisle data seed --scale "${AISLE_DEMO_SCALE:-small}"
if [ -d "$shared" ]; then
    $aisle data import tau2 "$shared/tau2_retail"
    $aisle data import dummyjson "$shared/dummyjson/products.json"
    $aisle data import walmart "$shared/walmart/walmart_sales_weekly.csv"
fi
$aisle data stats
# Demo users and their API keys (derived from the dev secret: the README lists them).
$aisle users seed-demo
# Train and plan on the generated world: a forecast per SKU and location (and every aggregate up
# to the chain, reconciled), the recommender; then the replenishment and pricing agents propose
# reorders and markdowns and wait for a planner and a pricing manager to decide.
$aisle forecast run --model global --horizon 28 --reconcile ols
$aisle recommend train
$aisle replenish run
$aisle pricing run
# The indexes the shopper's questions and the associate's substitutes stand on.
$aisle rag ingest
$aisle kg build
exec $aisle serve
