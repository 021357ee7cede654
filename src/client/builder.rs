//! [`NamingClientBuilder`]: transport, clock, namespace, cache directory and timing of a
//! [`NamingClient`].

use super::error::ClientError;
use super::naming_client::NamingClient;
use crate::clock::{Clock, SystemClock};
use crate::model::{NamespaceId, DEFAULT_NAMESPACE};
use crate::protocol::{ClientTransport, DEFAULT_CACHE_MILLIS};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Nacos' default client beat interval.
pub const DEFAULT_BEAT_INTERVAL: Duration = Duration::from_secs(5);

/// The settings a built client runs with.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    pub(crate) namespace: NamespaceId,
    pub(crate) beat_interval: Duration,
    pub(crate) pull_interval: Duration,
    pub(crate) push_empty_protection: bool,
}

/// Configures a [`NamingClient`]. Only the transport is required; the defaults are the system
/// clock, namespace `public`, no failover directory, Nacos' timing (beat every 5 s until the
/// server says otherwise, pull every 10 s unless the server's `cacheMillis` says otherwise),
/// push-empty protection on, one event delivery thread.
///
/// ```
/// use nacre::client::NamingClient;
/// use nacre::transport::memory::MemoryClientTransport;
/// use nacre::{ManualClock, Registry};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = ManualClock::new();
/// let node = Registry::builder().clock(clock.clone()).build();
/// let client = NamingClient::builder(MemoryClientTransport::new(node))
///     .clock(clock)
///     .namespace("dev")
///     .push_empty_protection(false)
///     .build()
///     .unwrap();
/// assert_eq!(client.namespace().as_str(), "dev");
/// assert!(NamingClient::builder(MemoryClientTransport::new(Registry::default()))
///     .namespace("bad namespace")
///     .build()
///     .is_err());
/// # });
/// ```
#[must_use]
pub struct NamingClientBuilder {
    transport: Arc<dyn ClientTransport>,
    clock: Arc<dyn Clock>,
    namespace: String,
    cache_dir: Option<PathBuf>,
    beat_interval: Duration,
    pull_interval: Duration,
    push_empty_protection: bool,
    delivery_threads: usize,
}

impl std::fmt::Debug for NamingClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamingClientBuilder")
            .field("clock", &self.clock)
            .field("namespace", &self.namespace)
            .field("cache_dir", &self.cache_dir)
            .field("beat_interval", &self.beat_interval)
            .field("pull_interval", &self.pull_interval)
            .field("push_empty_protection", &self.push_empty_protection)
            .field("delivery_threads", &self.delivery_threads)
            .finish_non_exhaustive()
    }
}

impl NamingClientBuilder {
    pub(crate) fn new(transport: Arc<dyn ClientTransport>) -> Self {
        Self {
            transport,
            clock: Arc::new(SystemClock::new()),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            cache_dir: None,
            beat_interval: DEFAULT_BEAT_INTERVAL,
            pull_interval: Duration::from_millis(DEFAULT_CACHE_MILLIS),
            push_empty_protection: true,
            delivery_threads: 1,
        }
    }

    /// The clock beats and pulls are timed by (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The namespace every call of the client works in (default `public`). Checked by
    /// [`NamingClientBuilder::build`].
    pub fn namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// The failover directory: subscribed services are written there on every change and read
    /// back when no server answers (default: none, no failover).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The beat interval used until a server answers one (default 5 s). An instance's
    /// `preserved.heart.beat.interval` metadata takes precedence.
    pub fn beat_interval(mut self, interval: Duration) -> Self {
        self.beat_interval = interval;
        self
    }

    /// How often a subscribed service is pulled when the server's answer does not say
    /// (`cacheMillis` 0), and until the first answer (default 10 s).
    pub fn pull_interval(mut self, interval: Duration) -> Self {
        self.pull_interval = interval;
        self
    }

    /// Whether an empty answer may not replace a non-empty cached instance list (default
    /// `true`). Nacos calls this `namingPushEmptyProtection`; with it off, a server that lost
    /// its data empties every consumer's view until the providers beat again.
    pub fn push_empty_protection(mut self, on: bool) -> Self {
        self.push_empty_protection = on;
        self
    }

    /// Threads that call event listeners (default 1, at least 1).
    pub fn delivery_threads(mut self, n: usize) -> Self {
        self.delivery_threads = n.max(1);
        self
    }

    /// Checks the settings, opens the failover directory, and starts the client's background
    /// tasks on the current tokio runtime.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a bad namespace, [`ClientError::Failover`] when the cache
    /// directory cannot be created, [`ClientError::NoRuntime`] outside a tokio runtime.
    ///
    /// # Panics
    /// If the operating system cannot start the event delivery threads.
    pub fn build(self) -> Result<NamingClient, ClientError> {
        let namespace = NamespaceId::new(&self.namespace)?;
        let config = ClientConfig {
            namespace,
            beat_interval: nonzero(self.beat_interval, DEFAULT_BEAT_INTERVAL),
            pull_interval: nonzero(
                self.pull_interval,
                Duration::from_millis(DEFAULT_CACHE_MILLIS),
            ),
            push_empty_protection: self.push_empty_protection,
        };
        NamingClient::start(
            config,
            self.transport,
            self.clock,
            self.cache_dir,
            self.delivery_threads,
        )
    }
}

/// A zero interval would make a task spin; fall back to the default instead.
fn nonzero(d: Duration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d
    }
}
