//! [`SETTINGS`]: every setting of `nacre-server`, in the order `--help` and `--print-config`
//! show them. A setting is one entry here and one field of [`ServerConfig`]: its flag, its
//! environment variable, its file key, its help line and its printed value all come from
//! the entry.

use super::parse::*;
use super::Setting;
use crate::server::config::SecretSource;
use std::path::PathBuf;

/// Every setting, in the order `--help` and `--print-config` show them.
pub(in crate::server) const SETTINGS: &[Setting] = &[
    Setting {
        key: "port",
        env: "NACRE_PORT",
        value_name: "N",
        help: "Port of the Nacos v1 HTTP API (and the console, metrics), 0 for any free one",
        default: None,
        switch: false,
        apply: |c, name, v| {
            c.port = parse_port(name, v)?;
            Ok(())
        },
        show: |c| Some(port_value(c.port)),
    },
    Setting {
        key: "grpc-port",
        env: "NACRE_GRPC_PORT",
        value_name: "N",
        help: "Port of the Nacos 2.x gRPC API (feature grpc)",
        default: Some("PORT+1000"),
        switch: false,
        apply: |c, name, v| {
            c.grpc_port = Some(parse_port(name, v)?);
            Ok(())
        },
        show: |c| c.grpc_port.map(port_value),
    },
    Setting {
        key: "dns-port",
        env: "NACRE_DNS_PORT",
        value_name: "N",
        help: "Port of the DNS front, UDP and TCP (feature dns): A, AAAA and SRV records of SERVICE.GROUP.NAMESPACE.<dns-domain>",
        default: Some("none: no DNS front"),
        switch: false,
        apply: |c, name, v| {
            c.dns_port = Some(parse_port(name, v)?);
            Ok(())
        },
        show: |c| c.dns_port.map(port_value),
    },
    Setting {
        key: "dns-domain",
        env: "NACRE_DNS_DOMAIN",
        value_name: "DOMAIN",
        help: "The zone the DNS front answers for",
        default: Some("nacre"),
        switch: false,
        apply: |c, _, v| {
            c.dns_domain = v.trim().to_owned();
            Ok(())
        },
        show: |c| Some(text(c.dns_domain.clone())),
    },
    Setting {
        key: "dns-ttl",
        env: "NACRE_DNS_TTL",
        value_name: "SECONDS",
        help: "The TTL of the DNS front's records (the cache time of a v1 instance list)",
        default: Some("3"),
        switch: false,
        apply: |c, name, v| {
            c.dns_ttl = parse_count_u32(name, v)?;
            Ok(())
        },
        show: |c| Some(count_value(c.dns_ttl as usize)),
    },
    switch!(
        "dns-open",
        "NACRE_DNS_OPEN",
        "Serve --dns-port with auth on: DNS carries no credentials, so it answers anyone who reaches the port",
        dns_open
    ),
    Setting {
        key: "dns-queries-per-second",
        env: "NACRE_DNS_QUERIES_PER_SECOND",
        value_name: "N",
        help: "Queries a second one source address may send the DNS front (bursts of twice as many); more are dropped",
        default: None,
        switch: false,
        apply: |c, name, v| {
            c.dns_queries_per_second = parse_count_u32(name, v)?;
            Ok(())
        },
        show: |c| Some(count_value(c.dns_queries_per_second as usize)),
    },
    count!(
        "dns-max-connections",
        "NACRE_DNS_MAX_CONNECTIONS",
        "The DNS front's TCP connections at once",
        dns_connections.max_total
    ),
    count!(
        "dns-max-connections-per-ip",
        "NACRE_DNS_MAX_CONNECTIONS_PER_IP",
        "The DNS front's TCP connections at once from one source address",
        dns_connections.max_per_ip
    ),
    Setting {
        key: "bind",
        env: "NACRE_BIND",
        value_name: "ADDR",
        help: "Address to listen on",
        default: None,
        switch: false,
        apply: |c, name, v| {
            c.bind = parse_bind(name, v)?;
            Ok(())
        },
        show: |c| Some(text(c.bind.to_string())),
    },
    Setting {
        key: "node-id",
        env: "NACRE_NODE_ID",
        value_name: "HOST:PORT",
        help: "This member's id, the host:port peers reach it at",
        default: Some("BIND:PORT, or PEER-BIND:PEER-PORT"),
        switch: false,
        apply: |c, _, v| {
            c.node_id = Some(v.trim().to_owned());
            Ok(())
        },
        show: |c| c.node_id.clone().map(text),
    },
    Setting {
        key: "members",
        env: "NACRE_MEMBERS",
        value_name: "HOST:PORT,...",
        help: "Cluster members, comma separated, this node included (--node-id must be one of them)",
        default: Some("none: standalone"),
        switch: false,
        apply: |c, _, v| {
            c.members = parse_list(v);
            Ok(())
        },
        show: |c| list_value(&c.members),
    },
    Setting {
        key: "server-list",
        env: "NACRE_SERVER_LIST",
        value_name: "HOST:PORT,...",
        help: "What GET /nacos/serverlist answers, for clients configured with an endpoint: the members' client addresses (needed with --peer-port, whose member ids are peer addresses)",
        default: Some("the members; a standalone node's own address"),
        switch: false,
        apply: |c, _, v| {
            c.server_list = parse_list(v);
            Ok(())
        },
        show: |c| list_value(&c.server_list),
    },
    Setting {
        key: "cluster-secret-file",
        env: "NACRE_CLUSTER_SECRET_FILE",
        value_name: "PATH",
        help: "File holding the cluster's shared secret (16 to 1024 visible ASCII characters)",
        default: Some("none"),
        switch: false,
        apply: |c, _, v| {
            c.cluster_secret = Some(SecretSource::File(PathBuf::from(v.trim())));
            Ok(())
        },
        show: |c| match &c.cluster_secret {
            Some(SecretSource::File(path)) => Some(text(path.display().to_string())),
            _ => None,
        },
    },
    Setting {
        key: "cluster-secret",
        env: "NACRE_CLUSTER_SECRET",
        value_name: "S",
        help: "The secret itself; shows in `ps`, prefer the file",
        default: Some("none"),
        switch: false,
        apply: |c, name, v| {
            c.cluster_secret = Some(parse_secret(name, v)?);
            Ok(())
        },
        // Never printed: see `ServerConfig::to_toml`.
        show: |_| None,
    },
    switch!(
        "ap-persistent-instances",
        "NACRE_AP_PERSISTENT_INSTANCES",
        "Keep persistent instances and service settings on each member's own --data-dir store, replicated by Distro (AP, as before the control plane), instead of on the control plane's Raft log",
        ap_persistent_instances
    ),
    switch!(
        "insecure-cluster",
        "NACRE_INSECURE_CLUSTER",
        "Run a cluster member without a secret: anything that reaches the peer route can act as a member",
        insecure_cluster
    ),
    Setting {
        key: "peer-port",
        env: "NACRE_PEER_PORT",
        value_name: "N",
        help: "Serve peer traffic on a port of its own (node ids are then PEER-BIND:PEER-PORT)",
        default: Some("the client port"),
        switch: false,
        apply: |c, name, v| {
            c.peer_port = Some(parse_port(name, v)?);
            Ok(())
        },
        show: |c| c.peer_port.map(port_value),
    },
    Setting {
        key: "peer-bind",
        env: "NACRE_PEER_BIND",
        value_name: "ADDR",
        help: "Address of the --peer-port listener, e.g. the members' private network",
        default: Some("BIND"),
        switch: false,
        apply: |c, name, v| {
            c.peer_bind = Some(parse_bind(name, v)?);
            Ok(())
        },
        show: |c| c.peer_bind.map(|a| text(a.to_string())),
    },
    count!(
        "peer-max-connections",
        "NACRE_PEER_MAX_CONNECTIONS",
        "Connections the --peer-port listener holds at once",
        peer_connections.max_total
    ),
    count!(
        "peer-max-connections-per-ip",
        "NACRE_PEER_MAX_CONNECTIONS_PER_IP",
        "Connections the --peer-port listener holds at once from one address",
        peer_connections.max_per_ip
    ),
    path!(
        "data-dir",
        "NACRE_DATA_DIR",
        "Keep the control plane's Raft log (namespaces, persistent instances, overrides, users) in PATH/control.redb and service settings in PATH/nacre.redb, loaded at start (a write answers once it is on disk)",
        "none: memory only",
        data_dir
    ),
    Setting {
        key: "commit",
        env: "NACRE_COMMIT",
        value_name: "MODE",
        help: "With --data-dir: `group` (writes arriving together share one fsync) or `per-write` (one fsync each; for measurements)",
        default: None,
        switch: false,
        // The mode only: a wait set by an earlier source stays.
        apply: |c, name, v| {
            c.commit.max_batch = parse_commit(name, v)?.max_batch;
            Ok(())
        },
        show: |c| Some(text(if c.commit.max_batch == 1 { "per-write" } else { "group" })),
    },
    duration!(
        "persist-wait",
        "NACRE_PERSIST_WAIT",
        "With --data-dir: how long a write waits for its commit before it is answered 503 (it stays applied, and is committed when the disk allows)",
        commit.wait_timeout
    ),
    duration!(
        "persist-retry",
        "NACRE_PERSIST_RETRY",
        "With --data-dir: the first pause before a failed commit is tried again (it doubles with each failure in a row)",
        commit.retry_delay
    ),
    duration!(
        "persist-max-retry",
        "NACRE_PERSIST_MAX_RETRY",
        "With --data-dir: the longest pause between tries while commits keep failing",
        commit.max_retry_delay
    ),
    duration!(
        "tombstone-ttl",
        "NACRE_TOMBSTONE_TTL",
        "How long a removal is remembered, so a stale copy from a peer cannot bring it back; in a cluster, removals of persistent data are kept longer, until every member has been up for it",
        health.tombstone_ttl
    ),
    duration!(
        "beat-interval",
        "NACRE_BEAT_INTERVAL",
        "How often clients are told to beat (an instance's preserved.heart.beat.interval overrides it)",
        health.beat_interval
    ),
    duration!(
        "beat-timeout",
        "NACRE_BEAT_TIMEOUT",
        "Silence after which an ephemeral instance is marked unhealthy (preserved.heart.beat.timeout overrides it)",
        health.beat_timeout
    ),
    duration!(
        "delete-timeout",
        "NACRE_DELETE_TIMEOUT",
        "Silence after which an ephemeral instance is removed (preserved.ip.delete.timeout overrides it)",
        health.delete_timeout
    ),
    duration!(
        "min-sweep-gap",
        "NACRE_MIN_SWEEP_GAP",
        "The shortest time between two health sweeps (a verdict is up to this late)",
        health.min_sweep_gap
    ),
    duration!(
        "sync-delay",
        "NACRE_SYNC_DELAY",
        "A cluster member's changes are sent to its peers in batches gathered for this long",
        distro.sync_delay
    ),
    duration!(
        "verify-interval",
        "NACRE_VERIFY_INTERVAL",
        "How often a cluster member checks its peers hold what it is responsible for",
        distro.verify_interval
    ),
    duration!(
        "peer-request-timeout",
        "NACRE_PEER_REQUEST_TIMEOUT",
        "A request to a peer not answered in this time fails (a forwarded write is then applied here)",
        distro.request_timeout
    ),
    duration!(
        "peer-down-after",
        "NACRE_PEER_DOWN_AFTER",
        "A peer not heard from for this long counts as down (its services are taken over)",
        distro.peer_down_after
    ),
    count!(
        "max-pending-per-peer",
        "NACRE_MAX_PENDING_PER_PEER",
        "Changes waiting to be sent to one peer; past it they are left to the next verify round",
        distro.max_pending_per_peer
    ),
    duration!(
        "max-clock-skew",
        "NACRE_MAX_CLOCK_SKEW",
        "A peer's version more than this ahead of this member's clock is refused",
        distro.max_clock_skew
    ),
    Setting {
        key: "allowed-hosts",
        env: "NACRE_ALLOWED_HOSTS",
        value_name: "NAME,...",
        help: "Host names the server answers to besides IP addresses and localhost, comma separated: the console always, and on a loopback bind the whole API, refuse another Host (421) against DNS rebinding",
        default: Some("none"),
        switch: false,
        apply: |c, _, v| {
            c.allowed_hosts = parse_list(v);
            Ok(())
        },
        show: |c| list_value(&c.allowed_hosts),
    },
    path!(
        "users-file",
        "NACRE_USERS_FILE",
        "Turn auth on: users (bcrypt passwords), roles and permissions in Nacos' model, TOML; every request then needs a token (reloaded on SIGHUP)",
        "none: no auth",
        users_file
    ),
    path!(
        "token-secret-file",
        "NACRE_TOKEN_SECRET_FILE",
        "With --users-file: the key tokens are signed with, base64 of at least 32 bytes (Nacos' token.secret.key; e.g. `openssl rand -base64 32`)",
        "none",
        token_secret_file
    ),
    duration!(
        "token-ttl",
        "NACRE_TOKEN_TTL",
        "With --users-file: how long a login's token is valid",
        token_ttl
    ),
    count!(
        "max-concurrent-logins",
        "NACRE_MAX_CONCURRENT_LOGINS",
        "With --users-file: logins (bcrypt checks) checked at once; more are answered 503, not queued",
        max_concurrent_logins
    ),
    count!(
        "login-throttle-sources",
        "NACRE_LOGIN_THROTTLE_SOURCES",
        "With --users-file: addresses whose failed logins are counted (ten a minute each are checked); past it the oldest are forgotten",
        login_throttle_sources
    ),
    switch!(
        "insecure-open-api",
        "NACRE_INSECURE_OPEN_API",
        "Serve without --users-file on a non-loopback address: anyone who reaches the ports may read and write every service",
        insecure_open_api
    ),
    switch!(
        "register-own-address-only",
        "NACRE_REGISTER_OWN_ADDRESS_ONLY",
        "Accept a v1 or gRPC registration only when its ip is the address the request comes from",
        register_own_address_only
    ),
    Setting {
        key: "probe-deny",
        env: "NACRE_PROBE_DENY",
        value_name: "CIDR,...",
        help: "Address blocks the active health checks of persistent instances never connect to, comma separated or the flag repeated, besides 169.254.0.0/16, fe80::/10 and fd00:ec2::254 (always denied)",
        default: Some("none"),
        switch: false,
        apply: |c, name, v| {
            c.probe_deny = parse_cidrs(name, v)?;
            Ok(())
        },
        show: |c| list_value(&c.probe_deny.iter().map(ToString::to_string).collect::<Vec<_>>()),
    },
    count!(
        "max-concurrent-probes",
        "NACRE_MAX_CONCURRENT_PROBES",
        "Active health checks of persistent instances running at once; due ones wait for a place",
        max_concurrent_probes
    ),
    duration!(
        "probe-timeout",
        "NACRE_PROBE_TIMEOUT",
        "The most one active health check may take (resolve, connect, HTTP answer); longer counts as a failure",
        probe_timeout
    ),
    path!(
        "tls-cert",
        "NACRE_TLS_CERT",
        "Serve the HTTP and gRPC ports over TLS with this PEM certificate chain, the server's own certificate first (needs --tls-key; a cluster member needs --peer-port)",
        "none: plaintext",
        tls.cert
    ),
    path!(
        "tls-key",
        "NACRE_TLS_KEY",
        "The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1)",
        "none",
        tls.key
    ),
    path!(
        "tls-client-ca",
        "NACRE_TLS_CLIENT_CA",
        "With --tls-cert: require every client to present a certificate signed by a CA in this PEM file (mutual TLS)",
        "none: no client certificates",
        tls.client_ca
    ),
    count!(
        "max-connections",
        "NACRE_MAX_CONNECTIONS",
        "HTTP connections held at once; more are closed as they arrive",
        serve.max_connections
    ),
    count!(
        "max-connections-per-ip",
        "NACRE_MAX_CONNECTIONS_PER_IP",
        "HTTP connections held at once from one address",
        serve.max_connections_per_ip
    ),
    duration!(
        "header-timeout",
        "NACRE_HEADER_TIMEOUT",
        "Time to receive an HTTP request's headers (and a keep-alive connection's next request)",
        serve.header_timeout
    ),
    duration!(
        "body-timeout",
        "NACRE_BODY_TIMEOUT",
        "Time to receive an HTTP request's body once its headers arrived (408 past it)",
        serve.body_timeout
    ),
    duration!(
        "idle-timeout",
        "NACRE_IDLE_TIMEOUT",
        "An HTTP connection with no request for this long is closed",
        serve.idle_timeout
    ),
    count!(
        "max-body-bytes",
        "NACRE_MAX_BODY_BYTES",
        "Largest HTTP request body (413 past it)",
        serve.max_body_bytes
    ),
    count!(
        "grpc-max-connections",
        "NACRE_GRPC_MAX_CONNECTIONS",
        "gRPC connections held at once; more are closed at accept",
        grpc.connections.max_total
    ),
    count!(
        "grpc-max-connections-per-ip",
        "NACRE_GRPC_MAX_CONNECTIONS_PER_IP",
        "gRPC connections held at once from one address",
        grpc.connections.max_per_ip
    ),
    duration!(
        "grpc-idle-before-probe",
        "NACRE_GRPC_IDLE_BEFORE_PROBE",
        "A gRPC connection silent this long is sent a ClientDetectionRequest",
        grpc.idle_before_probe
    ),
    duration!(
        "grpc-probe-timeout",
        "NACRE_GRPC_PROBE_TIMEOUT",
        "A gRPC connection that does not answer a detection in this time is dropped",
        grpc.probe_timeout
    ),
    count!(
        "grpc-stream-buffer",
        "NACRE_GRPC_STREAM_BUFFER",
        "Messages queued for one gRPC connection's bi-stream; a push past it fails",
        grpc.stream_buffer
    ),
    duration!(
        "grpc-push-merge-window",
        "NACRE_GRPC_PUSH_MERGE_WINDOW",
        "Changes of one service within this window are pushed to gRPC clients once",
        grpc.push.merge_window
    ),
    duration!(
        "grpc-push-ack-timeout",
        "NACRE_GRPC_PUSH_ACK_TIMEOUT",
        "A gRPC push not acked in this time is sent again, then counts as failed",
        grpc.push.ack_timeout
    ),
    duration!(
        "grpc-setup-timeout",
        "NACRE_GRPC_SETUP_TIMEOUT",
        "A gRPC connection without a live bi-stream this long is closed",
        grpc.setup_timeout
    ),
    Setting {
        key: "grpc-max-streams-per-connection",
        env: "NACRE_GRPC_MAX_STREAMS_PER_CONNECTION",
        value_name: "N",
        help: "Concurrent HTTP/2 streams of one gRPC connection",
        default: None,
        switch: false,
        apply: |c, name, v| {
            c.grpc.max_streams_per_connection = parse_count_u32(name, v)?;
            Ok(())
        },
        show: |c| Some(toml::Value::Integer(i64::from(c.grpc.max_streams_per_connection))),
    },
    count!(
        "grpc-max-request-bytes",
        "NACRE_GRPC_MAX_REQUEST_BYTES",
        "Largest gRPC request; a larger one is refused before it is read",
        grpc.max_request_bytes
    ),
    duration!(
        "grpc-request-timeout",
        "NACRE_GRPC_REQUEST_TIMEOUT",
        "Longest a gRPC request may take to arrive and be answered",
        grpc.request_timeout
    ),
    duration!(
        "grpc-keepalive-interval",
        "NACRE_GRPC_KEEPALIVE_INTERVAL",
        "Interval of the server's HTTP/2 keepalive pings",
        grpc.keepalive_interval
    ),
    duration!(
        "grpc-keepalive-timeout",
        "NACRE_GRPC_KEEPALIVE_TIMEOUT",
        "A keepalive ping unanswered this long closes the connection",
        grpc.keepalive_timeout
    ),
    count!(
        "grpc-max-queued-bytes-per-connection",
        "NACRE_GRPC_MAX_QUEUED_BYTES_PER_CONNECTION",
        "Bytes of pushes queued for a gRPC connection that is not reading; a push past it fails",
        grpc.max_queued_bytes_per_connection
    ),
    count!(
        "grpc-max-subscriptions-per-connection",
        "NACRE_GRPC_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        "Push subscriptions one gRPC connection may hold; more are refused with 429",
        grpc.max_subscriptions_per_connection
    ),
    count!(
        "grpc-max-subscriptions",
        "NACRE_GRPC_MAX_SUBSCRIPTIONS",
        "Push subscriptions the gRPC front holds over all connections; more are refused with 503",
        grpc.push.max_subscriptions
    ),
    Setting {
        key: "timeline-instances",
        env: "NACRE_TIMELINE_INSTANCES",
        value_name: "N",
        help: "Instances the instance timeline keeps a history of; the least recently changed goes first (0: no timeline)",
        default: None,
        switch: false,
        apply: |c, name, v| {
            c.timeline.instances = parse_count_or_zero(name, v)?;
            Ok(())
        },
        show: |c| Some(count_value(c.timeline.instances)),
    },
    count!(
        "timeline-entries",
        "NACRE_TIMELINE_ENTRIES",
        "Entries the instance timeline keeps per instance; the oldest go first",
        timeline.per_instance
    ),
    duration!(
        "drain-max-wait",
        "NACRE_DRAIN_MAX_WAIT",
        "The longest drainMillis a deregistration or enabled=false may wait for subscribers' acks; longer is refused with 400",
        drain.max_wait
    ),
    count!(
        "drain-max",
        "NACRE_DRAIN_MAX",
        "Drains in progress at once over every front; one more is refused with 429",
        drain.max_drains
    ),
    count!(
        "drain-max-per-client",
        "NACRE_DRAIN_MAX_PER_CLIENT",
        "Drains in progress at once from one client address; one more is refused with 429",
        drain.max_per_client
    ),
    count!(
        "udp-max-subscriptions",
        "NACRE_UDP_MAX_SUBSCRIPTIONS",
        "UDP push subscriptions of v1 clients (instance/list?udpPort=) held in total",
        udp.push.max_subscriptions
    ),
    duration!(
        "udp-push-merge-window",
        "NACRE_UDP_PUSH_MERGE_WINDOW",
        "Changes of one service within this window are pushed to v1 UDP clients once",
        udp.push.merge_window
    ),
    duration!(
        "udp-push-ack-timeout",
        "NACRE_UDP_PUSH_ACK_TIMEOUT",
        "A UDP push not acked in this time is sent again, then counts as failed",
        udp.push.ack_timeout
    ),
    count!(
        "udp-max-subscriptions-per-source",
        "NACRE_UDP_MAX_SUBSCRIPTIONS_PER_SOURCE",
        "UDP push subscriptions pushing to one host; more from it are not subscribed (its queries still answer)",
        udp.push.max_subscriptions_per_source
    ),
    count!(
        "console-max-streams",
        "NACRE_CONSOLE_MAX_STREAMS",
        "Live event streams the console serves at once (outside --max-connections)",
        console_streams.max_total
    ),
    count!(
        "console-max-streams-per-ip",
        "NACRE_CONSOLE_MAX_STREAMS_PER_IP",
        "Live console event streams from one address",
        console_streams.max_per_ip
    ),
    duration!(
        "console-stream-lifetime",
        "NACRE_CONSOLE_STREAM_LIFETIME",
        "A console event stream ends after this; the browser reconnects",
        console_stream_lifetime
    ),
    count!(
        "max-metadata-bytes",
        "NACRE_MAX_METADATA_BYTES",
        "Largest metadata of one instance, keys plus values",
        limits.max_metadata_bytes
    ),
    count!(
        "max-instances-per-service",
        "NACRE_MAX_INSTANCES_PER_SERVICE",
        "Most instances one service may hold",
        limits.max_instances_per_service
    ),
    count!(
        "max-services-per-namespace",
        "NACRE_MAX_SERVICES_PER_NAMESPACE",
        "Most services one namespace may hold",
        limits.max_services_per_namespace
    ),
    count!(
        "max-service-metadata-bytes",
        "NACRE_MAX_SERVICE_METADATA_BYTES",
        "Largest metadata of one service's settings, keys plus values",
        limits.max_service_metadata_bytes
    ),
    count!(
        "max-namespaces",
        "NACRE_MAX_NAMESPACES",
        "Most namespaces that may hold services at once",
        limits.max_namespaces
    ),
];
