//! nacre's benchmarks, each figure beside a hand-rolled baseline measured in the same run.
//!
//! The baseline ([`Baseline`]) is what a careful engineer would write in an afternoon: one
//! `RwLock` around a fast-hashed `HashMap<ServiceKey, BaseService>`. Each service keeps its
//! instances in an `Arc<Vec<Instance>>` that readers clone under the read lock (so a read copies
//! nothing and iterates outside the lock), an index `InstanceKey -> position`, and the beat
//! times in a parallel `Vec` that readers never see. Writes take the write lock and change the
//! `Vec` through `Arc::make_mut`: in place when no reader holds the old list, a copy when one
//! does. A heartbeat takes the write lock and stores one timestamp. The health sweep reads
//! everything under the read lock with nacre's own policy functions (`judge`, `next_deadline`)
//! and takes the write lock only if something must change.
//!
//! Groups (run `cargo bench --bench registry`; see `BENCHMARKS.md`):
//!
//! - `select_100/*`: a read of a 100-instance service; `view` only obtains the result,
//!   `view_and_iterate` also walks the healthy instances.
//! - `select_100_under_writes/*`: the same reads while a writer thread keeps re-registering the
//!   service's instances with a changed weight.
//! - `heartbeat`: one beat on an existing instance; also prints allocations per beat, counted by
//!   this binary's global allocator over 1M beats.
//! - `register_into_1k`: registering one new instance into a service of 1,000.
//! - `register_load`: 10k and 100k registrations one by one into one service (whole load);
//!   also prints the live heap bytes per instance of 100k instances.
//! - `health_sweep_1M`: one health sweep over 10,000 services of 100 fresh instances each.
//! - `service_list_100k`: one page of 10 names of a group of 100,000 services
//!   (`get_service_list`, v1 `service/list`, gRPC `ServiceListRequest`), beside the walk and
//!   sort of every service per request that it replaced.

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use nacre::{Instance, InstanceKey, InstancesView, ManualClock, Registry, ServiceKey, Timestamp};
use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/baseline.rs"]
mod baseline;

use alloc::heap_use_of;
use baseline::{check_baseline_behaves, Baseline};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn service_key(n: usize) -> ServiceKey {
    ServiceKey::named(&format!("service-{n}")).expect("a valid service name")
}

/// Instance number `n` (below 2^24): `10.a.b.c:8080`, weight 1, healthy, ephemeral.
fn instance(n: usize) -> Instance {
    instance_weighted(n, 1.0)
}

fn instance_weighted(n: usize, weight: f64) -> Instance {
    let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    Instance::builder(&ip, 8080)
        .weight(weight)
        .build()
        .expect("a valid instance")
}

fn new_registry(clock: &ManualClock) -> Registry {
    Registry::builder().clock(clock.clone()).build()
}

fn now(clock: &ManualClock) -> Timestamp {
    nacre::Clock::now(clock)
}

/// 100 services of 100 instances, in both registries; the benchmarks use one of them.
struct Fixture {
    clock: ManualClock,
    nacre: Registry,
    base: Arc<Baseline>,
    key: ServiceKey,
    keys: Vec<InstanceKey>,
}

impl Fixture {
    const SERVICES: usize = 100;
    const INSTANCES: usize = 100;

    fn new() -> Self {
        let clock = ManualClock::new();
        let nacre = new_registry(&clock);
        let base = Arc::new(Baseline::default());
        let instances: Vec<Instance> = (0..Self::INSTANCES).map(instance).collect();
        for s in 0..Self::SERVICES {
            let key = service_key(s);
            nacre
                .batch_register_instance(&key, instances.clone())
                .expect("registration succeeds");
            for inst in &instances {
                base.register(&key, inst.clone(), now(&clock));
            }
        }
        nacre.wait_for_events(Duration::from_secs(30));
        let fx = Self {
            clock,
            nacre,
            base,
            key: service_key(Self::SERVICES / 2),
            keys: instances.iter().map(Instance::key).collect(),
        };
        assert_eq!(fx.nacre.select_instances(&fx.key, &[], true).len(), 100);
        assert_eq!(fx.base.select(&fx.key).map(|l| l.len()), Some(100));
        fx
    }
}

fn sum_ports_nacre(view: &InstancesView) -> u64 {
    view.iter().map(|i| u64::from(i.port())).sum()
}

fn sum_ports_baseline(list: &[Instance]) -> u64 {
    list.iter()
        .filter(|i| i.enabled() && i.healthy() && i.weight() > 0.0)
        .map(|i| u64::from(i.port()))
        .sum()
}

// ---------------------------------------------------------------------------------------------
// 1. Reads
// ---------------------------------------------------------------------------------------------

fn bench_select(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("select_100/view");
    g.bench_function("nacre", |b| {
        b.iter(|| fx.nacre.select_instances(black_box(&fx.key), &[], true))
    });
    g.bench_function("baseline", |b| {
        b.iter(|| fx.base.select(black_box(&fx.key)))
    });
    g.finish();

    let mut g = c.benchmark_group("select_100/view_and_iterate");
    g.bench_function("nacre", |b| {
        b.iter(|| sum_ports_nacre(&fx.nacre.select_instances(black_box(&fx.key), &[], true)))
    });
    g.bench_function("baseline", |b| {
        b.iter(|| {
            fx.base
                .select(black_box(&fx.key))
                .map(|l| sum_ports_baseline(&l))
        })
    });
    g.finish();
}

/// A thread that calls `write` in a loop until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
    started: Instant,
}

impl Writer {
    fn start(mut write: impl FnMut(u64) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) {
                write(n);
                n += 1;
            }
            n
        });
        Self {
            stop,
            handle,
            started: Instant::now(),
        }
    }

    fn stop(self, label: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let writes = self
            .handle
            .join()
            .expect("the writer thread does not panic");
        let secs = self.started.elapsed().as_secs_f64();
        println!(
            "    writer during {label}: {writes} writes in {secs:.1} s ({:.0} writes/s)",
            writes as f64 / secs
        );
    }
}

/// Re-registers the service's instances in turn with weight 2, then 1, then 2...: every write
/// is a real change of one instance.
fn weight_variants() -> [Vec<Instance>; 2] {
    let n = Fixture::INSTANCES;
    [
        (0..n).map(|i| instance_weighted(i, 2.0)).collect(),
        (0..n).map(|i| instance_weighted(i, 1.0)).collect(),
    ]
}

fn variant(variants: &[Vec<Instance>; 2], n: u64) -> Instance {
    let len = variants[0].len() as u64;
    let list = &variants[((n / len) % 2) as usize];
    list[(n % len) as usize].clone()
}

fn nacre_writer(fx: &Fixture) -> Writer {
    let registry = fx.nacre.clone();
    let key = fx.key.clone();
    let variants = weight_variants();
    Writer::start(move |n| {
        registry
            .register_instance(&key, variant(&variants, n))
            .expect("registration succeeds");
        // Every write queues the new snapshot for the event dispatcher thread; let it catch up
        // now and then so its queue stays bounded on a 2-core machine.
        if n % 256 == 255 {
            registry.wait_for_events(Duration::from_secs(10));
        }
    })
}

fn baseline_writer(fx: &Fixture) -> Writer {
    let base = fx.base.clone();
    let clock = fx.clock.clone();
    let key = fx.key.clone();
    let variants = weight_variants();
    Writer::start(move |n| base.register(&key, variant(&variants, n), now(&clock)))
}

fn bench_select_under_writes(c: &mut Criterion, fx: &Fixture) {
    for (name, iterate) in [("view", false), ("view_and_iterate", true)] {
        let group = format!("select_100_under_writes/{name}");
        let mut g = c.benchmark_group(&group);

        let writer = nacre_writer(fx);
        g.bench_function("nacre", |b| {
            b.iter(|| {
                let view = fx.nacre.select_instances(black_box(&fx.key), &[], true);
                if iterate {
                    black_box(sum_ports_nacre(&view));
                }
                view
            })
        });
        writer.stop(&format!("{group}/nacre"));

        let writer = baseline_writer(fx);
        g.bench_function("baseline", |b| {
            b.iter(|| {
                let list = fx.base.select(black_box(&fx.key));
                if iterate {
                    black_box(list.as_deref().map(|l| sum_ports_baseline(l)));
                }
                list
            })
        });
        writer.stop(&format!("{group}/baseline"));
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Heartbeats
// ---------------------------------------------------------------------------------------------

static HEARTBEAT_REPORT: Once = Once::new();

fn report_heartbeat_allocations(fx: &Fixture) {
    const BEATS: usize = 1_000_000;
    let n = fx.keys.len();
    let ((), nacre) = heap_use_of(|| {
        for i in 0..BEATS {
            black_box(fx.nacre.heartbeat(&fx.key, &fx.keys[i % n])).expect("a known instance");
        }
    });
    let ((), base) = heap_use_of(|| {
        for i in 0..BEATS {
            assert!(fx.base.heartbeat(&fx.key, &fx.keys[i % n], now(&fx.clock)));
        }
    });
    println!(
        "heartbeat allocations over {BEATS} beats: nacre {} ({} per beat, net {} bytes), \
         baseline {} ({} per beat, net {} bytes)",
        nacre.allocations,
        nacre.allocations as f64 / BEATS as f64,
        nacre.net_bytes,
        base.allocations,
        base.allocations as f64 / BEATS as f64,
        base.net_bytes,
    );
}

fn bench_heartbeat(c: &mut Criterion, fx: &Fixture) {
    let n = fx.keys.len();
    let mut g = c.benchmark_group("heartbeat");
    g.throughput(Throughput::Elements(1));
    g.bench_function("nacre", |b| {
        HEARTBEAT_REPORT.call_once(|| report_heartbeat_allocations(fx));
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % n;
            fx.nacre.heartbeat(&fx.key, &fx.keys[i])
        })
    });
    g.bench_function("baseline", |b| {
        HEARTBEAT_REPORT.call_once(|| report_heartbeat_allocations(fx));
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % n;
            fx.base.heartbeat(&fx.key, &fx.keys[i], now(&fx.clock))
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// 3. One registration into a service of 1k
// ---------------------------------------------------------------------------------------------

/// Registers fresh instances into a service of 1,000, timed, in chunks of up to 100; after each
/// chunk they are deregistered again and `settle` runs (both untimed), so the service stays
/// between 1,000 and 1,100 instances however many iterations criterion asks for.
fn time_registrations(
    iters: u64,
    fresh: &[Instance],
    mut register: impl FnMut(Instance),
    mut deregister: impl FnMut(&InstanceKey),
    mut settle: impl FnMut(),
) -> Duration {
    let keys: Vec<InstanceKey> = fresh.iter().map(Instance::key).collect();
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(fresh.len() as u64) as usize;
        let chunk = fresh[..n].to_vec();
        let start = Instant::now();
        for inst in chunk {
            register(inst);
        }
        total += start.elapsed();
        for key in &keys[..n] {
            deregister(key);
        }
        settle();
        left -= n as u64;
    }
    total
}

fn bench_register_one(c: &mut Criterion) {
    const SIZE: usize = 1_000;
    let clock = ManualClock::new();
    let key = service_key(0);
    let existing: Vec<Instance> = (0..SIZE).map(instance).collect();
    let fresh: Vec<Instance> = (SIZE..SIZE + 100).map(instance).collect();

    let mut g = c.benchmark_group("register_into_1k");
    g.throughput(Throughput::Elements(1));
    {
        let registry = new_registry(&clock);
        registry
            .batch_register_instance(&key, existing.clone())
            .expect("registration succeeds");
        g.bench_function("nacre", |b| {
            b.iter_custom(|iters| {
                time_registrations(
                    iters,
                    &fresh,
                    |inst| {
                        registry
                            .register_instance(&key, inst)
                            .expect("registration succeeds");
                    },
                    |k| {
                        registry.deregister_instance(&key, k);
                    },
                    // Let the event dispatcher finish the untimed deregistrations, so that each
                    // timed chunk starts with an idle dispatcher (see BENCHMARKS.md).
                    || {
                        registry.wait_for_events(Duration::from_secs(60));
                    },
                )
            })
        });
        assert_eq!(registry.get_all_instances(&key, &[]).len(), SIZE);
    }
    {
        let base = Baseline::default();
        for inst in &existing {
            base.register(&key, inst.clone(), now(&clock));
        }
        g.bench_function("baseline", |b| {
            b.iter_custom(|iters| {
                time_registrations(
                    iters,
                    &fresh,
                    |inst| base.register(&key, inst, now(&clock)),
                    |k| {
                        base.deregister(&key, k);
                    },
                    || {},
                )
            })
        });
        assert_eq!(base.select(&key).map(|l| l.len()), Some(SIZE));
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// 4. 10k and 100k registrations one by one into one service; memory per instance
// ---------------------------------------------------------------------------------------------

static MEMORY_REPORT: Once = Once::new();

fn report_memory_per_instance() {
    const N: usize = 100_000;
    let clock = ManualClock::new();
    let key = service_key(0);
    let per = |bytes: i64| bytes as f64 / N as f64;

    let (plain, plain_use) = heap_use_of(|| (0..N).map(instance).collect::<Vec<_>>());
    drop(plain);

    let (registry, nacre_use) = heap_use_of(|| {
        let registry = new_registry(&clock);
        for n in 0..N {
            registry
                .register_instance(&key, instance(n))
                .expect("registration succeeds");
        }
        // Old snapshots are released by the event dispatcher thread; count only what stays.
        registry.wait_for_events(Duration::from_secs(60));
        registry
    });
    assert_eq!(registry.get_all_instances(&key, &[]).len(), N);
    drop(registry);

    let (base, base_use) = heap_use_of(|| {
        let base = Baseline::default();
        for n in 0..N {
            base.register(&key, instance(n), now(&clock));
        }
        base
    });
    assert_eq!(base.select(&key).map(|l| l.len()), Some(N));
    drop(base);

    let (p, n, b) = (
        per(plain_use.net_bytes),
        per(nacre_use.net_bytes),
        per(base_use.net_bytes),
    );
    println!(
        "live heap bytes per instance, {N} instances in one service (registered one by one): \
         nacre {n:.0}, baseline {b:.0} (ratio {:.2}); the instance values alone (a Vec<Instance>) \
         {p:.0}, so registry overhead nacre {:.0}, baseline {:.0}",
        n / b,
        n - p,
        b - p,
    );
}

fn bench_register_load(c: &mut Criterion) {
    let clock = ManualClock::new();
    let key = service_key(0);
    let mut g = c.benchmark_group("register_load");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for size in [10_000usize, 100_000] {
        let instances: Vec<Instance> = (0..size).map(instance).collect();
        g.throughput(Throughput::Elements(size as u64));
        g.bench_with_input(BenchmarkId::new("nacre", size), &size, |b, _| {
            MEMORY_REPORT.call_once(report_memory_per_instance);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let registry = new_registry(&clock);
                    let load = instances.clone();
                    let start = Instant::now();
                    for inst in load {
                        registry
                            .register_instance(&key, inst)
                            .expect("registration succeeds");
                    }
                    // Done when the event dispatcher has caught up too.
                    registry.wait_for_events(Duration::from_secs(60));
                    total += start.elapsed();
                }
                total
            })
        });
        g.bench_with_input(BenchmarkId::new("baseline", size), &size, |b, _| {
            MEMORY_REPORT.call_once(report_memory_per_instance);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let base = Baseline::default();
                    let load = instances.clone();
                    let start = Instant::now();
                    for inst in load {
                        base.register(&key, inst, now(&clock));
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// 5. Health sweep over 1M instances
// ---------------------------------------------------------------------------------------------

const SWEEP_SERVICES: usize = 10_000;
const SWEEP_INSTANCES: usize = 100;

fn bench_health_sweep(c: &mut Criterion) {
    let total = SWEEP_SERVICES * SWEEP_INSTANCES;
    let clock = ManualClock::new();
    let template: Vec<Instance> = (0..SWEEP_INSTANCES).map(instance).collect();
    // Everything beat at the clock's start; one second later nothing is due.
    let at = now(&clock) + Duration::from_secs(1);

    // A cold sweep walks every instance; later sweeps skip services whose hint says nothing
    // can be due yet (what the criterion group below measures). Time three cold sweeps, each
    // on a freshly built registry, and print the median beside the baseline's full walk
    // (the baseline has no hints: every one of its sweeps is a full walk).
    let mut cold = Vec::new();
    for _ in 0..3 {
        let registry = new_registry(&clock);
        for s in 0..SWEEP_SERVICES {
            registry
                .batch_register_instance(&service_key(s), template.clone())
                .expect("registration succeeds");
        }
        let started = std::time::Instant::now();
        let report = registry.check_health_at(at);
        cold.push(started.elapsed());
        assert_eq!(report.instances, total);
    }
    cold.sort();
    println!(
        "health_sweep_1M cold (first sweep, full walk), median of 3: nacre {:.1} ms",
        cold[1].as_secs_f64() * 1e3
    );

    let mut g = c.benchmark_group("health_sweep_1M");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(total as u64));
    {
        let registry = OnceCell::new();
        g.bench_function("nacre", |b| {
            let registry = registry.get_or_init(|| {
                let registry = new_registry(&clock);
                for s in 0..SWEEP_SERVICES {
                    registry
                        .batch_register_instance(&service_key(s), template.clone())
                        .expect("registration succeeds");
                }
                registry.wait_for_events(Duration::from_secs(120));
                let report = registry.check_health_at(at);
                assert_eq!(report.instances, total);
                assert!(report.marked_unhealthy.is_empty() && report.removed.is_empty());
                registry
            });
            b.iter(|| registry.check_health_at(at))
        });
    }
    {
        let base = OnceCell::new();
        g.bench_function("baseline", |b| {
            let base = base.get_or_init(|| {
                let base = Baseline::default();
                for s in 0..SWEEP_SERVICES {
                    let key = service_key(s);
                    for inst in &template {
                        base.register(&key, inst.clone(), now(&clock));
                    }
                }
                let report = base.sweep(at);
                assert_eq!(report.instances, total);
                assert_eq!((report.marked_unhealthy, report.removed), (0, 0));
                base
            });
            b.iter(|| base.sweep(at))
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------

fn bench_service_list(c: &mut Criterion) {
    let registry = Registry::builder().clock(ManualClock::new()).build();
    for n in 0..100_000 {
        registry
            .register_instance(&service_key(n), instance(n))
            .expect("registered");
    }
    let namespace = service_key(0).namespace().clone();
    let group = service_key(0).group().clone();
    let mut g = c.benchmark_group("service_list_100k");
    g.bench_function("nacre", |b| {
        b.iter(|| black_box(registry.get_service_list(&namespace, &group, 5, 10)))
    });
    // What every list request did before: walk every service, sort the group's names, page.
    g.bench_function("walk_and_sort", |b| {
        b.iter(|| {
            let mut names = Vec::new();
            registry.store().for_each(|snap| {
                let key = snap.key();
                if key.namespace() == &namespace && key.group() == &group {
                    names.push(key.service().clone());
                }
            });
            names.sort_unstable();
            let page: Vec<_> = names.into_iter().skip(40).take(10).collect();
            black_box(page)
        })
    });
    #[cfg(feature = "auth")]
    {
        // A caller who may read one service of the group: every name passes its permission
        // check before the page is cut.
        let viewer = one_service_viewer(&service_key(7));
        let filter = nacre::front::catalog::ServiceFilter {
            group: nacre::front::catalog::TextFilter::Exact(group.to_string()),
            viewer: Some(viewer),
            ..nacre::front::catalog::ServiceFilter::in_namespace(&namespace)
        };
        g.bench_function("viewer_of_one", |b| {
            b.iter(|| {
                let found = nacre::front::catalog::list_services(registry.reader(), &filter);
                black_box(nacre::front::catalog::page(found, 1, 10))
            })
        });
    }
    g.finish();
}

/// What auth adds to one request: the token verified (HS256, expiry, the user looked up) and
/// the permission checked, through the `Access` every front asks.
#[cfg(feature = "auth")]
fn bench_access_check(c: &mut Criterion) {
    use nacre::front::access::{AccessTarget, Front, Need};
    let key = service_key(7);
    let (access, token) = one_service_access(&key);
    let need = Need::Read(AccessTarget::service(&key));
    let source = std::net::Ipv4Addr::LOCALHOST.into();
    let mut g = c.benchmark_group("access_check");
    g.bench_function("read_one_service", |b| {
        b.iter(|| {
            black_box(
                access
                    .check(Front::Http, source, Some(&token), &need)
                    .is_ok(),
            )
        })
    });
    g.finish();
}

/// The [`nacre::front::access::Viewer`] of a caller whose one permission reads `key`.
#[cfg(feature = "auth")]
fn one_service_viewer(key: &ServiceKey) -> nacre::front::access::Viewer {
    use nacre::front::access::{AccessTarget, Need};
    let (access, token) = one_service_access(key);
    let need = Need::List(AccessTarget::group(
        key.namespace().clone(),
        Some(key.group().clone()),
    ));
    access
        .check(
            nacre::front::access::Front::Http,
            std::net::Ipv4Addr::LOCALHOST.into(),
            Some(&token),
            &need,
        )
        .expect("granted")
        .viewer
        .expect("in part")
}

/// An `Access` whose one user may read `key`, and a token of that user.
#[cfg(feature = "auth")]
fn one_service_access(key: &ServiceKey) -> (nacre::front::access::Access, String) {
    let hash = bcrypt::hash("pw", 4).expect("hashed");
    let users = nacre::auth::UsersFile::parse(&format!(
        "[[user]]\nusername = \"u\"\npassword_bcrypt = \"{hash}\"\n\
         [[role]]\nrole = \"r\"\nusername = \"u\"\n\
         [[permission]]\nrole = \"r\"\nresource = \"{}:{}:naming/{}\"\naction = \"r\"\n",
        key.namespace(),
        key.group(),
        key.service()
    ))
    .expect("users");
    let token_key =
        nacre::auth::TokenKey::from_base64("bmFjcmUtdGVzdC1rZXktYXQtbGVhc3QtMzItYnl0ZXMtbG9uZw==")
            .expect("key");
    let token = token_key.issue("u", u64::MAX / 2);
    let access = nacre::front::access::Access::new(std::sync::Arc::new(
        nacre::auth::Authenticator::new(std::sync::Arc::new(users), token_key),
    ));
    (access, token)
}

fn main() {
    check_baseline_behaves();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let fx = Fixture::new();
        bench_select(&mut c, &fx);
        bench_select_under_writes(&mut c, &fx);
        bench_heartbeat(&mut c, &fx);
    }
    bench_register_one(&mut c);
    bench_register_load(&mut c);
    bench_health_sweep(&mut c);
    bench_service_list(&mut c);
    #[cfg(feature = "auth")]
    bench_access_check(&mut c);
    c.final_summary();
}
