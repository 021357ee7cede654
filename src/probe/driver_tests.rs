//! The driver against real sockets on 127.0.0.1, stepped round by round with a `ManualClock`:
//! a closed port turns a persistent instance unhealthy, a listener turns it healthy again, a
//! cluster without a check and a denied address are never probed.

use super::*;
use crate::front::cidr::Cidr;
use crate::model::{ClusterName, Instance};
use crate::probe::settings::ClusterCheck;
use crate::{ManualClock, Registry};
use std::time::Instant;
use tokio::net::TcpListener;

/// Every cluster checked the same way.
#[derive(Debug)]
struct Fixed(ClusterCheck);

impl CheckSettings for Fixed {
    fn check_of(&self, _: &ServiceKey, _: &ClusterName) -> ClusterCheck {
        self.0.clone()
    }
}

struct Fixture {
    clock: ManualClock,
    registry: Registry,
    service: ServiceKey,
    instance: InstanceKey,
    prober: Prober,
}

/// A persistent, healthy instance on 127.0.0.1:`port`, and a prober over it.
fn fixture(port: u16, check: ClusterCheck, deny: DenyList) -> Fixture {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let service = ServiceKey::named("orders").expect("valid service");
    let instance = Instance::builder("127.0.0.1", port)
        .ephemeral(false)
        .build()
        .expect("valid instance");
    let key = instance.key();
    registry
        .register_instance(&service, instance)
        .expect("registered");
    let config = ProbeConfig {
        deny,
        timeout: Duration::from_secs(2),
        ..ProbeConfig::default()
    };
    let prober = Prober::spawn(
        registry.clone().into(),
        Arc::new(Fixed(check)),
        Arc::new(clock.clone()),
        config,
    );
    Fixture {
        clock,
        registry,
        service,
        instance: key,
        prober,
    }
}

impl Fixture {
    fn healthy(&self) -> bool {
        self.registry
            .service(&self.service)
            .and_then(|s| s.entry(&self.instance).map(|e| e.healthy()))
            .expect("the instance is registered")
    }

    /// Waits (real time, generous) until the driver sleeps on the clock again.
    async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.clock.sleepers() == 0 {
            assert!(Instant::now() < deadline, "the driver never slept");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// One round: moves the clock past the longest interval and waits for one more probe.
    async fn round(&self, by: Duration) {
        self.settled().await;
        let before = self.prober.probes_finished();
        self.clock.advance(by);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.prober.probes_finished() == before {
            assert!(Instant::now() < deadline, "no probe finished");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn longest_first_wait() -> Duration {
    ProbeTiming::default().longest_first_wait()
}

fn longest_interval() -> Duration {
    ProbeTiming::default().max_interval
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_unhealthy_within_two_rounds_and_healthy_again_once_it_listens() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let f = fixture(port, ClusterCheck::tcp(), DenyList::default());

    f.round(longest_first_wait()).await;
    assert!(f.healthy(), "the port listens");

    drop(listener);
    f.round(longest_interval()).await;
    if f.healthy() {
        f.round(longest_interval()).await;
    }
    assert!(
        !f.healthy(),
        "unhealthy within two rounds of the port closing"
    );

    let _listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the same port again");
    for _ in 0..ProbeTiming::default().check_times {
        assert!(!f.healthy(), "healthy only after three passes in a row");
        f.round(longest_interval()).await;
    }
    assert!(f.healthy(), "healthy again once the port listens");
    assert_eq!(f.prober.verdicts(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_a_check_changes_only_when_its_health_is_set() {
    // A closed port: probed, the instance would turn unhealthy at the first round.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address").port()
    };
    let f = fixture(port, ClusterCheck::none(), DenyList::default());
    f.settled().await;
    for _ in 0..5 {
        f.clock.advance(longest_first_wait());
        f.settled().await;
    }
    assert_eq!(f.prober.probes_finished(), 0);
    assert!(f.healthy());

    let set = Command::set_health(&f.service, &f.instance, false);
    Backend::from(f.registry.clone())
        .execute(set)
        .await
        .expect("written");
    for _ in 0..5 {
        f.clock.advance(longest_first_wait());
        f.settled().await;
    }
    assert!(!f.healthy(), "set by hand, and left so");
    assert_eq!(f.prober.probes_finished(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_address_is_never_connected_to_and_keeps_its_health() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut deny = DenyList::default();
    deny.add(Cidr::parse("127.0.0.0/8").expect("a block"));
    let f = fixture(port, ClusterCheck::tcp(), deny);

    f.round(longest_first_wait()).await;
    f.round(longest_interval()).await;
    assert_eq!(f.prober.probes_denied(), 2);
    assert!(f.healthy());
    let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
    assert!(accepted.is_err(), "nothing connected to the denied address");
    // The same port probed when not denied: the listener sees the connection.
    drop(f);
    let g = fixture(port, ClusterCheck::tcp(), DenyList::default());
    g.round(longest_first_wait()).await;
    let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
    assert!(
        accepted.is_ok(),
        "the probe connects when the address is allowed"
    );
}

/// Answers every HTTP request with `status`, and records the request lines.
async fn http_server(status: u16) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            crate::util::lock(&log).push(head);
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_check_gets_its_path_with_its_headers_and_fails_at_once_on_an_unexpected_status() {
    let check = |expected_code| ClusterCheck {
        checker: Checker::Http(crate::probe::HttpProbe {
            path: "/health".into(),
            headers: vec![("X-Probe".into(), "nacre".into())],
            expected_code,
        }),
        port: None,
    };
    let (port, seen) = http_server(204).await;
    let f = fixture(port, check(204), DenyList::default());
    f.round(longest_first_wait()).await;
    assert!(f.healthy());
    let request = crate::util::lock(&seen)
        .first()
        .cloned()
        .unwrap_or_default();
    assert!(request.starts_with("GET /health HTTP/1.1"), "{request}");
    assert!(
        request.to_ascii_lowercase().contains("x-probe: nacre"),
        "{request}"
    );

    let (port, _) = http_server(500).await;
    let f = fixture(port, check(200), DenyList::default());
    f.round(longest_first_wait()).await;
    assert!(!f.healthy(), "500 is not 200: unhealthy at the first round");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_member_probes_only_the_services_it_owns() {
    use crate::cluster::{ClusterNode, DistroConfig, NodeId};
    use crate::transport::memory::MemoryNetwork;
    let clock = ManualClock::new();
    let net = MemoryNetwork::new(Arc::new(clock.clone()), 7);
    let ids: Vec<NodeId> = ["n1", "n2"]
        .iter()
        .map(|n| NodeId::new(n).expect("an id"))
        .collect();
    let config = DistroConfig {
        peer_down_after: Duration::from_secs(3600),
        ..DistroConfig::default()
    };
    let nodes: Vec<ClusterNode> = ids
        .iter()
        .map(|id| {
            let node = ClusterNode::builder(id.clone(), ids.clone(), net.transport(id))
                .config(config)
                .registry(Registry::builder().clock(clock.clone()))
                .build()
                .expect("a member");
            net.attach(&node);
            node.start();
            node
        })
        .collect();
    // The members see each other as the clock moves in small steps.
    let both_ready = || nodes.iter().all(|n| n.mapper().members().len() == 2);
    let mut steps = 0;
    while !both_ready() {
        assert!(steps < 600, "the members never saw each other");
        clock.advance(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(1)).await;
        steps += 1;
    }
    let mapper = nodes[0].mapper();
    let owned_by = |owner: &NodeId| {
        (0..100)
            .map(|i| ServiceKey::named(&format!("svc-{i}")).expect("valid service"))
            .find(|key| mapper.is_owner(owner, key))
            .expect("a service each member owns")
    };
    let (mine, theirs) = (owned_by(&ids[0]), owned_by(&ids[1]));
    let mine_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let theirs_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    for (service, listener) in [(&mine, &mine_listener), (&theirs, &theirs_listener)] {
        let port = listener.local_addr().expect("address").port();
        let instance = Instance::builder("127.0.0.1", port)
            .ephemeral(false)
            .build()
            .expect("valid instance");
        nodes[0]
            .local_registry()
            .register_instance(service, instance)
            .expect("registered");
    }
    let prober = Prober::spawn(
        nodes[0].clone().into(),
        Arc::new(Fixed(ClusterCheck::tcp())),
        Arc::new(clock.clone()),
        ProbeConfig::default(),
    );
    let mut steps = 0;
    while prober.probes_finished() < 3 {
        assert!(steps < 600, "no three probes in a minute");
        clock.advance(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(1)).await;
        steps += 1;
    }
    prober.stop();
    let wait = Duration::from_millis(200);
    let mine_probed = tokio::time::timeout(wait, mine_listener.accept()).await;
    assert!(mine_probed.is_ok(), "n1 probes its own service");
    let theirs_probed = tokio::time::timeout(wait, theirs_listener.accept()).await;
    assert!(
        theirs_probed.is_err(),
        "n1 never probes the service n2 owns"
    );
    for node in &nodes {
        node.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_probes_run_at_once_than_the_bound() {
    use std::sync::atomic::AtomicUsize;
    // Six instances whose HTTP check never answers: each probe holds its place until its
    // timeout.
    let accepted = Arc::new(AtomicUsize::new(0));
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let service = ServiceKey::named("orders").expect("valid service");
    for _ in 0..6 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::AcqRel);
                held.push(stream);
            }
        });
        let instance = Instance::builder("127.0.0.1", port)
            .ephemeral(false)
            .build()
            .expect("valid instance");
        registry
            .register_instance(&service, instance)
            .expect("registered");
    }
    let silent = ClusterCheck {
        checker: Checker::Http(crate::probe::HttpProbe {
            path: "/".into(),
            headers: Vec::new(),
            expected_code: 200,
        }),
        port: None,
    };
    let prober = Prober::spawn(
        registry.clone().into(),
        Arc::new(Fixed(silent)),
        Arc::new(clock.clone()),
        ProbeConfig {
            max_concurrent: 2,
            timeout: Duration::from_secs(2),
            ..ProbeConfig::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while clock.sleepers() == 0 {
        assert!(Instant::now() < deadline, "the driver never slept");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    clock.advance(longest_first_wait());
    while accepted.load(Ordering::Acquire) < 2 {
        assert!(Instant::now() < deadline, "no probe started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Every probe is due, but only two hold a place until their timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(accepted.load(Ordering::Acquire), 2);
    assert_eq!(prober.probes_finished(), 0);
    // Once they time out, the next two start.
    while accepted.load(Ordering::Acquire) < 4 {
        assert!(
            Instant::now() < deadline,
            "the waiting probes never started"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(prober.probes_finished(), 2);
}
