# shellcheck shell=bash
# The demo's sample events and the Observations they must produce, shared by scripts/demo.sh
# (watchers as local processes) and scripts/demo-node.sh (real pods). The caller defines
# `post TARGET PATH FILE` (prints the HTTP status), `post_ok TARGET PATH FILE`, `log`, `fail`,
# `step`, and sets DEMO_DIR, RUN_DIR, DEMO_NS and READY_TIMEOUT. TARGET is a replica number for
# local processes; real pods are reached through the Service, whichever replica answers.

send_samples() {
post_ok 0 /falco/webhook "$DEMO_DIR/falco-critical.json"
post_ok 0 /falco/webhook "$DEMO_DIR/falco-warning.json"
# Every replica serves webhooks: the same alert re-sent to replica 1 counts once; the same rule
# firing again later (its own time) on replicas 1 and 2 lands on the same Observation, counted.
post_ok 1 /falco/webhook "$DEMO_DIR/falco-critical.json"
for i in 1 2; do
  sed "s/2026-11-26T10:00:00.123456789Z/2026-11-26T10:00:0$i.123456789Z/" \
    "$DEMO_DIR/falco-critical.json" >"$RUN_DIR/falco-critical-again-$i.json"
  post_ok "$i" /falco/webhook "$RUN_DIR/falco-critical-again-$i.json"
done
post_ok 1 /audit/webhook "$DEMO_DIR/audit-eventlist.json"

kubectl apply -f "$DEMO_DIR/policyreport.yaml" >/dev/null
log "PolicyReport $DEMO_NS/demo-payments-api created (the leader's informer reads it)"
kubectl apply -f "$DEMO_DIR/ingester.yaml" >/dev/null
log "Ingester $DEMO_NS/demo-app created (webhook path /ingest/demo/app on every replica)"
deadline=$(( $(date +%s) + READY_TIMEOUT ))
until [ "$(post 2 /ingest/demo/app "$DEMO_DIR/ingester-payload.json")" = 200 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "/ingest/demo/app (replica 2) did not answer 200 within ${READY_TIMEOUT}s (last: $(cat "$RUN_DIR/last-response" 2>/dev/null))"
  sleep 0.5
done
log "POST /ingest/demo/app (ingester-payload.json) (replica 2): 200"
}

wait_for_samples() {
# ---------------------------------------------------------------- 5. results
step "5/5 waiting for the Observations"
# source eventType [occurrences]: what the samples above must have produced in `demo`.
expected='falco runtime_alert critical 3
falco runtime_alert medium 1
audit secret_modified high 1
audit pod_exec high 1
kyverno policy_violation high 1
demo-app rollout_degraded high 1'
deadline=$(( $(date +%s) + READY_TIMEOUT ))
while :; do
  kubectl get observations.zen.kube-zen.io -n "$DEMO_NS" -o json >"$RUN_DIR/observations.json"
  if missing="$(python3 - "$RUN_DIR/observations.json" "$expected" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
have = [(o["spec"]["source"], o["spec"]["eventType"], o["spec"]["severity"],
         (o.get("status") or {}).get("occurrences") or 1) for o in items]
missing = []
for line in sys.argv[2].splitlines():
    source, event_type, severity, occurrences = line.split()
    if not any(h[:3] == (source, event_type, severity) and h[3] >= int(occurrences) for h in have):
        missing.append(f"{source}/{event_type}/{severity} (occurrences {occurrences})")
print(", ".join(missing))
sys.exit(1 if missing else 0)
PY
  )"; then
    break
  fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "Observations still missing after ${READY_TIMEOUT}s: $missing"
  sleep 1
done
}
