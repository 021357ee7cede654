//! Test fixtures with some behaviour of their own: a temporary directory removed on drop, and a
//! real-time polling helper.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A directory under the system temp dir, named after the test and the process, emptied when
/// created and removed when dropped. It is not created: whoever uses it does.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nacre-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `cond` every 50 ms until it holds, failing after `deadline`.
pub(crate) async fn eventually<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
