//! The DNS front (feature `dns`): answers built from the registry for queries made with
//! hickory-proto, then over real UDP and TCP sockets, with the per-source budget.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use nacre::dns::{DnsConfig, DnsFront};
use nacre::{Instance, Registry, ServiceKey};
use std::time::Duration;

fn query(name: &str, kind: RecordType, edns: bool) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(7)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn ask(front: &DnsFront, name: &str, kind: RecordType) -> Message {
    let bytes = front
        .answer(&query(name, kind, true), false)
        .expect("an answer");
    Message::from_vec(&bytes).unwrap()
}

fn registry() -> Registry {
    let registry = Registry::default();
    let orders = ServiceKey::new("public", "shop", "orders.v2").unwrap();
    let add =
        |ip: &str,
         port: u16,
         f: fn(nacre::model::InstanceBuilder) -> nacre::model::InstanceBuilder| {
            let i = f(Instance::builder(ip, port)).build().unwrap();
            registry.register_instance(&orders, i).unwrap();
        };
    add("10.0.0.1", 8080, |b| b.weight(2.0));
    add("fd00::1", 9090, |b| b);
    add("10.0.0.2", 8080, |b| b.healthy(false));
    add("10.0.0.3", 8080, |b| b.enabled(false));
    add("10.0.0.4", 8080, |b| b.weight(0.0));
    let empty = ServiceKey::new("public", "shop", "empty").unwrap();
    registry
        .register_instance(
            &empty,
            Instance::builder("10.0.0.9", 1)
                .enabled(false)
                .build()
                .unwrap(),
        )
        .unwrap();
    registry
}

const ORDERS: &str = "orders.v2.shop.public.nacre.";

#[test]
fn a_service_answers_the_instances_a_client_would_call() {
    let front = DnsFront::new(registry(), DnsConfig::default()).unwrap();
    let srv = ask(&front, ORDERS, RecordType::SRV);
    assert_eq!(srv.response_code(), ResponseCode::NoError);
    assert!(srv.authoritative());
    let mut got: Vec<(u16, u16, String)> = srv
        .answers()
        .iter()
        .map(|r| match r.data() {
            RData::SRV(s) => (s.weight(), s.port(), s.target().to_string()),
            other => panic!("not SRV: {other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (100, 9090, "fd00--1.addr.nacre.".to_owned()),
            (200, 8080, "10-0-0-1.addr.nacre.".to_owned()),
        ],
        "unhealthy, disabled and weight-0 instances are not named"
    );
    assert!(srv.answers().iter().all(|r| r.ttl() == 3));
    assert_eq!(
        srv.additionals().len(),
        2,
        "the targets' addresses come along"
    );

    let a = ask(&front, ORDERS, RecordType::A);
    let ips: Vec<String> = a.answers().iter().map(|r| r.data().to_string()).collect();
    assert_eq!(ips, ["10.0.0.1"]);
    let aaaa = ask(&front, ORDERS, RecordType::AAAA);
    let ips: Vec<String> = aaaa
        .answers()
        .iter()
        .map(|r| r.data().to_string())
        .collect();
    assert_eq!(ips, ["fd00::1"]);
    // The SRV target names resolve.
    let target = ask(&front, "10-0-0-1.addr.nacre.", RecordType::A);
    assert_eq!(target.answers()[0].data().to_string(), "10.0.0.1");
    let target6 = ask(&front, "fd00--1.addr.nacre.", RecordType::AAAA);
    assert_eq!(target6.answers()[0].data().to_string(), "fd00::1");
}

#[test]
fn every_other_question_gets_the_answer_dns_expects() {
    let front = DnsFront::new(registry(), DnsConfig::default()).unwrap();
    let code = |name: &str, kind| {
        let m = ask(&front, name, kind);
        (m.response_code(), m.answers().len())
    };
    assert_eq!(
        code("nope.shop.public.nacre.", RecordType::A),
        (ResponseCode::NXDomain, 0)
    );
    assert_eq!(
        code("empty.shop.public.nacre.", RecordType::A),
        (ResponseCode::NoError, 0),
        "known, nothing to call"
    );
    assert_eq!(code(ORDERS, RecordType::TXT), (ResponseCode::NoError, 0));
    assert_eq!(
        code("public.nacre.", RecordType::A),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(code(ORDERS, RecordType::ANY), (ResponseCode::NotImp, 0));
    assert_eq!(
        code("example.com.", RecordType::A),
        (ResponseCode::Refused, 0),
        "not a recursive resolver"
    );
    assert_eq!(
        code("ORDERS.V2.shop.public.nacre.", RecordType::A),
        (ResponseCode::NXDomain, 0),
        "names are case-sensitive"
    );
    // A label that is no nacre service name (a raw space, which DNS labels may hold).
    let odd = Name::from_labels(vec![&b"bad name"[..], b"shop", b"public", b"nacre"]).unwrap();
    let mut m = Message::new();
    m.set_id(9)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .add_query(Query::query(odd, RecordType::A));
    let odd = Message::from_vec(&front.answer(&m.to_vec().unwrap(), false).unwrap()).unwrap();
    assert_eq!(odd.response_code(), ResponseCode::NXDomain);
    // Garbage with a header: FORMERR; less than a header, or a response: nothing.
    let mut garbage = query(ORDERS, RecordType::A, false);
    garbage.truncate(14);
    let formerr = Message::from_vec(&front.answer(&garbage, false).unwrap()).unwrap();
    assert_eq!(
        (formerr.id(), formerr.response_code()),
        (7, ResponseCode::FormErr)
    );
    assert!(front.answer(&[1, 2, 3], false).is_none());
    let mut response = Message::from_vec(&query(ORDERS, RecordType::A, false)).unwrap();
    response.set_message_type(MessageType::Response);
    assert!(front.answer(&response.to_vec().unwrap(), false).is_none());
}

#[test]
fn large_answers_are_capped_rotated_and_truncated_for_small_clients() {
    let registry = Registry::default();
    let big = ServiceKey::new("public", "DEFAULT_GROUP", "big").unwrap();
    for n in 0..200u16 {
        let ip = format!("10.1.{}.{}", n / 250, n % 250);
        registry
            .register_instance(&big, Instance::new(&ip, 80).unwrap())
            .unwrap();
    }
    let config = DnsConfig {
        max_records: 20,
        ..DnsConfig::default()
    };
    let front = DnsFront::new(registry, config).unwrap();
    let name = "big.DEFAULT_GROUP.public.nacre.";
    let first = ask(&front, name, RecordType::A);
    assert_eq!(first.answers().len(), 20);
    // Another query id starts the window elsewhere.
    let mut other = Message::from_vec(&query(name, RecordType::A, true)).unwrap();
    other.set_id(150);
    let second =
        Message::from_vec(&front.answer(&other.to_vec().unwrap(), false).unwrap()).unwrap();
    assert_ne!(first.answers()[0].data(), second.answers()[0].data());
    // No EDNS: 512 bytes. 20 SRV records with their additionals do not fit: truncated, empty.
    let small = Message::from_vec(
        &front
            .answer(&query(name, RecordType::SRV, false), false)
            .unwrap(),
    )
    .unwrap();
    assert!(small.truncated());
    assert!(small.answers().is_empty());
    // Over TCP the whole answer comes.
    let tcp = Message::from_vec(
        &front
            .answer(&query(name, RecordType::SRV, false), true)
            .unwrap(),
    )
    .unwrap();
    assert!(!tcp.truncated());
    assert_eq!(tcp.answers().len(), 20);
}

#[tokio::test]
async fn over_udp_and_tcp_with_a_budget_per_source() {
    let config = DnsConfig {
        queries_per_second: 1,
        burst: 50,
        ..DnsConfig::default()
    };
    let front = DnsFront::new(registry(), config).unwrap();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = {
        let front = front.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stop_rx.await;
            };
            front.serve_udp(udp, stop).await
        })
    };
    {
        let front = front.clone();
        tokio::spawn(async move { front.serve_tcp(tcp, std::future::pending()).await });
    }
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(addr).await.unwrap();
    let q = query(ORDERS, RecordType::A, true);
    let mut answered = 0;
    let mut buf = [0u8; 1500];
    // 120 at once (a socket buffer holds them), then every answer that comes.
    for _ in 0..120 {
        client.send(&q).await.unwrap();
    }
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(500), client.recv(&mut buf)).await
    {
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.answers().len(), 1);
        answered += 1;
    }
    assert!(
        (50..=53).contains(&answered),
        "the burst of 50 (and a refill or so), then dropped: {answered}"
    );

    // TCP: length-prefixed; this source's budget is spent, so the server closes the connection.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(tcp_addr).await.unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    stream.write_all(&framed).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "closed, not left hanging");
    assert!(rest.is_empty() || rest.len() > 2);
    let _ = stop_tx.send(());
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn tcp_answers_length_prefixed_queries_on_one_connection() {
    let front = DnsFront::new(registry(), DnsConfig::default()).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { front.serve_tcp(tcp, std::future::pending()).await });
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for kind in [RecordType::SRV, RecordType::A, RecordType::AAAA] {
        let q = query(ORDERS, kind, false);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        stream.write_all(&framed).await.unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.unwrap();
        let m = Message::from_vec(&body).unwrap();
        assert!(!m.answers().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn tcp_connections_are_capped_per_source_address() {
    let config = DnsConfig {
        tcp: nacre::front::gate::GateLimits {
            max_total: 10,
            max_per_ip: 2,
        },
        ..DnsConfig::default()
    };
    let front = DnsFront::new(registry(), config).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { front.serve_tcp(tcp, std::future::pending()).await });
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let q = query(ORDERS, RecordType::A, false);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    // Two held connections, each answered.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&framed).await.unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut body).await.unwrap();
        held.push(s);
    }
    // The third from the same address is closed unanswered.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(&framed).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "refused, not answered: {read:?} {rest:?}"
    );
    // Once one is gone, a new one is admitted.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = tokio::net::TcpStream::connect(addr).await.unwrap();
    again.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), again.read_exact(&mut len))
        .await
        .expect("answered")
        .unwrap();
}
