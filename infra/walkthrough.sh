#!/usr/bin/env bash
# The README's curl walkthrough, runnable: one valid and one invalid pacs.008 through `make run`'s stack.
set -euo pipefail
cd "$(dirname "$0")/.."
field() { python3 -c "import json,sys; d=json.load(open('local-stack.json')); print(eval('d' + sys.argv[1]))" "$1"; }
API=$(field "['api_url']"); TOKEN_URL=$(field "['token_url']")
CLIENT_ID=$(field "['clients'][0]['client_id']"); CLIENT_SECRET=$(field "['clients'][0]['client_secret']")

TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$TOKEN_URL" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
AUTH="Authorization: Bearer $TOKEN"

for SAMPLE in pacs008_bare.xml pacs008_invalid_schema.xml; do
  echo "== events/$SAMPLE (dated today, identifiers of its own)"
  MESSAGE=$(mktemp); REPORT=$(mktemp); .venv/bin/python -m infra.examples "$SAMPLE" > "$MESSAGE"
  TX=$(curl -s -H "$AUTH" -H 'X-Message-Type: pacs.008' "$API/uuid" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["transaction_id"])')
  echo "transaction id: $TX"
  curl -s -H "$AUTH" -H "X-Transaction-Id: $TX" -H 'X-Message-Type: pacs.008' \
    -H 'Content-Type: application/xml' --data-binary @"$MESSAGE" "$API/inbox"; echo
  for _ in $(seq 50); do
    CODE=$(curl -s -o "$REPORT" -w '%{http_code}' -X POST -H "$AUTH" -H "X-Transaction-Id: $TX" "$API/outbox")
    [ "$CODE" = 200 ] && break
    sleep 0.2
  done
  grep -oE '<(TxSts|GrpSts|Cd)>[A-Z0-9]+</(TxSts|GrpSts|Cd)>' "$REPORT" || cat "$REPORT"
  curl -s -H "$AUTH" "$API/transactions/$TX"; echo
  rm -f "$MESSAGE" "$REPORT"
done
