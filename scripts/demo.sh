#!/usr/bin/env bash
# The main job on files, as a user runs it: writes four CSV files of
# 1,000,000 rows in all (id, key, tag, amount, note with empty notes as
# NULLs) and shuffles them by key into 16 Parquet partitions with
# bin/partd, which checks rows and checksums itself.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=${PARTD_DEMO_DIR:-${TMPDIR:-/tmp}/partd-demo}
rm -rf "$demo"
mkdir -p "$demo/in"
for f in 0 1 2 3; do
  awk -v f="$f" 'BEGIN {
    srand(42 + f); print "id,key,tag,amount,note"
    for (i = 0; i < 250000; i++) {
      id = f * 250000 + i
      note = (id % 13 == 0) ? "" : "note-" int(rand() * 100000)
      tag = (rand() < 0.1) ? "hot" : "t" int(rand() * 5000)
      printf "%d,%d,%s,%.2f,%s\n", id, int(rand() * 20000), tag, rand() * 1000, note
    }
  }' > "$demo/in/sales-$f.csv"
done
echo "demo: 4 CSV files, 1,000,000 rows, in $demo/in" >&2
./bin/partd shuffle --input "$demo/in/*.csv" --by key --partitions 16 --output "$demo/out"
echo "demo: the partitions are in $demo/out; for example: duckdb -c \"SELECT count(*), count(DISTINCT key) FROM '$demo/out/*.parquet'\"" >&2
