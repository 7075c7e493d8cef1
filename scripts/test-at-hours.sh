#!/bin/sh
# Runs the tests with the clock moved to 03:00, 15:00 and 23:30 UTC, to show that no test
# depends on the hour (issue 7). libfaketime (Debian package faketime) moves the clock of vitest
# and of every process the tests start: LD_PRELOAD and FAKETIME are inherited. The clock is
# moved by a relative offset, so it keeps running and all processes agree on it (an absolute
# "@time" restarts in each new process). File times and the monotonic clock stay real.
#
# The clock only moves forward, to the next time each hour comes: file times are the kernel's
# (Node's stat is a statx system call, which libfaketime does not see), so with the clock moved
# back every file the kernel stamps would be from the future, and a capture time from the
# future is a clock skew the receiver refuses (--max-clock-skew), as it should. DAY, when given,
# is used as it is.
#
#   scripts/test-at-hours.sh [vitest file or filter ...]
#   HOURS="04:30 23:59" DAY=2027-03-28 scripts/test-at-hours.sh test/review-list.test.ts
#
# Without files: every test file but those that boot a container (systemd-nspawn), whose
# systemd runs on the real clock and would disagree with the test that drives it. Chromium,
# too, stays on the real clock (test/gallery-browser.test.ts says why).
set -u
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "test-at-hours: faketime not found (apt-get install faketime)" >&2; exit 69; }
if [ $# -eq 0 ]; then
  set -- $(grep -L "helpers/nspawn.ts" test/*.test.ts)
  echo "test-at-hours: not run, they boot containers: $(grep -l "helpers/nspawn.ts" test/*.test.ts | tr '\n' ' ')"
fi
hours=${HOURS:-03:00 15:00 23:30}
summary=''
failed=0
for hour in $hours; do
  day=${DAY:-$(date -u +%F)}
  offset=$(( $(date -u -d "$day $hour" +%s) - $(date -u +%s) ))
  if [ -z "${DAY:-}" ] && [ "$offset" -lt 0 ]; then
    day=$(date -u -d tomorrow +%F)
    offset=$(( $(date -u -d "$day $hour" +%s) - $(date -u +%s) ))
  fi
  echo "== $day $hour UTC (clock moved by ${offset}s): vitest run $*"
  # -m: the thread-safe libfaketime (node runs threads); +N / -N: seconds from the real clock.
  if NO_FAKE_STAT=1 DONT_FAKE_MONOTONIC=1 faketime -m -f "$(printf '%+d' "$offset")" npx vitest run "$@"; then
    summary="$summary$day $hour UTC: passed\n"
  else
    summary="$summary$day $hour UTC: FAILED\n"
    failed=1
  fi
done
printf '== test-at-hours\n%b' "$summary"
exit $failed
