//! Active health checks of persistent instances (feature `http`): the server probes each one,
//! per cluster as Nacos does — a TCP connect by default, an HTTP `GET` of a path, or none —
//! and turns it unhealthy or healthy again by what it finds.
//!
//! Ephemeral instances keep their health by beating ([`crate::health`]); a persistent one never
//! beats, so without probes its health is whatever it was registered with.
//!
//! - [`policy`] is pure: when each instance is next due, how an [`Outcome`] counts, when the
//!   count flips the health. Every rule is tested with explicit times.
//! - [`Prober`] is the thin driver: it reads which persistent instances to check and how
//!   ([`CheckSettings`]), starts the due probes within [`ProbeConfig::max_concurrent`], and
//!   writes each verdict as [`crate::registry::Command::SetHealth`] through
//!   [`crate::front::Backend::execute`] — the one write route, which on a cluster member goes
//!   to the service's owner and replicates to every member. It sleeps on the injected
//!   [`crate::Clock`], so a `ManualClock` steps it round by round.
//! - [`DenyList`]: addresses never probed (link-local and cloud metadata addresses by default).
//!   An instance on one keeps its health; each skipped probe is counted
//!   ([`Prober::probes_denied`]) and logged at debug.
//!
//! On a cluster member only the service's Distro owner probes it, as Nacos'
//! `HealthCheckResponsibleInterceptor` decides; the owner checks again before it writes a
//! verdict. Nothing is logged per probe above debug.
//!
//! How a cluster is checked comes from a [`CheckSettings`] the host gives: this module sits
//! beside the fronts and does not read the control plane on its own. With feature `control`,
//! [`ControlChecks`] reads the control plane's cluster settings
//! (`crate::control::ClusterSettings`); [`TcpEverywhere`] is Nacos' default for every cluster.
//!
//! ```no_run
//! use std::sync::Arc;
//! use nacre::probe::{ProbeConfig, Prober, TcpEverywhere};
//! use nacre::{Registry, SystemClock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = Registry::default();
//! let prober = Prober::spawn(
//!     registry.into(),
//!     Arc::new(TcpEverywhere),
//!     Arc::new(SystemClock::new()),
//!     ProbeConfig::default(),
//! );
//! # drop(prober);
//! # }
//! ```
//!
//! ## What differs from Nacos
//!
//! - Nacos' HTTP check ignores `expectedResponseCode` and passes on 200 only; nacre passes on
//!   the expected code (200 by default). Any other status but 503 and 302 fails at once, as
//!   Nacos' does for a status other than 200, 503 and 302.
//! - HTTP checks follow the TCP timing too (intervals of 1 to 5 s, weight 0.75); Nacos gives
//!   them `HttpHealthParams` (0.5 to 5 s, weight 0.85).
//! - One timeout bounds a whole probe (resolution, connect, answer; 500 ms by default); Nacos
//!   gives TCP a 500 ms connect timeout and HTTP 500 ms each to connect and to read.
//! - Nacos schedules one task per client and re-evaluates its interval the same way; nacre keeps
//!   one schedule per instance in one driver. The bounds on concurrent probes and the deny
//!   list are nacre's (Nacos probes every address, `169.254.169.254` included).
//! - A host name is resolved and denied when any address it resolves to is denied; the probe
//!   connects to the first address, the one that was checked.
//! - Headers of an HTTP check that are not a valid HTTP header are left out; the `User-Agent`
//!   is the HTTP client's, not Nacos' `VIPServer`.

pub mod policy;

mod check;
#[cfg(feature = "control")]
mod control;
mod deny;
mod driver;
mod settings;

#[cfg(feature = "control")]
#[cfg_attr(docsrs, doc(cfg(feature = "control")))]
pub use control::{cluster_check, ControlChecks};
pub use deny::{DenyList, DEFAULT_DENIED};
pub use driver::{ProbeConfig, Prober, DEFAULT_MAX_CONCURRENT_PROBES, DEFAULT_PROBE_TIMEOUT};
pub use policy::{Outcome, ProbeState, ProbeTiming};
pub use settings::{CheckSettings, Checker, ClusterCheck, HttpProbe, TcpEverywhere};
