#!/usr/bin/env bash
# A real Prometheus (Debian's `prometheus`, installed with apt-get if missing) finds its
# targets through nacre's HTTP service discovery (`/nacos/prometheus/...`) and scrapes them.
#
# nacre-server runs with auth. Prometheus' http_sd_configs reads
# /nacos/prometheus/namespaceId/public/service/nacre-self with Basic credentials of a user who
# may read every service, and scrapes what it finds with a token from `nacre-server
# issue-token`. The service holds nacre-server itself (its /metrics) with metadata that tries
# to steer the scraper (`__address__`, which nacre leaves out), and an address where nothing
# listens. Checks: the nacre target is up with its metadata label and a relabelled service
# label, and a sample of its metrics is stored; the dead address is a target that is down;
# once deregistered it leaves Prometheus' targets. Every process is stopped by its pid.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/lib.sh

need_command prometheus
need_command curl

cargo build --all-features --bin nacre-server
bin="$(target_dir)/debug/nacre-server"

failed=0

# The server, with the writer and reader of lib.sh and a `scraper` who may read everything.
work=$(mktemp -d)
write_auth_files "$bin" "$work"
scraper_password=scraper-pw-71aa
scraper_hash=$(printf '%s' "$scraper_password" | "$bin" hash-password)
cat >>"$work/users.toml" <<TOML

[[user]]
username = "scraper"
password_bcrypt = "$scraper_hash"

[[role]]
role = "scrapers"
username = "scraper"

[[permission]]
role = "scrapers"
resource = "*:*:*"
action = "r"
TOML
port=$(free_port)
launch_nacre_server "$bin" "${auth_args[@]}" --port "$port" --grpc-port 0
wait_for_log "listening on"
api="http://127.0.0.1:$port/nacos/v1"
"$bin" issue-token --user scraper --ttl 1h --token-secret-file "$work/token.secret" >"$work/scrape.token"

token=$(curl -sf -X POST "$api/auth/login" --data-urlencode "username=$NACRE_WRITER" \
    --data-urlencode "password=$NACRE_WRITER_PASSWORD" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
dead=$(free_port)
register() {
    curl -sf -X POST "$api/ns/instance?accessToken=$token" --data-urlencode serviceName=nacre-self \
        --data-urlencode ip=127.0.0.1 --data-urlencode "port=$1" --data-urlencode "metadata=$2" \
        --data-urlencode ephemeral=false >/dev/null
}
register "$port" '{"team":"ops","__address__":"127.0.0.1:1"}'
register "$dead" '{"team":"none"}'

# Prometheus, on a free port, with its data in the scratch folder.
prom_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: nacre
    authorization:
      credentials_file: $work/scrape.token
    http_sd_configs:
      - url: http://127.0.0.1:$port/nacos/prometheus/namespaceId/public/service/nacre-self
        refresh_interval: 1s
        basic_auth:
          username: scraper
          password: $scraper_password
    relabel_configs:
      - source_labels: [__meta_nacos_service]
        target_label: service
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
nacre_server_pids+=("$!")

# Polls (up to 60 s) until the Python expression $2, over Prometheus' answer to $1 (as `j`),
# is true.
prom_until() {
    local path=$1 expr=$2
    for _ in $(seq 120); do
        if curl -sf "http://127.0.0.1:$prom_port$path" 2>/dev/null |
            python3 -c "import json, sys; j = json.load(sys.stdin); sys.exit(0 if ($expr) else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}
targets='/api/v1/targets?state=active'
up_target="[t for t in j['data']['activeTargets'] if t['labels'].get('instance') == '127.0.0.1:$port']"
dead_target="[t for t in j['data']['activeTargets'] if t['labels'].get('instance') == '127.0.0.1:$dead']"
check "Prometheus discovers nacre-server through nacre and scrapes it (up)" \
    prom_until "$targets" "any(t['health'] == 'up' for t in $up_target)"
check "the target carries its metadata label and the relabelled service label" \
    prom_until "$targets" "any(t['labels'].get('team') == 'ops' and t['labels'].get('service') == 'nacre-self' for t in $up_target)"
check "metadata's __address__ did not steer the scraper" \
    prom_until "$targets" "not any('127.0.0.1:1' in t['scrapeUrl'] for t in j['data']['activeTargets'])"
check "a sample of nacre's metrics is stored" \
    prom_until '/api/v1/query?query=up%7Bjob%3D%22nacre%22%2Cteam%3D%22ops%22%7D' \
    "any(r['value'][1] == '1' for r in j['data']['result'])"
check "the address where nothing listens is a target that is down" \
    prom_until "$targets" "any(t['health'] == 'down' for t in $dead_target)"
curl -sf -X DELETE "$api/ns/instance?accessToken=$token&serviceName=nacre-self&ip=127.0.0.1&port=$dead&ephemeral=false" >/dev/null
check "a deregistered instance leaves Prometheus' targets" \
    prom_until "$targets" "not $dead_target and $up_target"

if [[ $failed -ne 0 ]]; then
    echo "--- nacre-server log"; tail -30 "$work/server.log"
    echo "--- prometheus log"; tail -30 "$work/prometheus.log"
    exit 1
fi
echo "prometheus: all checks passed"
