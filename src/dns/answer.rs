//! What the DNS front answers: pure code from a query and the registry's snapshot to a
//! response message, so every rule is tested without a socket.
//!
//! Names (all under the zone, `nacre.` unless configured):
//! - `SERVICE.GROUP.NAMESPACE.<zone>`: `A` and `AAAA` records of the service's instances, and
//!   `SRV` records (priority 1, weight the instance's weight × 100, the instance's port, target
//!   the instance's address name below, whose `A`/`AAAA` record comes in the additional
//!   section). A service name may hold dots (`a.b.DEFAULT_GROUP.public.nacre.` is service `a.b`);
//!   group and namespace may not. Names are matched as written: Nacos names are
//!   case-sensitive, DNS names are not, so a resolver that changes case finds nothing.
//! - `IP.addr.<zone>`: the `A` or `AAAA` record of that address (`10-0-0-1` for 10.0.0.1,
//!   `fd00--1` for fd00::1): the SRV targets.
//!
//! The instances are those a client would call, as `selectInstances(healthy=true)` answers
//! them: enabled, weight above 0, healthy (or, when the healthy share is at or below the
//! service's protect threshold, every usable one). An instance registered by host name has no
//! address record and is left out.
//!
//! Answers: an unknown service is `NXDOMAIN`; a known one with no instance to call, a type
//! other than `A`, `AAAA` and `SRV`, or a name in the zone that names no service, is an empty
//! answer (`NOERROR`). `ANY` is `NOTIMP` (RFC 8482 lets a server refuse it), a name outside the
//! zone `REFUSED` (this is not a recursive resolver), anything but one `QUERY` question
//! `FORMERR` or `NOTIMP`. At most `max_records` records are answered (a rotating window over
//! the instances, so every instance is named over successive queries), and an answer larger
//! than the client takes (512 bytes, its EDNS size up to 1232 over UDP; 65 535 over TCP) is sent
//! empty with the truncation bit, so the client asks again over TCP.

use crate::model::ServiceKey;
use crate::registry::RegistryReader;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::net::IpAddr;

/// The largest UDP answer nacre sends, whatever EDNS size a client offers (the DNS flag
/// day's 1232, which fits any path's MTU unfragmented).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// The zone the front answers for, and how.
#[derive(Debug, Clone)]
pub struct Zone {
    domain: Name,
    addr: Name,
    ttl: u32,
    max_records: usize,
}

/// Why a zone could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the DNS domain `{domain}` is not a valid domain name: {why}")]
pub struct ZoneError {
    domain: String,
    why: String,
}

impl Zone {
    /// The zone `domain` (`nacre`, `svc.example.com`; a final dot is optional), answering with
    /// `ttl` seconds and at most `max_records` records (at least 1).
    pub fn new(domain: &str, ttl: u32, max_records: usize) -> Result<Zone, ZoneError> {
        let error = |why: String| ZoneError {
            domain: domain.to_owned(),
            why,
        };
        let mut name = Name::from_ascii(domain.trim()).map_err(|e| error(e.to_string()))?;
        name.set_fqdn(true);
        if name.is_root() {
            return Err(error(
                "the root is not a zone nacre can answer for".to_owned(),
            ));
        }
        let domain = name.to_lowercase();
        let addr = Name::from_ascii("addr")
            .and_then(|a| a.append_domain(&domain))
            .map_err(|e| error(e.to_string()))?;
        Ok(Zone {
            domain,
            addr,
            ttl,
            max_records: max_records.max(1),
        })
    }

    /// The zone's domain, as a fully qualified name.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The name of `ip`'s address record (`10-0-0-1.addr.<zone>`).
    pub fn addr_name(&self, ip: IpAddr) -> Option<Name> {
        let label = ip.to_string().replace(['.', ':'], "-");
        Name::from_ascii(label).ok()?.append_domain(&self.addr).ok()
    }
}

/// What a name under the zone names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    Service(ServiceKey),
    Addr(IpAddr),
    /// In the zone, naming nothing nacre answers for (the apex, a namespace).
    Nothing,
    /// A service name that is not valid in nacre (so no such service).
    NoService,
}

fn named(zone: &Zone, name: &Name) -> Option<Named> {
    if !zone.domain.zone_of(name) {
        return None;
    }
    let labels: Vec<&[u8]> = name.iter().collect();
    let own = labels
        .len()
        .saturating_sub(usize::from(zone.domain.num_labels()));
    let labels = &labels[..own];
    if zone.addr.zone_of(name) && labels.len() == 2 {
        let text = String::from_utf8_lossy(labels[0]);
        let v4 = text.replace('-', ".").parse().ok().map(IpAddr::V4);
        let v6 = || text.replace('-', ":").parse().ok().map(IpAddr::V6);
        return Some(v4.or_else(v6).map_or(Named::Nothing, Named::Addr));
    }
    if labels.len() < 3 {
        return Some(Named::Nothing);
    }
    let text = |l: &[u8]| String::from_utf8(l.to_vec()).ok();
    let (service, rest) = labels.split_at(labels.len() - 2);
    let service: Option<Vec<String>> = service.iter().map(|l| text(l)).collect();
    let (Some(service), Some(group), Some(namespace)) = (service, text(rest[0]), text(rest[1]))
    else {
        return Some(Named::NoService);
    };
    Some(
        ServiceKey::new(&namespace, &group, &service.join("."))
            .map_or(Named::NoService, Named::Service),
    )
}

/// The response to `request` (a parsed query), from `registry`, sized for a UDP client (or
/// for TCP with `tcp`).
pub fn respond(registry: &RegistryReader, zone: &Zone, request: &Message, tcp: bool) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_authoritative(true);
    if request.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        response.set_edns(edns);
    }
    if request.message_type() != MessageType::Query || request.op_code() != OpCode::Query {
        response.set_response_code(ResponseCode::NotImp);
        return response;
    }
    let [query] = request.queries() else {
        response.set_response_code(ResponseCode::FormErr);
        return response;
    };
    response.add_query(query.clone());
    if query.query_class() != DNSClass::IN {
        response.set_response_code(ResponseCode::Refused);
        return response;
    }
    let Some(named) = named(zone, query.name()) else {
        response.set_response_code(ResponseCode::Refused);
        return response;
    };
    let qtype = query.query_type();
    if qtype == RecordType::ANY {
        response.set_response_code(ResponseCode::NotImp);
        return response;
    }
    let name = query.name().clone();
    match named {
        Named::Nothing => {}
        Named::NoService => {
            response.set_response_code(ResponseCode::NXDomain);
        }
        Named::Addr(ip) => {
            if let Some(record) = address_record(&name, ip, zone.ttl, qtype) {
                response.add_answer(record);
            }
        }
        Named::Service(key) => {
            if registry.service(&key).is_none() {
                response.set_response_code(ResponseCode::NXDomain);
                return response;
            }
            let view = registry.select_instances(&key, &[], true);
            let mut callable: Vec<(IpAddr, u16, f64)> = view
                .iter()
                .filter_map(|i| Some((i.ip().as_str().parse().ok()?, i.port(), i.weight())))
                .collect();
            callable.sort_by_key(|c| (c.0, c.1));
            let window = rotate(&callable, usize::from(request.id()), zone.max_records);
            match qtype {
                RecordType::A | RecordType::AAAA => {
                    let mut ips: Vec<IpAddr> = window.iter().map(|c| c.0).collect();
                    ips.dedup();
                    for ip in ips {
                        if let Some(r) = address_record(&name, ip, zone.ttl, qtype) {
                            response.add_answer(r);
                        }
                    }
                }
                RecordType::SRV => {
                    for (ip, port, weight) in &window {
                        let Some(target) = zone.addr_name(*ip) else {
                            continue;
                        };
                        let weight = (weight * 100.0).round().clamp(1.0, 65_535.0) as u16;
                        let srv = SRV::new(1, weight, *port, target.clone());
                        response.add_answer(Record::from_rdata(
                            name.clone(),
                            zone.ttl,
                            RData::SRV(srv),
                        ));
                        let kind = if ip.is_ipv4() {
                            RecordType::A
                        } else {
                            RecordType::AAAA
                        };
                        if let Some(r) = address_record(&target, *ip, zone.ttl, kind) {
                            response.add_additional(r);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    fit(response, request, tcp)
}

/// At most `max` of `items`, starting at `start` (modulo their number) and wrapping.
fn rotate<T: Clone>(items: &[T], start: usize, max: usize) -> Vec<T> {
    if items.len() <= max {
        return items.to_vec();
    }
    let start = start % items.len();
    items
        .iter()
        .cycle()
        .skip(start)
        .take(max)
        .cloned()
        .collect()
}

fn address_record(name: &Name, ip: IpAddr, ttl: u32, qtype: RecordType) -> Option<Record> {
    let rdata = match (ip, qtype) {
        (IpAddr::V4(v4), RecordType::A) => RData::A(A::from(v4)),
        (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA::from(v6)),
        _ => return None,
    };
    Some(Record::from_rdata(name.clone(), ttl, rdata))
}

/// `response`, or an empty one with the truncation bit when it is larger than the client
/// takes.
fn fit(mut response: Message, request: &Message, tcp: bool) -> Message {
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        let offered = request
            .extensions()
            .as_ref()
            .map_or(512, |e| e.max_payload().max(512));
        usize::from(offered.min(MAX_UDP_PAYLOAD))
    };
    let size = response.to_vec().map_or(usize::MAX, |v| v.len());
    if size > limit {
        response.take_answers();
        response.take_additionals();
        response.set_truncated(true);
    }
    response
}
