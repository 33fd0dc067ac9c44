#!/bin/sh
# One-shot (compose service temporal-init, admin-tools image): a production server has no namespace
# until one is created. Creates durabatch's namespace and its search attributes, then waits until
# they are listed. Listed is not yet usable (the mapping follows a moment later): durabatch's own
# client also waits until they are usable before its first start (src/server/register-search-attributes.ts).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"
retention=${TEMPORAL_RETENTION:-7d}
ns=$TEMPORAL_NAMESPACE

until temporal operator cluster health >/dev/null 2>&1; do echo "waiting for $TEMPORAL_ADDRESS"; sleep 2; done

if ! temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$ns" --retention "$retention"
fi

# Keep in step with workflows/search-attributes.ts (tests/cluster/compose.test.ts checks).
attributes="BatchId:Keyword BatchStatus:Keyword BatchProgress:Int ItemKey:Keyword ItemKeys:KeywordList"
missing() {
  listed=$(temporal operator search-attribute list --namespace "$ns")
  for sa in $attributes; do
    echo "$listed" | grep -qw "${sa%%:*}" || echo "$sa"
  done
}
for sa in $(missing); do
  temporal operator search-attribute create --namespace "$ns" --name "${sa%%:*}" --type "${sa#*:}"
done
tries=0
while [ -n "$(missing)" ]; do
  tries=$((tries + 1))
  [ "$tries" -gt 60 ] && { echo "search attributes still missing after 60 s: $(missing)" >&2; exit 1; }
  sleep 1
done
echo "namespace $ns ready with durabatch's search attributes"
