//! The active health checks of a `nacre-server` (see [`crate::probe`]): every cluster checked
//! as the control plane's cluster settings say (`PUT /nacos/v1/ns/cluster`), or by TCP on the
//! instance's port, Nacos' default, when the node runs no control plane (no `--data-dir`, or a
//! cluster member). Bounded by `--max-concurrent-probes` and `--probe-timeout`; never towards
//! `--probe-deny` or the link-local and metadata addresses.

use std::sync::Arc;

use super::ServerConfig;
use crate::control::{ClosableControl, ControlPlane};
use crate::front::Backend;
use crate::probe::{CheckSettings, ControlChecks, Prober, TcpEverywhere};

/// The checks' settings (also for the v1 API's `PUT /health/instance`), and the prober,
/// started on the current runtime.
pub(super) fn start(
    config: &ServerConfig,
    backend: &Backend,
    control: Option<&Arc<ClosableControl>>,
) -> (Arc<dyn CheckSettings>, Prober) {
    let checks: Arc<dyn CheckSettings> = match control {
        Some(control) => {
            let plane: Arc<dyn ControlPlane> = control.clone();
            Arc::new(ControlChecks(plane))
        }
        None => Arc::new(TcpEverywhere),
    };
    let probe = config.probe_config();
    tracing::debug!(
        max_concurrent = probe.max_concurrent,
        timeout_ms = crate::util::millis(probe.timeout),
        denied = ?probe.deny.blocks(),
        "active health checks of persistent instances started"
    );
    let prober = Prober::spawn(
        backend.clone(),
        checks.clone(),
        backend.registry().clock().clone(),
        probe,
    );
    (checks, prober)
}

#[cfg(test)]
mod tests {
    use crate::front::cidr::Cidr;
    use crate::server::config::tests::parse;
    use std::time::Duration;

    #[test]
    fn probe_bounds_default_to_64_probes_of_500_ms_and_deny_only_link_local_and_metadata() {
        let config = parse(&[]).expect("the defaults");
        let probe = config.probe_config();
        assert_eq!(probe.max_concurrent, 64);
        assert_eq!(probe.timeout, Duration::from_millis(500));
        assert!(probe
            .deny
            .denies("169.254.169.254".parse().expect("an address")));
        assert!(!probe.deny.denies("10.0.0.7".parse().expect("an address")));
    }

    #[test]
    fn probe_flags_set_the_bounds_and_a_repeated_deny_adds_up() {
        let config = parse(&[
            "--probe-deny",
            "10.0.0.0/8",
            "--probe-deny=192.168.1.1,fd00::/8",
            "--max-concurrent-probes",
            "8",
            "--probe-timeout",
            "2s",
        ])
        .expect("valid flags");
        let block = |b: &str| Cidr::parse(b).expect("a block");
        assert_eq!(
            config.probe_deny,
            [block("10.0.0.0/8"), block("192.168.1.1"), block("fd00::/8")]
        );
        let probe = config.probe_config();
        assert_eq!(
            (probe.max_concurrent, probe.timeout),
            (8, Duration::from_secs(2))
        );
        assert!(probe.deny.denies("10.1.2.3".parse().expect("an address")));
        assert!(
            probe.deny.denies("fe80::1".parse().expect("an address")),
            "defaults stay"
        );
        let shown = config.to_toml();
        assert!(shown.contains("probe-deny = [\"10.0.0.0/8\""), "{shown}");
    }

    #[test]
    fn bad_probe_settings_are_refused_naming_the_flag() {
        for args in [
            ["--probe-deny", "10.0.0.0/33"],
            ["--probe-deny", "not-an-address"],
            ["--max-concurrent-probes", "0"],
            ["--probe-timeout", "0s"],
        ] {
            let error = parse(&args).expect_err("refused").to_string();
            assert!(error.contains(args[0]), "{error}");
        }
    }
}
