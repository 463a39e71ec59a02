#!/bin/sh
# Waits for the Temporal frontend, then creates the namespace pgincr uses (if missing).
# Adapted from temporalio/samples-server compose/scripts/create-namespace.sh.
set -eu
NAMESPACE="${DEFAULT_NAMESPACE:-default}"
TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
MAX_ATTEMPTS="${MAX_ATTEMPTS:-30}"
SLEEP_SECONDS="${SLEEP_SECONDS:-5}"

attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  [ "$attempt" -ge "$MAX_ATTEMPTS" ] && { echo "temporal at $TEMPORAL_ADDRESS not healthy after $MAX_ATTEMPTS attempts"; exit 1; }
  attempt=$((attempt + 1)); sleep "$SLEEP_SECONDS"
done

attempt=1
while :; do
  if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "namespace '$NAMESPACE' exists"; break
  fi
  if temporal operator namespace create -n "$NAMESPACE" --retention 7d --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "namespace '$NAMESPACE' created"; break
  fi
  [ "$attempt" -ge "$MAX_ATTEMPTS" ] && { echo "could not create namespace '$NAMESPACE' after $MAX_ATTEMPTS attempts"; exit 1; }
  attempt=$((attempt + 1)); sleep "$SLEEP_SECONDS"
done

# pgincr's search attributes (src/workflows/boundary.ts), so the UI's list filters by database,
# chain and kind. Creating one that exists with the same type succeeds.
for attr in PgincrDatabase=KeywordList PgincrChain=Keyword PgincrKind=Keyword; do
  name="${attr%%=*}"; type="${attr#*=}"
  if temporal operator search-attribute create -n "$NAMESPACE" --name "$name" --type "$type" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "search attribute $name ($type) registered"
  else
    echo "search attribute $name: not registered (exists with another type?); pgincr starts workflows without it"
  fi
done
