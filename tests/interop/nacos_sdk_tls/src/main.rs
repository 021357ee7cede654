//! nacos-sdk-rust 0.8, built with its `tls` and `auth-by-http` features, used as an application
//! would against a nacre-server with TLS and a users file (tests/interop/nacos_sdk_tls_run.sh).
//!
//! ```text
//! nacos_sdk_tls HOST:PORT CHECK
//! ```
//!
//! The server's HTTP port is PORT, its gRPC port PORT + 1000 (the client's default). The users
//! come from the environment as tests/interop/lib.sh exports them: `NACRE_WRITER` and
//! `NACRE_WRITER_PASSWORD` (may read and write the public namespace), `NACRE_READER` and
//! `NACRE_READER_PASSWORD` (may only read it). The client trusts a CA through the environment
//! only: gRPC through `NACOS_CLIENT_TLS_CA_CERT`, its login (reqwest on OpenSSL) through
//! `SSL_CERT_FILE`. CHECK is what to expect:
//!
//! - `trusted`: the CA is trusted both ways. The writer registers, lists, subscribes and is
//!   pushed its second instance; the reader lists and its registration is refused; a client
//!   without credentials and one with a wrong password can neither query nor register.
//! - `cannot-connect`: the server's certificate is not trusted for gRPC: building the client,
//!   which checks the connection, fails, and its log says the certificate is why.
//! - `login-untrusted`: gRPC trusts the CA, the login does not: the client connects, its login
//!   fails (it only logs that), and the server refuses its query and its registration.
//!
//! Prints a line per check; exits 1 at the first mismatch, saying what was expected and what
//! happened. The client's own log (warnings and errors) goes to stderr.

use nacos_sdk::api::error::Error;
use nacos_sdk::api::naming::{
    NamingChangeEvent, NamingEventListener, NamingService, NamingServiceBuilder, ServiceInstance,
};
use nacos_sdk::api::props::ClientProps;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVICE: &str = "tls-orders";
const GROUP: &str = "DEFAULT_GROUP";
/// How long any one call, and a push, may take.
const WAIT: Duration = Duration::from_secs(30);

/// What the client reports of a refused write: the response's error code.
const WRITE_REFUSED: &str = "error_code=403";
/// What it reports of a refused query: nacre's refusal carries an empty `serviceInfo`, which
/// this client's QueryServiceResponse requires (Nacos leaves it out and the client fails to
/// parse it), so it reports the codes.
const QUERY_REFUSED: &str = "error_code=403";

/// Everything the client logged so far (it also goes to stderr): how it says why it failed.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The first place the client's log says `what`, with what follows on the line (up to a
/// quote or a comma, at most 80 characters): `None` if it never said it.
fn logged(what: &str) -> Option<String> {
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    let at = log.find(what)?;
    Some(
        log[at..]
            .chars()
            .take_while(|c| !matches!(c, '"' | ',' | '\n'))
            .take(80)
            .collect(),
    )
}

/// A check that did not go as expected.
struct Mismatch(String);

type Checked<T = ()> = Result<T, Mismatch>;

fn mismatch<T>(what: impl Into<String>) -> Checked<T> {
    Err(Mismatch(what.into()))
}

fn ok(what: &str) {
    println!("ok: {what}");
}

/// `future`, or a mismatch naming `what` if it takes longer than [`WAIT`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> Checked<T> {
    match tokio::time::timeout(WAIT, future).await {
        Ok(out) => Ok(out),
        Err(_) => mismatch(format!("{what}: no answer within {WAIT:?}")),
    }
}

struct Config {
    addr: String,
    writer: (String, String),
    reader: (String, String),
    cache_dir: PathBuf,
}

impl Config {
    /// A client as `app`, logging in as `login` (`None`: no auth plugin, no credentials).
    async fn client(&self, app: &str, login: Option<(&str, &str)>) -> Result<NamingService, Error> {
        let mut props = ClientProps::new()
            .server_addr(self.addr.clone())
            .namespace("")
            .app_name(app)
            .cache_dir(self.cache_dir.join(app));
        let builder = match login {
            Some((username, password)) => {
                props = props.auth_username(username).auth_password(password);
                NamingServiceBuilder::new(props).enable_auth_plugin_http()
            }
            None => NamingServiceBuilder::new(props),
        };
        builder.build().await
    }

    /// A client that must connect.
    async fn connected(&self, app: &str, login: Option<(&str, &str)>) -> Checked<NamingService> {
        let what = format!("the {app} client connects over TLS");
        match within(&what, self.client(app, login)).await? {
            Ok(client) => {
                ok(&what);
                Ok(client)
            }
            Err(e) => mismatch(format!("{what}: it failed: {e}")),
        }
    }
}

fn instance(ip: &str) -> ServiceInstance {
    ServiceInstance {
        ip: ip.to_owned(),
        port: 8080,
        ..Default::default()
    }
}

async fn register(client: &NamingService, ip: &str) -> Result<(), Error> {
    client
        .register_instance(SERVICE.into(), Some(GROUP.into()), instance(ip))
        .await
}

async fn deregister(client: &NamingService, ip: &str) -> Result<(), Error> {
    client
        .deregister_instance(SERVICE.into(), Some(GROUP.into()), instance(ip))
        .await
}

/// `ip:port` of every instance of the service, sorted.
async fn listed(client: &NamingService) -> Result<Vec<String>, Error> {
    let all = client
        .get_all_instances(SERVICE.into(), Some(GROUP.into()), Vec::new(), false)
        .await?;
    let mut hosts: Vec<String> = all.iter().map(|i| format!("{}:{}", i.ip, i.port)).collect();
    hosts.sort();
    Ok(hosts)
}

/// The call succeeded.
async fn succeeds<T>(what: &str, call: impl Future<Output = Result<T, Error>>) -> Checked<T> {
    match within(what, call).await? {
        Ok(out) => {
            ok(what);
            Ok(out)
        }
        Err(e) => mismatch(format!("{what}: expected it to succeed, it failed: {e}")),
    }
}

/// The call failed, and the client's report of it says `says`.
async fn refused<T: std::fmt::Debug>(
    what: &str,
    call: impl Future<Output = Result<T, Error>>,
    says: &str,
) -> Checked {
    match within(what, call).await? {
        Ok(out) => mismatch(format!("{what}: expected it to fail, it answered {out:?}")),
        Err(e) if e.to_string().contains(says) => {
            ok(&format!("{what} (the client reports: {e})"));
            Ok(())
        }
        Err(e) => mismatch(format!(
            "{what}: expected an error saying {says:?}, got: {e}"
        )),
    }
}

/// The service lists exactly `want`, as `client` queries it.
async fn lists(what: &str, client: &NamingService, want: &[&str]) -> Checked {
    let hosts = succeeds(what, listed(client)).await?;
    if hosts.iter().map(String::as_str).eq(want.iter().copied()) {
        Ok(())
    } else {
        mismatch(format!("{what}: expected {want:?}, listed {hosts:?}"))
    }
}

/// Every host list a subscriber was pushed.
#[derive(Default)]
struct Events(Mutex<Vec<Vec<String>>>);

impl NamingEventListener for Events {
    fn event(&self, event: Arc<NamingChangeEvent>) {
        let mut hosts: Vec<String> = event
            .instances
            .iter()
            .flatten()
            .map(|i| format!("{}:{}", i.ip, i.port))
            .collect();
        hosts.sort();
        self.0.lock().unwrap().push(hosts);
    }
}

impl Events {
    /// Waits (polling, up to [`WAIT`]) until the last push lists exactly `want`.
    async fn until(&self, what: &str, want: &[&str]) -> Checked {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.0.lock().unwrap().clone();
            if seen
                .last()
                .is_some_and(|last| last.iter().map(String::as_str).eq(want.iter().copied()))
            {
                ok(what);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return mismatch(format!(
                    "{what}: never pushed {want:?} within {WAIT:?}; pushes: {seen:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The CA trusted both ways: each identity gets what its permissions allow.
async fn trusted(config: &Config) -> Checked {
    let (writer_name, writer_password) = &config.writer;
    let (reader_name, reader_password) = &config.reader;

    // The writer: registers, lists, subscribes and is pushed its second instance.
    let writer = config
        .connected("writer", Some((writer_name, writer_password)))
        .await?;
    succeeds(
        "the writer registers 10.21.0.1",
        register(&writer, "10.21.0.1"),
    )
    .await?;
    lists(
        "the writer lists its instance",
        &writer,
        &["10.21.0.1:8080"],
    )
    .await?;
    let events = Arc::new(Events::default());
    succeeds(
        "the writer subscribes",
        writer.subscribe(
            SERVICE.into(),
            Some(GROUP.into()),
            Vec::new(),
            events.clone(),
        ),
    )
    .await?;
    succeeds(
        "the writer registers 10.21.0.2",
        register(&writer, "10.21.0.2"),
    )
    .await?;
    events
        .until(
            "the writer is pushed both instances",
            &["10.21.0.1:8080", "10.21.0.2:8080"],
        )
        .await?;

    // The reader: lists what the writer registered; its registration is refused, lands not.
    let reader = config
        .connected("reader", Some((reader_name, reader_password)))
        .await?;
    lists(
        "the reader lists the writer's instances",
        &reader,
        &["10.21.0.1:8080", "10.21.0.2:8080"],
    )
    .await?;
    refused(
        "the reader's registration is refused",
        register(&reader, "10.21.0.9"),
        WRITE_REFUSED,
    )
    .await?;
    lists(
        "the reader's registration did not land",
        &writer,
        &["10.21.0.1:8080", "10.21.0.2:8080"],
    )
    .await?;

    // No credentials, then a wrong password (last: failed logins count against the address).
    let nobody = config.connected("nobody", None).await?;
    refused(
        "a query without credentials is refused",
        listed(&nobody),
        QUERY_REFUSED,
    )
    .await?;
    refused(
        "a registration without credentials is refused",
        register(&nobody, "10.21.0.8"),
        WRITE_REFUSED,
    )
    .await?;
    let wrong = config
        .connected("wrong-password", Some((writer_name, "not-the-password")))
        .await?;
    refused(
        "a query with a wrong password is refused",
        listed(&wrong),
        QUERY_REFUSED,
    )
    .await?;
    refused(
        "a registration with a wrong password is refused",
        register(&wrong, "10.21.0.7"),
        WRITE_REFUSED,
    )
    .await?;

    // The writer cleans up.
    succeeds(
        "the writer deregisters 10.21.0.2",
        deregister(&writer, "10.21.0.2"),
    )
    .await?;
    events
        .until(
            "the writer is pushed the deregistration",
            &["10.21.0.1:8080"],
        )
        .await?;
    succeeds(
        "the writer deregisters 10.21.0.1",
        deregister(&writer, "10.21.0.1"),
    )
    .await?;
    lists("the service is empty again", &writer, &[]).await
}

/// The server's certificate is not trusted for gRPC: the client does not connect, and its log
/// says the certificate is why.
async fn cannot_connect(config: &Config) -> Checked {
    let (name, password) = &config.writer;
    let what = "the writer's client does not connect";
    match within(what, config.client("untrusting", Some((name, password)))).await? {
        Ok(_) => mismatch(format!("{what}: it connected")),
        Err(e) => match logged("invalid peer certificate") {
            Some(why) => {
                ok(&format!("{what} (the client reports: {e}; its log: {why})"));
                Ok(())
            }
            None => mismatch(format!(
                "{what}: it failed ({e}), but its log does not say the certificate is why"
            )),
        },
    }
}

/// gRPC trusts the CA, the login does not: connected, but refused as without credentials; the
/// log says the login's certificate check failed.
async fn login_untrusted(config: &Config) -> Checked {
    let (name, password) = &config.writer;
    let writer = config.connected("writer", Some((name, password))).await?;
    let what = "its login over https fails";
    match logged("certificate verify failed") {
        Some(why) => ok(&format!("{what} (its log: {why})")),
        None => return mismatch(format!("{what}: its log does not say so")),
    }
    refused(
        "the writer's query without a login is refused",
        listed(&writer),
        QUERY_REFUSED,
    )
    .await?;
    refused(
        "the writer's registration without a login is refused",
        register(&writer, "10.21.0.6"),
        WRITE_REFUSED,
    )
    .await
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (tests/interop/lib.sh sets it)"))
}

fn config(addr: String) -> Result<Config, String> {
    let cache_dir = std::env::temp_dir().join(format!("nacos_sdk_tls-{}", std::process::id()));
    Ok(Config {
        addr,
        writer: (env("NACRE_WRITER")?, env("NACRE_WRITER_PASSWORD")?),
        reader: (env("NACRE_READER")?, env("NACRE_READER_PASSWORD")?),
        cache_dir,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, check] = <[String; 2]>::try_from(args).unwrap_or_else(|_| {
        eprintln!("usage: nacos_sdk_tls HOST:PORT trusted|cannot-connect|login-untrusted");
        std::process::exit(2)
    });
    let config = match config(addr) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("nacos_sdk_tls: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match check.as_str() {
        "trusted" => trusted(&config).await,
        "cannot-connect" => cannot_connect(&config).await,
        "login-untrusted" => login_untrusted(&config).await,
        other => {
            eprintln!("nacos_sdk_tls: unknown check {other:?}");
            return ExitCode::from(2);
        }
    };
    let _ = std::fs::remove_dir_all(&config.cache_dir);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Mismatch(what)) => {
            println!("FAILED: {what}");
            ExitCode::FAILURE
        }
    }
}
