//! A web console for a node (cargo feature `console`): namespaces, then their services, then
//! a service's instances, updated live from the registry's changes over server-sent events,
//! with edits of weight and enabled and a deregister button. [`Console::router`] is an axum
//! [`Router`] to merge into a host's app; `nacre-server` serves it at `/console/`.
//!
//! ```
//! use nacre::console::Console;
//! use nacre::Registry;
//! let node = Registry::default();
//! let app: axum::Router = nacre::http::router(node.clone()).merge(Console::new(node).router());
//! # let _ = app;
//! ```
//!
//! | path | what |
//! | --- | --- |
//! | `GET /console/` | the page (HTML, script and style embedded in the binary; nothing is loaded from elsewhere) |
//! | `GET /nacos`, `/nacos/`, `/nacos/index.html` | 308 to `/console/`: where Nacos serves its console, what its users type |
//! | `GET /console/api/namespaces` | `[{"namespace","name","services","instances","healthy"}]` |
//! | `GET /console/api/services?namespace=` | `[{"group","name","instances","healthy","protectThreshold"}]` |
//! | `GET /console/api/instances?namespace=&group=&service=` | `{"protectThreshold","writable","instances":[{"ip","port","cluster","weight","enabled","healthy","ephemeral","metadata","lastBeatMsAgo","unhealthyAfterMs","removeAfterMs","why","overridden"}],"clusters":[{"name","checker","path","expectedCode","set"}]}`; `why` says why an instance is unhealthy ("no beat for 17 s; the limit is 15 s"); `writable` whether the caller may edit the service; `clusters` each cluster's health check (with a control plane) |
//! | `PATCH /console/api/instance` | JSON `{"namespace","group","service","cluster","ip","port","weight"?,"enabled"?}` → the service's revision |
//! | `PUT /console/api/cluster` | JSON `{"namespace","group","service","cluster","checker","path"?,"expectedCode"?}` (`checker` `TCP`, `HTTP` or `NONE`) → `true`; the cluster's other settings kept; with a control plane only (404 without) |
//! | `DELETE /console/api/instance?namespace=&group=&service=&cluster=&ip=&port=` | deregister → whether it was registered |
//! | `GET /console/api/events` | server-sent events: `hello` first, then `change` with `{"namespace","group","service","revision"}` for every changed service, `resync` when some were missed |
//! | `GET /console/api/whoami` | `{"auth":false}` when auth is off; `{"auth":true,"username","admin"}` for a valid token; 403 |
//! | `POST /console/api/login` | with auth on: a form body `username=&password=` → Nacos' login JSON `{"accessToken","tokenTtl","globalAdmin","username"}`, or 403 with the reason |
//!
//! ## Design
//!
//! The page is one HTML file, one script and one style sheet, without a framework, compiled
//! in with `include_str!`. It reads the JSON API above and listens to the event stream; on a
//! change of what it shows it reads that again (at most every 200 ms), and it counts the age
//! of each last beat up by itself between reads, so an instance is seen turning unhealthy as
//! the health check marks it, without a reload. The stream is fed by one change sink on the
//! node's store (every new snapshot of a service, from a write here, a health sweep, or a
//! peer's sync), through a bounded broadcast channel: a slow browser misses changes and is
//! told to read everything again (`resync`), it never holds up a writer. Edits go through
//! [`Backend::execute`], so on a cluster member they reach the member responsible for the
//! service, as any front's writes do.
//!
//! ## Bounds
//!
//! An event stream holds its connection open for as long as the browser likes, so streams
//! are bounded apart from the API's connections: at most 64 at once and 8 per address
//! ([`Console::stream_limits`]; past them `GET /console/api/events` answers 429), each ending
//! after 5 minutes (the page reconnects within a second, told by the stream's `retry`
//! field). Under `nacre-server`'s accept loop a stream gives its connection's
//! place back ([`crate::front::gate::Slot`]) and closes the connection when it ends, so
//! streams never take the API's connection cap (before, 10 000 held streams made the API
//! refuse the beats of every client). Every console route checks `Host` against a
//! [`HostCheck`] (IP addresses and `localhost` by default; [`Console::host_check`] adds
//! names): a page that rebinds its name to the node cannot read or edit through the console.
//! The namespace and service lists walk every service, so each is made at most once a second
//! and only after a change (a request after a change waits for the second to pass and sees
//! it): a crowd of browsers, or a script, costs one walk a second, not one a request.
//!
//! ## Auth
//!
//! Without [`Console::access`] the console is open to whoever reaches it (serve it where only
//! operators do). With it (`nacre-server` gives it when it has a users file), the page is
//! still served to anyone (it holds no data), and asks for a login:
//!
//! - The login form posts `username` and `password` as a form body to
//!   `POST /console/api/login`, the v1 API's login under the console's audit label; the answer
//!   is Nacos' login JSON. A wrong password shows the refusal under the form.
//! - The page keeps the token in `sessionStorage` (this tab only, gone when it closes) and sends
//!   it as an `accessToken` header on every API call and on the event stream. The server reads
//!   a console token from the headers only (`accessToken` or `Authorization: Bearer`), never
//!   from the query, so no token is in a URL, a history entry or an access log; and no cookie
//!   is set, so another site cannot make the browser send it (no CSRF surface).
//! - Every API route and the event stream refuse a request without a valid token, or without
//!   the permission, with Nacos' 403 and the reason, and nothing changes: a service's
//!   instances need `r` on it, an edit (PATCH or DELETE of an instance) `w` on its service.
//!   The lists need only a valid token and show what the caller may read: the global admin
//!   sees everything; another caller sees the namespaces where it may read some service, a
//!   namespace it may not read whole counted over the services it may read only (its
//!   services, instances and healthy counts are those of its readable services, so a row
//!   leaks nothing), and of a namespace's services those it may read. The lists are still
//!   made once a second for everyone and filtered per request, nothing kept per caller.
//! - The event stream sends a caller only the changes of services it may read.
//! - `GET /console/api/whoami` tells the page whether auth is on and who is logged in, and
//!   a service's instances say whether the caller may edit it (`writable`): the page shows no
//!   edit control to a reader. The server checks every edit itself all the same.
//! - Logout forgets the token and shows the form again. The token stays valid until its
//!   `tokenTtl` passes (Nacos' tokens are not revoked either); a 403 from any call, its token
//!   expired or its user taken out of the users file, brings the form back with the reason.
//!
//! ## Control plane
//!
//! With [`Console::control`] (`nacre-server` gives it when it runs a control plane):
//!
//! - the namespace list holds every namespace created through the namespace API, also those
//!   that hold no service yet, and each row carries its `name` (`public` for the default
//!   namespace, the id for a namespace that holds services but was never created); the page
//!   shows the name, and the id beside it when they differ;
//! - an instance's weight and enabled edits are kept as overrides
//!   ([`crate::control::keep_edit`]) before the instance changes, so the client's next
//!   registration does not undo them, as with the v1 API's `PUT`; an edit the control plane
//!   does not take changes nothing (503 without a leader);
//! - each instance row says which of its fields an operator's override sets (`overridden`:
//!   `{"enabled","weight","metadata":[keys]}`, `null` without one), and the page marks them;
//! - each cluster's health check of its persistent instances is shown (`(default)` until an
//!   operator sets one) and, for a caller who may write the service, set: TCP, HTTP with a path,
//!   or NONE (health set by hand), as `PUT /nacos/v1/ns/cluster` sets it, the cluster's other
//!   settings kept.
//!
//! Differences from the Nacos console: naming only (no configuration, no users or roles
//! pages), a cluster's health check but not its check port or metadata, no service creation or
//! metadata editing, and no paging: each list is read whole, which suits registries of up to a few
//! thousand services per namespace. It shows the age of each ephemeral instance's last beat
//! and why it is unhealthy, which Nacos' console does not. Nacos' console keeps its token in
//! `localStorage` (shared by every tab, and kept after the browser closes, for any script of
//! the origin to read) and passes it as `accessToken` in the query string of its calls, where
//! proxies, access logs and the browser's history keep it; nacre keeps it in `sessionStorage`
//! and sends it in a header only. Nacos refuses a caller a list it may not read whole; nacre
//! shows it the part it may read.

mod api;
mod auth;
mod events;
mod lists;
mod preview;

use crate::front::access::Access;
use crate::front::gate::{ConnectionGate, GateLimits};
use crate::front::Backend;
use crate::http::HostCheck;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub use api::ConsoleError;

/// Where the console's page is served.
pub const CONSOLE_PATH: &str = "/console/";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// The console over one node: see the [module docs](self). Make one per node (it adds a change
/// sink to the node's store, which lives as long as the store); cheap to clone.
#[derive(Clone)]
pub struct Console {
    inner: Arc<api::State>,
    host_check: HostCheck,
}

pub use crate::front::gate::{DEFAULT_STREAM_LIFETIME, DEFAULT_STREAM_LIMITS};

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// The console of `backend` (a [`crate::Registry`] or a [`crate::cluster::ClusterNode`]).
    pub fn new(backend: impl Into<Backend>) -> Self {
        let backend = backend.into();
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let changes = events::watch(backend.registry(), generation.clone());
        Self {
            inner: Arc::new(api::State {
                backend,
                changes,
                streams: ConnectionGate::new("console event stream", DEFAULT_STREAM_LIMITS),
                stream_lifetime: DEFAULT_STREAM_LIFETIME,
                listings: Default::default(),
                generation,
                access: None,
                #[cfg(feature = "control")]
                control: None,
            }),
            host_check: HostCheck::default(),
        }
    }

    /// The same console with its state rebuilt by `change` (new stream gate and lists; the
    /// change sink, and what the lists are as of, are kept).
    fn rebuilt(self, change: impl FnOnce(&mut Settings)) -> Self {
        let state = &self.inner;
        let mut settings = Settings {
            streams: state.streams.limits(),
            stream_lifetime: state.stream_lifetime,
            access: state.access.clone(),
            #[cfg(feature = "control")]
            control: state.control.clone(),
        };
        change(&mut settings);
        Self {
            inner: Arc::new(api::State {
                backend: state.backend.clone(),
                changes: state.changes.clone(),
                streams: ConnectionGate::new("console event stream", settings.streams),
                stream_lifetime: settings.stream_lifetime,
                listings: Default::default(),
                generation: state.generation.clone(),
                access: settings.access,
                #[cfg(feature = "control")]
                control: settings.control,
            }),
            host_check: self.host_check,
        }
    }

    /// Bounds the live event streams: `limits` at once (in total and per address), each
    /// ending after `lifetime` (the browser reconnects).
    pub fn stream_limits(self, limits: GateLimits, lifetime: std::time::Duration) -> Self {
        self.rebuilt(|s| {
            s.streams = limits;
            s.stream_lifetime = lifetime;
        })
    }

    /// Puts the console behind auth: the page asks for a login, and every API route and the
    /// event stream need a token (in a header) with the permission for what they touch (see
    /// [Auth](self#auth)). Without it the console is open to whoever reaches it.
    pub fn access(self, access: Access) -> Self {
        self.rebuilt(|s| s.access = Some(access))
    }

    /// Shows the control plane's namespaces by name (also those that hold no service yet),
    /// marks the fields an operator's override sets, and keeps the console's edits as
    /// overrides (see [Control plane](self#control-plane)). Feature `control`.
    #[cfg(feature = "control")]
    pub fn control(self, control: Arc<dyn crate::control::ControlPlane>) -> Self {
        self.rebuilt(|s| s.control = Some(control))
    }

    /// The names the console answers to besides IP addresses and `localhost` (see
    /// [`HostCheck`]).
    pub fn host_check(mut self, check: HostCheck) -> Self {
        self.host_check = check;
        self
    }

    /// The console's routes, all under `/console/` (see the [module docs](self)). The page
    /// addresses its API relatively, so the router may also be nested under a prefix.
    pub fn router(&self) -> Router {
        let router = Router::new()
            .route(
                "/console",
                get(|| async { Redirect::permanent("console/") }),
            )
            // Where Nacos serves its console: what its users type. Relative, as the page's own
            // links, so a prefix the router is nested under is kept.
            .route("/nacos", get(|| async { Redirect::permanent("console/") }))
            .route(
                "/nacos/",
                get(|| async { Redirect::permanent("../console/") }),
            )
            .route(
                "/nacos/index.html",
                get(|| async { Redirect::permanent("../console/") }),
            )
            .route(
                CONSOLE_PATH,
                get(|| asset("text/html; charset=utf-8", INDEX_HTML)),
            )
            .route(
                "/console/console.js",
                get(|| asset("text/javascript; charset=utf-8", CONSOLE_JS)),
            )
            .route(
                "/console/console.css",
                get(|| asset("text/css; charset=utf-8", CONSOLE_CSS)),
            )
            .route("/console/api/namespaces", get(lists::namespaces))
            .route("/console/api/services", get(lists::services))
            .route("/console/api/instances", get(api::instances))
            .route(
                "/console/api/instance",
                axum::routing::patch(api::update).delete(api::deregister),
            )
            .route("/console/api/timeline", get(api::timeline))
            .route("/console/api/members", get(preview::members))
            .route("/console/api/preview", get(preview::preview))
            .route("/console/api/events", get(events::stream))
            .route("/console/api/cluster", cluster_route())
            .route("/console/api/whoami", get(auth::whoami))
            .with_state(self.inner.clone());
        let router = match &self.inner.access {
            Some(access) => router.merge(auth::login_router(access.clone())),
            None => router,
        };
        let router = router.layer(axum::middleware::from_fn(
            crate::http::origin::refuse_cross_site,
        ));
        self.host_check.layer(router)
    }
}

/// `PUT /console/api/cluster` with a control plane in the build; 405 without.
fn cluster_route() -> axum::routing::MethodRouter<Arc<api::State>> {
    #[cfg(feature = "control")]
    {
        axum::routing::put(api::set_cluster)
    }
    #[cfg(not(feature = "control"))]
    {
        axum::routing::MethodRouter::new()
    }
}

/// What [`Console::rebuilt`] may change.
struct Settings {
    streams: GateLimits,
    stream_lifetime: std::time::Duration,
    access: Option<Access>,
    #[cfg(feature = "control")]
    control: Option<Arc<dyn crate::control::ControlPlane>>,
}

async fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
