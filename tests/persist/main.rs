//! Durable persistent instances and service settings: the `Persistence` trait and `FileStore`
//! through the public API, and `nacre-server --data-dir` processes killed and restarted
//! (feature `http`).

mod persistence;

#[cfg(feature = "http")]
mod durable;
