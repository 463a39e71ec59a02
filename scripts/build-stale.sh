# shellcheck shell=bash
# Sourced, not run, by scripts/build and bin/pgincr (the launcher runs at every pgincr start, so
# the check spawns no shell of its own): true when dist/ must be rebuilt — no build yet, or a
# source file, a tsconfig, package.json (the workflow bundle reads it) or package-lock.json newer than the last build (checked in milliseconds).
pgincr_build_stale() {
  local root="$1" stamp="$1/dist/.build-stamp"
  [ -f "$stamp" ] || return 0
  [ -n "$(find "$root/src" "$root/tsconfig.json" "$root/tsconfig.build.json" "$root/package.json" "$root/package-lock.json" -newer "$stamp" -print -quit 2>/dev/null)" ]
}
