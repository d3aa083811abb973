#!/usr/bin/env bash
# A small demonstration ledger of a Xiangtan renovation programme, from nothing: installs the
# dependencies, builds fundledger (Release), creates keys, initialises a ledger in ./demo-data,
# registers three organisations, appends events signed by them, verifies the whole ledger and
# prints its signed checkpoint. Every run starts again from an empty ./demo-data.
#
# The organisations are real kinds of body; the amounts, ids and document numbers are invented.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build build-release -j2 --target fundledger
fundledger=build-release/tools/fundledger

rm -rf demo-data
mkdir -p demo-data/keys
keys=demo-data/keys
data=demo-data/ledger

# One key pair per signer: NAME.key (secret, mode 0600) and NAME.pub (verifier key).
for name in operator xt-finance yuhu-housing yuhu-guangchang; do
  "$fundledger" keygen --name "$name" --out "$keys/$name" >/dev/null
done
"$fundledger" keygen --name demo.fundledger.example --out "$keys/log" >/dev/null

echo "== init: the operator's genesis event and the first signed checkpoint"
"$fundledger" init --data "$data" --origin "demo.fundledger.example/hunan-xiangtan" \
  --log-key "$keys/log.key" --operator operator --operator-key "$keys/operator.key" \
  --operator-name "fundledger demo operator"

# base64 of the raw 32-byte Ed25519 key in a .pub file (name+hash+base64(0x01 || key)).
public_key() {
  cut -d+ -f3- "$1" | base64 -d | tail -c 32 | base64 -w0
}

echo "== the operator registers the organisations"
"$fundledger" submit --data "$data" --key "$keys/operator.key" --format table - <<EOF
{"id":"reg-xt-finance","type":"org_registered","occurred_on":"2024-03-01","org":"xt-finance","name":"湘潭市财政局","kind":"finance_bureau","level":"municipal","region":"hunan/xiangtan","public_key":"$(public_key "$keys/xt-finance.pub")"}
{"id":"reg-yuhu-housing","type":"org_registered","occurred_on":"2024-03-01","org":"yuhu-housing","name":"雨湖区住房和城乡建设局","kind":"housing_bureau","level":"district","region":"hunan/xiangtan/yuhu","public_key":"$(public_key "$keys/yuhu-housing.pub")"}
{"id":"reg-yuhu-guangchang","type":"org_registered","occurred_on":"2024-03-01","org":"yuhu-guangchang","name":"雨湖区广场街道办事处","kind":"street_office","level":"district","region":"hunan/xiangtan/yuhu/guangchang","public_key":"$(public_key "$keys/yuhu-guangchang.pub")"}
EOF

echo "== the municipal finance bureau receives central subsidy funds into its pool"
"$fundledger" submit --data "$data" --key "$keys/xt-finance.key" --format table - <<'EOF'
{"id":"xt-2024-central-1","type":"funds_received","occurred_on":"2024-03-20","doc_ref":"示例财建〔2024〕1号","to":"xt-finance","to_kind":"pool","category":"central","source_org":"xt-finance","channel":"transfer","amount_fen":1200000000}
EOF

echo "== the district housing bureau registers a project"
"$fundledger" submit --data "$data" --key "$keys/yuhu-housing.key" --format table - <<'EOF'
{"id":"yh-2024-001-registered","type":"project_registered","occurred_on":"2024-04-02","project":"yh-2024-001","name":"广场街道示例小区老旧小区改造","region":"hunan/xiangtan/yuhu/guangchang","compounds":["demo-compound-1"],"households":320,"buildings":8,"floor_area_m2":24000,"built_year":1995,"budget":{"basic_fen":600000000,"improvement_fen":250000000,"enhancement_fen":50000000},"funding_plan":[{"category":"central","amount_fen":700000000},{"category":"municipal","amount_fen":120000000},{"category":"resident","amount_fen":80000000}]}
{"id":"yh-2024-001-approved","type":"project_status","occurred_on":"2024-05-10","project":"yh-2024-001","status":"approved","consent_bp":8750}
EOF

echo "== the finance bureau allocates central money to the project"
"$fundledger" submit --data "$data" --key "$keys/xt-finance.key" --format table - <<'EOF'
{"id":"xt-2024-alloc-1","type":"funds_allocated","occurred_on":"2024-05-20","from":"xt-finance","to":"yh-2024-001","to_kind":"project","category":"central","amount_fen":700000000}
EOF

echo "== the street office records residents' contributions (aggregated, no names)"
"$fundledger" submit --data "$data" --key "$keys/yuhu-guangchang.key" --format table - <<'EOF'
{"id":"gc-2024-residents-1","type":"funds_received","occurred_on":"2024-06-03","to":"yh-2024-001","to_kind":"project","category":"resident","source_org":"yuhu-guangchang","channel":"transfer","amount_fen":41600000,"households":208}
EOF

echo "== the journal"
"$fundledger" log --data "$data" --format table

echo "== verify: every record, signature, rule and checkpoint"
"$fundledger" verify --data "$data"

echo "== the signed checkpoint (verify it with $keys/log.pub)"
"$fundledger" checkpoint --data "$data"
