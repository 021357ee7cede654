//! One entry of an instance's timeline: when, what ([`Event`]), and who asked ([`Origin`]).

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::Arc;

/// Who made a write: the front it came through and what the front knows of the caller. Every
/// field is optional; a write with no origin in scope (a host calling the registry itself)
/// records none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Origin {
    /// The front (`http`, `grpc`, `in-memory`, `peer`, `probe`, `control`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub front: Option<String>,
    /// The client's connection (gRPC's connection id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The caller's identity (the user, with auth on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The caller's address, or the forwarding member's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Why, when the front knows more than the write says (`TCP probe refused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Origin {
    /// An origin naming only its front.
    pub fn front(front: &str) -> Self {
        Self {
            front: Some(front.to_owned()),
            ..Self::default()
        }
    }
    /// With the caller's address.
    pub fn addr(mut self, addr: impl ToString) -> Self {
        self.addr = Some(addr.to_string());
        self
    }
    /// With the caller's connection.
    pub fn connection(mut self, connection: impl ToString) -> Self {
        self.connection = Some(connection.to_string());
        self
    }
    /// With the caller's identity.
    pub fn identity(mut self, identity: Option<String>) -> Self {
        self.identity = identity;
        self
    }
    /// With a reason.
    pub fn reason(mut self, reason: impl ToString) -> Self {
        self.reason = Some(reason.to_string());
        self
    }
}

/// What happened, with the numbers behind it (formatted when read: [`Event::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// Registered: it was not here before.
    Registered,
    /// Registered again while present (a client's redo after a reconnect, a v1 client's
    /// periodic registration), or after an eviction or deregistration (`returned`).
    #[serde(rename_all = "camelCase")]
    Reregistered {
        /// Whether it had been removed (evicted or deregistered) before.
        returned: bool,
    },
    /// Re-created by a beat that carried its data (it had been evicted or lost).
    ReregisteredByBeat,
    /// Weight or metadata changed.
    Updated,
    /// Taken out of rotation (`enabled=false`).
    Disabled,
    /// Put back into rotation.
    Enabled,
    /// Turned unhealthy for want of beats.
    #[serde(rename_all = "camelCase")]
    Silent {
        /// Milliseconds since its last beat.
        silent_ms: u64,
        /// Its beat timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// Set unhealthy by an operator or a health check (the origin says which, and why).
    Unhealthy,
    /// Healthy again: a beat arrived, or an operator or health check said so.
    Healthy,
    /// Removed by a health sweep for want of beats.
    #[serde(rename_all = "camelCase")]
    Evicted {
        /// Milliseconds since its last beat.
        silent_ms: u64,
        /// Its delete timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// Deregistered by a client or operator.
    Deregistered,
    /// Withdrawn because the connection that registered it closed.
    ConnectionClosed,
}

fn seconds(ms: u64) -> String {
    let mut s = String::new();
    if ms.is_multiple_of(1000) {
        let _ = write!(s, "{} s", ms / 1000);
    } else {
        let _ = write!(s, "{:.1} s", ms as f64 / 1000.0);
    }
    s
}

impl Event {
    /// What happened, in words.
    pub fn describe(&self) -> String {
        match self {
            Event::Registered => "registered".to_owned(),
            Event::Reregistered { returned: false } => "registered again (already present)".into(),
            Event::Reregistered { returned: true } => "registered again after its removal".into(),
            Event::ReregisteredByBeat => {
                "re-created by a beat carrying its data (it had been removed)".into()
            }
            Event::Updated => "weight or metadata changed".into(),
            Event::Disabled => "disabled (out of rotation)".into(),
            Event::Enabled => "enabled (back in rotation)".into(),
            Event::Silent {
                silent_ms,
                timeout_ms,
            } => format!(
                "unhealthy: no beat for {} (beat timeout {})",
                seconds(*silent_ms),
                seconds(*timeout_ms)
            ),
            Event::Unhealthy => "set unhealthy".into(),
            Event::Healthy => "healthy again".into(),
            Event::Evicted {
                silent_ms,
                timeout_ms,
            } => format!(
                "evicted: no beat for {} (delete timeout {})",
                seconds(*silent_ms),
                seconds(*timeout_ms)
            ),
            Event::Deregistered => "deregistered".into(),
            Event::ConnectionClosed => "withdrawn: the connection that registered it closed".into(),
        }
    }
}

/// One entry of a timeline, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When, in milliseconds since the epoch (the registry's clock).
    pub at: u64,
    /// What happened.
    pub event: Event,
    /// Who asked, when a front said so.
    pub origin: Option<Arc<Origin>>,
    /// The member that recorded it (a cluster member's id; `None` standalone).
    pub member: Option<Arc<str>>,
}

/// The JSON form of an entry (the API's and the timeline file's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryJson {
    pub(crate) at: u64,
    pub(crate) event: Event,
    #[serde(default)]
    pub(crate) text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) member: Option<String>,
}

impl From<&TimelineEntry> for EntryJson {
    fn from(e: &TimelineEntry) -> Self {
        EntryJson {
            at: e.at,
            event: e.event,
            text: e.event.describe(),
            origin: e.origin.as_deref().cloned(),
            member: e.member.as_deref().map(str::to_owned),
        }
    }
}

impl From<EntryJson> for TimelineEntry {
    fn from(e: EntryJson) -> Self {
        TimelineEntry {
            at: e.at,
            event: e.event,
            origin: e.origin.map(Arc::new),
            member: e.member.map(Arc::from),
        }
    }
}

impl Serialize for TimelineEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EntryJson::from(self).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_their_story_and_round_trip_as_json() {
        let silent = Event::Silent {
            silent_ms: 17_000,
            timeout_ms: 15_000,
        };
        assert_eq!(
            silent.describe(),
            "unhealthy: no beat for 17 s (beat timeout 15 s)"
        );
        let evicted = Event::Evicted {
            silent_ms: 30_500,
            timeout_ms: 30_000,
        };
        assert_eq!(
            evicted.describe(),
            "evicted: no beat for 30.5 s (delete timeout 30 s)"
        );
        let entry = TimelineEntry {
            at: 1_700_000_000_000,
            event: silent,
            origin: Some(Arc::new(Origin::front("grpc").connection("c1"))),
            member: Some(Arc::from("10.0.0.1:8848")),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.contains(r#""event":{"kind":"silent","silentMs":17000,"timeoutMs":15000}"#));
        assert!(json.contains(r#""origin":{"front":"grpc","connection":"c1"}"#));
        let back: EntryJson = serde_json::from_str(&json).unwrap();
        assert_eq!(TimelineEntry::from(back), entry);
    }
}
