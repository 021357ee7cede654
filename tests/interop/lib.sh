# Helpers shared by tests/interop/*.sh and benches/grpc/run.sh; source it from the repo root.

# The cargo target directory.
target_dir() {
    cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# A virtualenv with nacos-sdk-python==$1, kept outside the checkout (so a fresh clone on the
# same machine reuses it) in $NACRE_CACHE, default ~/.cache/nacre; prints its path.
nacos_python_venv() {
    local version=$1
    local venv="${NACRE_CACHE:-$HOME/.cache/nacre}/nacos-sdk-python-$version"
    mkdir -p "$(dirname "$venv")"
    if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('nacos-sdk-python') != '$version')" 2>/dev/null; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "nacos-sdk-python==$version" >&2
    fi
    echo "$venv"
}

# node_modules with the npm client nacos-naming@$1 (and its dependencies), kept outside the
# checkout in $NACRE_CACHE, default ~/.cache/nacre, like the virtualenvs above; a second call
# with the same version reuses it. Prints the node_modules path.
nacos_node_modules() {
    local version=$1
    local prefix="${NACRE_CACHE:-$HOME/.cache/nacre}/node-nacos-naming-$version"
    local installed
    installed=$(node -p "require('$prefix/node_modules/nacos-naming/package.json').version" 2>/dev/null || true)
    if [[ "$installed" != "$version" ]]; then
        rm -rf "$prefix"
        mkdir -p "$prefix"
        npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$prefix" \
            "nacos-naming@$version" >&2
    fi
    echo "$prefix/node_modules"
}

# Runs the command $2... as the check named $1: prints "ok: $1", or "FAILED: $1" and sets
# failed=1 (the caller starts with failed=0 and exits non-zero when it is set).
check() {
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAILED: $what"
        failed=1
    fi
}

# Makes sure the Debian packages $@ are installed, installing the missing ones with apt-get
# (as root; otherwise says what to install and fails).
need_debian_packages() {
    local package missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$package")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "installing Debian's ${missing[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing and this is not root: apt-get install ${missing[*]}" >&2
        return 1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Makes sure the command $1 exists, installing Debian's package $2 (default: $1) if it does not.
need_command() {
    command -v "$1" >/dev/null || need_debian_packages "${2:-$1}"
}

# A loopback port P such that P and P + 1000 (where Nacos 2.x clients look for gRPC) are free.
port_pair() {
    python3 - <<'PY'
import socket
for _ in range(200):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    if p + 1000 > 65535:
        a.close(); continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1000))
    except OSError:
        a.close(); continue
    a.close(); b.close(); print(p); break
PY
}

# A free loopback TCP port.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts r-nacos (binary $1) with its HTTP API on port $2 (gRPC on $2 + 1000, no console) in
# the fresh folder $3, logging to $4; its pid goes to $started_pid (no subshell, so the caller
# can stop it by pid).
start_rnacos() {
    local bin=$1 port=$2 dir=$3 log=$4
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && exec env RNACOS_HTTP_PORT="$port" RNACOS_GRPC_PORT=$((port + 1000)) \
        RNACOS_HTTP_CONSOLE_PORT=0 RNACOS_CONFIG_DB_DIR="$dir/db" \
        RNACOS_RAFT_NODE_ADDR="127.0.0.1:$((port + 1000))" RUST_LOG=warn \
        "$bin") >"$log" 2>&1 &
    started_pid=$!
}

# Starts nacre-server (binary $1, the remaining arguments passed on) with a fresh scratch folder
# $work holding its log ($work/server.log); its pid is $server_pid. On exit every server started
# so is stopped by its pid and its folder removed; stop_nacre_server stops the latest one sooner.
start_nacre_server() {
    local bin=$1
    shift
    work=$(mktemp -d)
    launch_nacre_server "$bin" "$@"
}

# start_nacre_server with auth on: $work also holds the users file and the token secret that
# write_auth_files writes (the writer and the reader below).
start_nacre_server_with_auth() {
    local bin=$1
    shift
    work=$(mktemp -d)
    write_auth_files "$bin" "$work"
    launch_nacre_server "$bin" "${auth_args[@]}" "$@"
}

nacre_server_pids=()
nacre_server_dirs=()

launch_nacre_server() {
    local bin=$1
    shift
    nacre_server_dirs+=("$work")
    "$bin" "$@" >"$work/server.log" 2>&1 &
    server_pid=$!
    nacre_server_pids+=("$server_pid")
    trap stop_nacre_servers EXIT
}

# A fresh folder, $scratch, removed at exit with the servers' folders.
new_scratch_dir() {
    scratch=$(mktemp -d)
    nacre_server_dirs+=("$scratch")
    trap stop_nacre_servers EXIT
}

# Stops the server start_nacre_server* started last ($server_pid), by its pid, and forgets it
# (so that the exit trap does not signal a pid the system may have reused).
stop_nacre_server() {
    local pid rest=()
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    for pid in "${nacre_server_pids[@]}"; do
        [[ "$pid" == "$server_pid" ]] || rest+=("$pid")
    done
    nacre_server_pids=("${rest[@]}")
}

stop_nacre_servers() {
    local pid
    for pid in "${nacre_server_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "${nacre_server_dirs[@]}"
}

# The users of an auth-enabled server, which the test programs read from the environment: a
# writer, who may read and write the public namespace, and a reader, who may only read it.
# (Nothing else is configured: no admin, no other namespace.)
export NACRE_WRITER=writer NACRE_WRITER_PASSWORD=writer-pw-4d1b
export NACRE_READER=reader NACRE_READER_PASSWORD=reader-pw-9c7e

# Writes into folder $2 the users file users.toml (the writer and the reader, with bcrypt hashes
# made by `$1 hash-password`, the nacre-server binary $1) and the token secret token.secret (48
# random bytes, base64), and sets $auth_args to the flags that turn auth on with them.
write_auth_files() {
    local bin=$1 dir=$2 writer_hash reader_hash
    writer_hash=$(printf '%s' "$NACRE_WRITER_PASSWORD" | "$bin" hash-password)
    reader_hash=$(printf '%s' "$NACRE_READER_PASSWORD" | "$bin" hash-password)
    cat >"$dir/users.toml" <<TOML
[[user]]
username = "$NACRE_WRITER"
password_bcrypt = "$writer_hash"

[[user]]
username = "$NACRE_READER"
password_bcrypt = "$reader_hash"

[[role]]
role = "writers"
username = "$NACRE_WRITER"

[[role]]
role = "readers"
username = "$NACRE_READER"

[[permission]]
role = "writers"
resource = "public:*:*"
action = "rw"

[[permission]]
role = "readers"
resource = "public:*:*"
action = "r"
TOML
    head -c 48 /dev/urandom | base64 -w0 >"$dir/token.secret"
    auth_args=(--users-file "$dir/users.toml" --token-secret-file "$dir/token.secret")
}

# Waits (up to 10 s) until the server's log shows $1.
wait_for_log() {
    for _ in $(seq 100); do
        grep -q "$1" "$work/server.log" 2>/dev/null && return 0
        sleep 0.1
    done
}
