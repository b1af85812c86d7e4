#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a short time each and
# fails if any finds an input that breaks it.
#
#   tests/fuzz.sh                      # every target, FUZZTIME each
#   FUZZTIME=30s tests/fuzz.sh         # longer
#   FUZZ_MATCH=Procfile tests/fuzz.sh  # only targets whose name matches
#
# Targets are found, not listed here: every package with a `func Fuzz` in
# its tests, asked with `go test -list '^Fuzz'`, so a new target runs in CI
# without touching this script. Go runs the package's seeds (f.Add and
# testdata/fuzz/NAME/*) first, then mutates them for FUZZTIME.
#
# A target that fails leaves the input that broke it in
# PACKAGE/testdata/fuzz/NAME/; fix the parser and commit that file: it is
# then a seed, run by every plain `go test` as a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-5s}
match=${FUZZ_MATCH:-}
start=$(date +%s)

# Packages whose test files declare a fuzz target (a cheap grep first, so
# that listing does not build the test binary of every package).
pkgs=()
while read -r dir pkg; do
	if grep -qs '^func Fuzz' "$dir"/*_test.go; then
		pkgs+=("$pkg")
	fi
done < <(go list -f '{{.Dir}} {{.ImportPath}}' ./...)

results=()
failed=0
flaked=0
total=0
for pkg in "${pkgs[@]}"; do
	if ! list=$(go test -list '^Fuzz' -run '^$' "$pkg" 2>&1); then
		echo "fuzz.sh: cannot list the fuzz targets of $pkg:" >&2
		echo "$list" >&2
		results+=("FAIL  $pkg (does not build)")
		failed=$((failed + 1))
		continue
	fi
	for name in $(grep '^Fuzz' <<<"$list"); do
		if [[ -n $match && ! $name =~ $match ]]; then
			continue
		fi
		total=$((total + 1))
		t0=$(date +%s)
		log=$(mktemp)
		corpus="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name"
		before=$(ls "$corpus" 2>/dev/null)
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
			status=ok
		elif [[ $(ls "$corpus" 2>/dev/null) == "$before" ]] && grep -q '^    context deadline exceeded$' "$log" &&
			go test -run "^${name}\$" "$pkg" >>"$log" 2>&1; then
			# Go before 1.27 can fail a target when -fuzztime ends while a
			# worker is busy (golang/go#75804), mostly on a loaded machine.
			# No input was written and the seeds pass again: not a finding.
			status=ok
			flaked=$((flaked + 1))
		else
			status=FAIL
			failed=$((failed + 1))
			echo "----- $pkg $name failed:" >&2
			tail -n 40 "$log" >&2
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
		results+=("$(printf '%-4s  %-40s %-45s %3ss  %s execs' "$status" "$name" "${pkg#github.com/berth-paas/berth/}" $(($(date +%s) - t0)) "${execs:-?}")")
		rm -f "$log"
	done
done

echo
echo "fuzz.sh: $total targets, $fuzztime each:"
printf '%s\n' "${results[@]}"
echo "fuzz.sh: $failed failed ($flaked stopped by golang/go#75804 with no finding), $(($(date +%s) - start))s in all"
if ((total == 0)); then
	echo "fuzz.sh: no fuzz target found" >&2
	exit 1
fi
((failed == 0))
