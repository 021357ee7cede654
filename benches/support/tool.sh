# bench_tool NAME [CARGO_ARGS...]: builds the load tool or cost probe NAME (benches/tools/NAME.rs,
# a bench target with harness = false) in release and prints the path of its executable. Bench
# executables carry a hash in their file name, so the path comes from cargo's build messages.
# CARGO_ARGS go to `cargo build` (features, say). Source this file from the repo root.
bench_tool() {
    local name=$1
    shift
    cargo build --release "$@" --bench "$name" --message-format=json-render-diagnostics |
        python3 -c '
import json, sys
name, found = sys.argv[1], None
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == name:
        found = msg.get("executable") or found
if not found:
    sys.exit(f"bench_tool: cargo built no executable for {name}")
print(found)' "$name"
}
