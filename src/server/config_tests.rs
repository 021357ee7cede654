//! Unit tests of `config.rs`, `settings.rs` and `flags.rs`: the sources of settings and their
//! order.
use super::*;

/// The config from `args` alone (no environment, no file): the server's other tests use it too.
pub(in crate::server) fn parse(args: &[&str]) -> Result<ServerConfig, ConfigError> {
    ServerConfig::from_args_and_env(args.iter().map(|s| s.to_string()), |_| None)
}

#[test]
fn data_dir_and_commit_from_flag_or_environment() {
    assert_eq!(parse(&[]).unwrap().data_dir, None);
    let c = parse(&["--data-dir", "/var/lib/nacre", "--commit=per-write"]).unwrap();
    assert_eq!(c.data_dir, Some(PathBuf::from("/var/lib/nacre")));
    assert_eq!(c.commit, crate::persist::CommitPolicy::per_write());
    let env = |k: &str| (k == "NACRE_DATA_DIR").then(|| "/tmp/n".to_owned());
    let c = ServerConfig::from_args_and_env(Vec::new(), env).unwrap();
    assert_eq!(c.data_dir, Some(PathBuf::from("/tmp/n")));
    assert!(matches!(
        parse(&["--commit", "sometimes"]),
        Err(ConfigError::BadValue { .. })
    ));
}

#[test]
fn defaults_are_nacos_standalone_on_loopback() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.port, 8848);
    assert_eq!(c.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(c.is_standalone());
}

#[test]
fn flags_win_over_environment() {
    let env = |k: &str| match k {
        "NACRE_PORT" => Some("1000".to_owned()),
        "NACRE_MEMBERS" => Some("a:1,b:2".to_owned()),
        _ => None,
    };
    let c = ServerConfig::from_args_and_env(["--port=2000".to_owned()], env).unwrap();
    assert_eq!(c.port, 2000);
    assert_eq!(c.members, vec!["a:1", "b:2"]);
}

#[test]
fn bad_flags_are_refused_with_their_name() {
    assert_eq!(
        parse(&["--port", "x"]),
        Err(ConfigError::BadValue {
            setting: "--port".into(),
            value: "x".into(),
            expected: "a port number (0-65535)"
        })
    );
    assert_eq!(
        parse(&["--nope"]),
        Err(ConfigError::UnknownFlag("--nope".into()))
    );
    assert_eq!(
        parse(&["--bind"]),
        Err(ConfigError::MissingValue("--bind".into()))
    );
    assert_eq!(parse(&["-h"]), Err(ConfigError::Help));
}

#[test]
fn a_member_on_an_unspecified_address_needs_a_node_id() {
    let c = parse(&["--bind", "0.0.0.0", "--members", "a:1"]).unwrap();
    assert!(matches!(c.node_id(), Err(ConfigError::NeedsNodeId(_))));
    let c = parse(&[
        "--bind",
        "0.0.0.0",
        "--members",
        "a:1,b:2",
        "--node-id",
        "b:2",
    ])
    .unwrap();
    assert_eq!(c.member_ids().unwrap().len(), 2);
}

#[test]
fn a_node_id_that_is_not_one_of_the_members_is_refused_with_the_fix() {
    let c = parse(&[
        "--port",
        "9000",
        "--members",
        "127.0.0.1:9001,127.0.0.1:9002",
    ])
    .unwrap();
    let err = c.member_ids().unwrap_err();
    assert_eq!(
        err,
        ConfigError::NotAMember {
            node_id: "127.0.0.1:9000".into(),
            members: "127.0.0.1:9001,127.0.0.1:9002".into()
        }
    );
    let message = err.to_string();
    assert!(message.contains("set --node-id"), "{message}");
    let c = parse(&[
        "--node-id",
        "127.0.0.1:9001",
        "--members",
        "127.0.0.1:9001,127.0.0.1:9002",
    ])
    .unwrap();
    assert_eq!(c.member_ids().unwrap().len(), 2);
}

#[test]
fn a_member_needs_a_secret_or_the_insecure_flag() {
    let members = ["--node-id", "a:1", "--members", "a:1,b:2"];
    let c = parse(&members).unwrap();
    assert_eq!(c.peer_auth(), Err(ConfigError::NoClusterSecret));
    let with = |extra: &[&str]| {
        let mut args = members.to_vec();
        args.extend_from_slice(extra);
        parse(&args)
    };
    let c = with(&["--cluster-secret", "0123456789abcdef"]).unwrap();
    assert!(matches!(c.peer_auth(), Ok(PeerAuth::Secret(_))));
    let c = with(&["--insecure-cluster"]).unwrap();
    assert_eq!(c.peer_auth(), Ok(PeerAuth::InsecureNone));
    let c = with(&["--insecure-cluster", "--cluster-secret=0123456789abcdef"]).unwrap();
    assert!(matches!(
        c.peer_auth(),
        Err(ConfigError::Conflicting { .. })
    ));
    assert!(matches!(
        with(&["--cluster-secret", "short"]),
        Err(ConfigError::BadSecret { .. })
    ));
    assert!(matches!(
        with(&[
            "--cluster-secret",
            "0123456789abcdef",
            "--cluster-secret-file",
            "/x"
        ]),
        Err(ConfigError::Conflicting { .. })
    ));
    let c = with(&["--cluster-secret-file", "/nonexistent/nacre-secret"]).unwrap();
    assert!(matches!(
        c.peer_auth(),
        Err(ConfigError::BadSecret {
            source: SecretError::File { .. },
            ..
        })
    ));
}

#[test]
fn the_secret_comes_from_the_environment_unless_a_flag_gives_one() {
    let env = |k: &str| match k {
        "NACRE_MEMBERS" => Some("a:1,b:2".to_owned()),
        "NACRE_NODE_ID" => Some("a:1".to_owned()),
        "NACRE_CLUSTER_SECRET_FILE" => Some("/run/secrets/nacre".to_owned()),
        "NACRE_INSECURE_CLUSTER" => Some("false".to_owned()),
        _ => None,
    };
    let c = ServerConfig::from_args_and_env(Vec::new(), env).unwrap();
    assert_eq!(
        c.cluster_secret,
        Some(SecretSource::File(PathBuf::from("/run/secrets/nacre")))
    );
    let args = ["--cluster-secret", "0123456789abcdef"].map(String::from);
    let c = ServerConfig::from_args_and_env(args, env).unwrap();
    assert!(matches!(c.cluster_secret, Some(SecretSource::Inline(_))));
    assert!(!format!("{c:?}").contains("0123456789abcdef"), "redacted");
}

#[test]
fn with_a_peer_port_the_node_id_is_the_peer_address() {
    let c = parse(&[
        "--port",
        "8848",
        "--peer-port",
        "7848",
        "--members",
        "127.0.0.1:7848",
    ])
    .unwrap();
    assert_eq!(c.node_id().unwrap().as_str(), "127.0.0.1:7848");
    assert_eq!(c.member_ids().unwrap().len(), 1);
}

/// A file in the temp directory with `text`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("nacre-config-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
    fn arg(&self) -> String {
        format!("--config={}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_file_then_the_environment_then_the_flags() {
    let file = TempFile::new(
        "order",
        r#"
port = 1000
bind = "127.0.0.2"
members = ["127.0.0.2:1000", "127.0.0.2:1001"]
data-dir = "/var/lib/nacre"
commit = "per-write"
"#,
    );
    let c = ServerConfig::from_args_and_env([file.arg()], |_| None).unwrap();
    assert_eq!(c.port, 1000);
    assert_eq!(c.bind, "127.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(c.members, vec!["127.0.0.2:1000", "127.0.0.2:1001"]);
    assert_eq!(c.data_dir, Some(PathBuf::from("/var/lib/nacre")));
    assert_eq!(c.commit, crate::persist::CommitPolicy::per_write());
    let env = |k: &str| match k {
        "NACRE_PORT" => Some("2000".to_owned()),
        "NACRE_COMMIT" => Some("group".to_owned()),
        // Blank: as if unset; the file's value stays.
        "NACRE_BIND" => Some("  ".to_owned()),
        _ => None,
    };
    let c = ServerConfig::from_args_and_env([file.arg()], env).unwrap();
    assert_eq!(
        (c.port, c.commit),
        (2000, crate::persist::CommitPolicy::group())
    );
    assert_eq!(c.bind, "127.0.0.2".parse::<IpAddr>().unwrap());
    let c = ServerConfig::from_args_and_env([file.arg(), "--port=3000".into()], env).unwrap();
    assert_eq!(c.port, 3000);
    assert_eq!(c.members.len(), 2, "what no later source sets stays");
    // NACRE_CONFIG names the file when --config does not.
    let path = file.0.display().to_string();
    let by_env = |k: &str| (k == "NACRE_CONFIG").then(|| path.clone());
    assert_eq!(
        ServerConfig::from_args_and_env([], by_env).unwrap().port,
        1000
    );
    let other = TempFile::new("other", "port = 4000\n");
    let c = ServerConfig::from_args_and_env([other.arg()], by_env).unwrap();
    assert_eq!(c.port, 4000, "--config wins over NACRE_CONFIG");
    // A repeated flag: the last wins.
    assert_eq!(parse(&["--port", "1", "--port", "2"]).unwrap().port, 2);
}

#[test]
fn file_errors_name_the_key_and_the_file() {
    let load = |text: &str| {
        let file = TempFile::new("bad", text);
        let err = ServerConfig::from_args_and_env([file.arg()], |_| None).unwrap_err();
        (err.clone(), err.to_string(), file.0.display().to_string())
    };
    let (err, message, path) = load("prot = 8848\n");
    assert!(
        matches!(&err, ConfigError::UnknownKey { key, .. } if key == "prot"),
        "{err:?}"
    );
    assert!(
        message.contains(&path) && message.contains("port, grpc-port"),
        "{message}"
    );
    let (err, message, path) = load("port = 70000\n");
    assert_eq!(
        err,
        ConfigError::BadValue {
            setting: format!("`port` in {path}"),
            value: "70000".into(),
            expected: "a port number (0-65535)",
        }
    );
    assert!(message.contains("`port` in"), "{message}");
    let (_, message, _) = load("[port]\nx = 1\n");
    assert!(message.contains("`port` in"), "{message}");
    let (_, message, _) = load("members = [1, 2]\n");
    assert!(message.contains("`members` in"), "{message}");
    let (_, message, _) = load("commit = \"sometimes\"\n");
    assert!(
        message.contains("`commit` in") && message.contains("per-write"),
        "{message}"
    );
    let (err, message, _) = load("port = \n");
    assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
    assert!(message.contains("line 1"), "{message}");
    let missing =
        ServerConfig::from_args_and_env(["--config=/nonexistent/nacre.toml".to_owned()], |_| None)
            .unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/nacre.toml"),
        "{missing}"
    );
}

#[test]
fn one_source_gives_one_secret_and_a_later_source_replaces_it() {
    let both = TempFile::new(
        "secrets",
        "cluster-secret = \"0123456789abcdef\"\ncluster-secret-file = \"/x\"\n",
    );
    let err = ServerConfig::from_args_and_env([both.arg()], |_| None).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("`cluster-secret` in") && message.contains("`cluster-secret-file` in"),
        "{message}"
    );
    let file = TempFile::new(
        "secret-file",
        "cluster-secret-file = \"/run/nacre.secret\"\n",
    );
    let env = |k: &str| (k == "NACRE_CLUSTER_SECRET").then(|| "0123456789abcdef".to_owned());
    let c = ServerConfig::from_args_and_env([file.arg()], env).unwrap();
    assert!(matches!(c.cluster_secret, Some(SecretSource::Inline(_))));
    let c = ServerConfig::from_args_and_env(
        [file.arg(), "--cluster-secret-file=/etc/other".to_owned()],
        env,
    )
    .unwrap();
    assert_eq!(
        c.cluster_secret,
        Some(SecretSource::File(PathBuf::from("/etc/other")))
    );
}

#[test]
fn print_config_reads_back_as_the_same_config() {
    let c = parse(&[
        "--port=9000",
        "--grpc-port=9100",
        "--bind=127.0.0.3",
        "--node-id=127.0.0.3:9000",
        "--members=127.0.0.3:9000,127.0.0.3:9001",
        "--cluster-secret-file=/etc/nacre.secret",
        "--peer-port=7000",
        "--data-dir=/var/lib/nacre",
        "--commit=per-write",
        "--persist-wait=750ms",
    ])
    .unwrap();
    let printed = c.to_toml();
    let file = TempFile::new("printed", &printed);
    let again = ServerConfig::from_args_and_env([file.arg()], |_| None).unwrap();
    assert_eq!(again, c, "{printed}");
    let invocation = ServerConfig::invocation(["--print-config".to_owned()], |_| None).unwrap();
    assert!(invocation.print_config);
    assert!(invocation.config.to_toml().contains("port = 8848\n"));
    let secret = parse(&["--cluster-secret", "0123456789abcdef"]).unwrap();
    assert!(
        !secret.to_toml().contains("0123456789abcdef"),
        "never printed"
    );
}

#[test]
fn subscription_caps_are_settings_and_must_be_above_zero() {
    let args = ["--grpc-max-subscriptions-per-connection", "7"].map(String::from);
    let env = |name: &str| (name == "NACRE_GRPC_MAX_SUBSCRIPTIONS").then(|| "9".to_owned());
    let config = ServerConfig::from_args_and_env(args, env).unwrap();
    assert_eq!(config.grpc.max_subscriptions_per_connection, 7);
    assert_eq!(config.grpc.push.max_subscriptions, 9);
    assert!(config
        .to_toml()
        .contains("grpc-max-subscriptions-per-connection = 7"));
    for bad in ["0", "-1", "many"] {
        let args = [format!("--grpc-max-subscriptions={bad}")];
        let err = ServerConfig::from_args_and_env(args, |_| None).unwrap_err();
        assert!(
            err.to_string().contains("--grpc-max-subscriptions"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_persist_wait_is_a_setting_kept_apart_from_the_commit_mode() {
    use crate::persist::DEFAULT_WAIT_TIMEOUT;
    use std::time::Duration;
    assert_eq!(
        parse(&[]).unwrap().commit.wait_timeout,
        DEFAULT_WAIT_TIMEOUT
    );
    // The file sets the wait, the environment the mode: neither undoes the other.
    let file = TempFile::new("wait", "persist-wait = \"250ms\"\n");
    let env = |k: &str| (k == "NACRE_COMMIT").then(|| "per-write".to_owned());
    let c = ServerConfig::from_args_and_env([file.arg()], env).unwrap();
    assert_eq!(c.commit.wait_timeout, Duration::from_millis(250));
    assert_eq!(c.commit.max_batch, 1);
    let env = |k: &str| (k == "NACRE_PERSIST_WAIT").then(|| "1500ms".to_owned());
    let c = ServerConfig::from_args_and_env(["--commit=group".to_owned()], env).unwrap();
    assert_eq!(c.commit.wait_timeout, Duration::from_millis(1500));
    assert!(
        c.to_toml().contains("persist-wait = \"1500ms\"\n"),
        "{}",
        c.to_toml()
    );
    let c = parse(&["--persist-wait", "40ms"]).unwrap();
    assert_eq!(c.commit.wait_timeout, Duration::from_millis(40));
    for bad in ["0", "-5", "soon"] {
        let err = parse(&[&format!("--persist-wait={bad}")]).unwrap_err();
        assert!(err.to_string().contains("--persist-wait"), "{bad}: {err}");
    }
}

#[test]
fn the_tombstone_ttl_is_a_setting_in_seconds_or_with_a_unit() {
    use std::time::Duration;
    let c = parse(&[]).unwrap();
    assert_eq!(c.health.tombstone_ttl, Duration::from_secs(300));
    assert_eq!(c.health(), crate::HealthConfig::default());
    assert!(c.to_toml().contains("tombstone-ttl = \"5m\"\n"));
    for (given, want) in [
        ("2", Duration::from_secs(2)),
        ("2s", Duration::from_secs(2)),
        ("1500ms", Duration::from_millis(1500)),
        ("5m", Duration::from_secs(300)),
        ("1h", Duration::from_secs(3600)),
    ] {
        let c = parse(&["--tombstone-ttl", given]).unwrap();
        assert_eq!(c.health.tombstone_ttl, want, "{given}");
        assert_eq!(c.health().tombstone_ttl, want, "{given}");
        // --print-config prints it so that it reads back the same.
        let file = TempFile::new(&format!("ttl-{given}"), &c.to_toml());
        let again = ServerConfig::from_args_and_env([file.arg()], |_| None).unwrap();
        assert_eq!(again.health.tombstone_ttl, want, "{given}");
    }
    let env = |k: &str| (k == "NACRE_TOMBSTONE_TTL").then(|| "7s".to_owned());
    let c = ServerConfig::from_args_and_env(Vec::new(), env).unwrap();
    assert_eq!(c.health.tombstone_ttl, Duration::from_secs(7));
    let file = TempFile::new("ttl-key", "tombstone-ttl = 9\n");
    let c = ServerConfig::from_args_and_env([file.arg()], |_| None).unwrap();
    assert_eq!(c.health.tombstone_ttl, Duration::from_secs(9));
    for bad in ["0", "0ms", "-1", "soon", "5 days", "1.5s", ""] {
        let err = parse(&[&format!("--tombstone-ttl={bad}")]).unwrap_err();
        assert!(
            err.to_string().contains("--tombstone-ttl") || bad.is_empty(),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_reachable_node_without_users_refuses_to_start_unless_told_to_serve_open() {
    let config = |args: &[&str]| {
        ServerConfig::from_args_and_env(args.iter().map(|a| a.to_string()), |_| None).unwrap()
    };
    // Loopback: open, for development.
    assert_eq!(config(&[]).api_auth(), Ok(None));
    assert_eq!(config(&["--bind", "127.0.0.2"]).api_auth(), Ok(None));
    let err = config(&["--bind", "0.0.0.0"]).api_auth().unwrap_err();
    assert!(matches!(err, ConfigError::OpenApi { .. }), "{err}");
    let message = err.to_string();
    for says in [
        "--users-file",
        "--token-secret-file",
        "--insecure-open-api",
        "hash-password",
    ] {
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(
        config(&["--bind", "0.0.0.0", "--insecure-open-api"]).api_auth(),
        Ok(None)
    );
    assert_eq!(
        config(&["--bind", "10.0.0.1", "--users-file", "/u.toml"]).api_auth(),
        Err(ConfigError::NoTokenSecret)
    );
    assert_eq!(
        config(&["--users-file", "/u.toml", "--token-secret-file", "/k"]).api_auth(),
        Ok(Some(("/u.toml".into(), "/k".into())))
    );
    assert!(matches!(
        config(&[
            "--users-file",
            "/u",
            "--token-secret-file",
            "/k",
            "--insecure-open-api"
        ])
        .api_auth(),
        Err(ConfigError::Conflicting { .. })
    ));
    let ttl = config(&["--token-ttl", "1h"]);
    assert_eq!(ttl.token_ttl, std::time::Duration::from_secs(3600));
    assert_eq!(
        config(&[]).token_ttl,
        std::time::Duration::from_secs(18_000)
    );
    let logins = config(&[
        "--max-concurrent-logins",
        "2",
        "--login-throttle-sources",
        "500",
    ]);
    assert_eq!(
        (logins.max_concurrent_logins, logins.login_throttle_sources),
        (2, 500)
    );
    assert_eq!(config(&[]).max_concurrent_logins, 4);
    assert!(ServerConfig::from_args_and_env(
        ["--max-concurrent-logins", "0"].map(String::from),
        |_| None
    )
    .is_err());
}
