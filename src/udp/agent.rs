//! Which clients get UDP pushes: Nacos pushes to the clients whose user agent names a client
//! type and version known to take them (Nacos' `ClientInfo` and `UdpPushService.canEnablePush`,
//! with `SwitchDomain`'s default minimum versions), and to nobody else, whatever `udpPort`
//! they send.
//!
//! | user agent starts with | from version |
//! | --- | --- |
//! | `Nacos-Java-Client` | 0.1.0 |
//! | `Nacos-DNS` | 0.4.3 |
//! | `Nacos-C-Client`, `vip-client4cpp` | 1.0.12 |
//! | `Nacos-Go-Client` | 0.1.0 |
//! | `Nacos-CSharp-Client` | 0.9.0 |
//! | `nacre` (nacre's own [`crate::http::HttpClientTransport`]) | any |
//!
//! The version follows `:v` (`Nacos-Java-Client:v1.4.6`); an agent without one is not pushed
//! to. nacre adds its own agent to the list; otherwise the rules are Nacos'.

/// The user agent nacre's HTTP client transport sends: pushed to.
pub const NACRE_AGENT: &str = "nacre:v0.1.0";

const MIN_VERSIONS: &[(&str, [u32; 3])] = &[
    ("Nacos-Java-Client", [0, 1, 0]),
    ("Nacos-DNS", [0, 4, 3]),
    ("Nacos-C-Client", [1, 0, 12]),
    ("vip-client4cpp", [1, 0, 12]),
    ("Nacos-Go-Client", [0, 1, 0]),
    ("Nacos-CSharp-Client", [0, 9, 0]),
    ("nacre", [0, 0, 0]),
];

/// Whether a client sending `agent` takes UDP pushes.
pub fn pushable(agent: &str) -> bool {
    let Some((_, min)) = MIN_VERSIONS.iter().find(|(p, _)| agent.starts_with(p)) else {
        return false;
    };
    let Some(at) = agent.find(":v") else {
        return false;
    };
    version(&agent[at + 2..]).is_some_and(|v| v >= *min)
}

/// `1.4.6`, `2.0.0-BETA`, `1.0` → the numeric parts (missing ones are 0); `None` when it does
/// not start with a number.
fn version(text: &str) -> Option<[u32; 3]> {
    let mut parts = [0u32; 3];
    let core = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut numbers = core.split('.');
    parts[0] = numbers.next()?.parse().ok()?;
    for slot in parts.iter_mut().skip(1) {
        match numbers.next().map(str::parse) {
            Some(Ok(n)) => *slot = n,
            _ => break,
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_clients_from_their_minimum_version_are_pushed_to() {
        assert!(pushable("Nacos-Java-Client:v1.4.6"));
        assert!(pushable("Nacos-Java-Client:v0.1.0"));
        assert!(pushable("Nacos-DNS:v0.4.3"));
        assert!(!pushable("Nacos-DNS:v0.4.2"));
        assert!(pushable("Nacos-C-Client:v1.0.12"));
        assert!(!pushable("Nacos-C-Client:v1.0.9"));
        assert!(pushable("Nacos-Go-Client:v2.2.0"));
        assert!(pushable("Nacos-CSharp-Client:v1.3.1-beta"));
        assert!(pushable(NACRE_AGENT));
    }

    #[test]
    fn unknown_agents_and_agents_without_a_version_are_not() {
        assert!(!pushable(""));
        assert!(!pushable("curl/8.5.0"));
        assert!(!pushable("Nacos-Python-Client:v0.1.17"));
        assert!(!pushable("Nacos-Java-Client"));
        assert!(!pushable("Nacos-Java-Client:vX"));
        assert!(!pushable("Nacos-Java-Client:v"));
    }
}
