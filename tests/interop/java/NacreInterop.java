// Drives a running nacre-server with the official Nacos Java client 2.2.3 (nacos-client, the
// client Spring Cloud Alibaba and Dubbo use), over gRPC (HTTP port + 1000).
//
// Usage: java NacreInterop plain HOST:PORT
//        java NacreInterop auth HOST:PORT    (a server with --users-file; the users and their
//                                             passwords come from the environment, see below)
//        java NacreInterop tls HOST:PORT CERTS OTHER_CERTS
//        java NacreInterop mtls HOST:PORT CERTS OTHER_CERTS
//        java NacreInterop namespace HOST:PORT NAMESPACE
//                                            (a namespace created through the namespace API)
//        java NacreInterop provider HOST:PORT SERVICE IP
//                                            (registers IP:8080 in SERVICE, prints REGISTERED,
//                                             and stays, for java_run.sh's override checks)
//                                            (a server with --tls-cert/--tls-key, for mtls also
//                                             --tls-client-ca; CERTS and OTHER_CERTS are two
//                                             folders written by examples/cert_gen.rs)
//
// plain: register an ephemeral instance, getAllInstances, subscribe and be told of a second
// instance and of its deregistration, the service list, deregister.
//
// auth: three identities against one server. The writer (NACRE_WRITER / NACRE_WRITER_PASSWORD,
// may read and write the public namespace) registers, lists, subscribes and is told of a change;
// the reader (NACRE_READER / NACRE_READER_PASSWORD, may only read it) lists and subscribes, and
// its registration is refused with error code 403 and never appears, not even after the
// client's redo task has retried it; a client without credentials can do nothing (403); a
// client with a wrong password likewise, last, since failed logins count against the source
// address.
//
// tls: over gRPC TLS (the OpenSSL provider, netty-tcnative: Debian's Netty 4.1.48 has no ALPN
// with the JDK's), a client trusting CERTS/ca.pem runs plain's checks, and registers a
// persistent instance, which the client sends over v1 HTTP, here https (the JVM-wide
// -Dtls.enable=true -Dtls.client.authServer=true -Dtls.client.trustCertPath=CERTS/ca.pem that
// java_run.sh passes). A client trusting OTHER_CERTS/ca.pem, and one without TLS, cannot
// connect: everything they try fails with CLIENT_DISCONNECT (-401), and nothing of it lands.
//
// mtls: the server asks for a client certificate signed by CERTS/ca.pem. The client presenting
// CERTS/client.pem runs plain's checks; one presenting none, one presenting
// OTHER_CERTS/client.pem (signed by another CA), and one trusting OTHER_CERTS/ca.pem cannot
// connect. (The 2.2.3 client's https has no client certificate, so no persistent instance.)
//
// namespace: clients with the `namespace` property set to NAMESPACE register, list, subscribe
// and are told of a change there; a client of `public` sees none of it.
//
// provider: registers one ephemeral instance and keeps its client running (its redo task
// registers it again after a reconnect) until the process is killed.
//
// Prints one line per check (`ok   ...` / `FAIL ...`, diagnostics start with `#`), then
// `N passed, M failed`; exits 1 if any check failed.

import com.alibaba.nacos.api.NacosFactory;
import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.Event;
import com.alibaba.nacos.api.naming.listener.EventListener;
import com.alibaba.nacos.api.naming.listener.NamingEvent;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ListView;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.function.Supplier;
import java.util.stream.Collectors;

public class NacreInterop {

    static final String GROUP = "DEFAULT_GROUP";
    static final long DEADLINE_MS = 20_000;

    static int passed;
    static int failed;

    interface Body {
        void run() throws Exception;
    }

    static void check(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("ok   " + name);
        } catch (Throwable e) {
            failed++;
            System.out.println("FAIL " + name);
            System.out.println("#    " + e);
            for (StackTraceElement at : e.getStackTrace()) {
                if (at.getClassName().startsWith("NacreInterop")) {
                    System.out.println("#      at " + at);
                }
            }
        }
    }

    static void expect(boolean cond, String message) {
        if (!cond) {
            throw new AssertionError(message);
        }
    }

    /** Polls until `cond` holds, up to DEADLINE_MS; `what` says what was awaited. */
    static void waitUntil(String what, Supplier<Boolean> cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (!cond.get()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + DEADLINE_MS + " ms waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    static Properties properties(String addr) {
        Properties props = new Properties();
        props.setProperty(PropertyKeyConst.SERVER_ADDR, addr);
        props.setProperty(PropertyKeyConst.NAMING_LOAD_CACHE_AT_START, "false");
        return props;
    }

    static NamingService naming(String addr, String username, String password) throws NacosException {
        Properties props = properties(addr);
        if (username != null) {
            props.setProperty(PropertyKeyConst.USERNAME, username);
            props.setProperty(PropertyKeyConst.PASSWORD, password);
        }
        return NacosFactory.createNamingService(props);
    }

    // The 2.2.3 client's gRPC TLS settings (RpcConstants, read by RpcClientTlsConfig.properties
    // from the client's Properties). Files are resources: an absolute path would be looked up on
    // the classpath, so they are file: URLs.
    static final String TLS = "nacos.remote.client.rpc.tls.";

    /** gRPC over TLS with the OpenSSL provider, trusting the CA in the file `ca`. */
    static Properties tls(String addr, String ca) {
        Properties props = properties(addr);
        props.setProperty(TLS + "enable", "true");
        props.setProperty(TLS + "provider", "openssl");
        props.setProperty(TLS + "trustCollectionChainPath", "file:" + ca);
        return props;
    }

    /** tls(), presenting the certificate `cert` (PEM) with its PKCS#8 key `key`. */
    static Properties tls(String addr, String ca, String cert, String key) {
        Properties props = tls(addr, ca);
        props.setProperty(TLS + "mutualAuth", "true");
        props.setProperty(TLS + "certChainFile", "file:" + cert);
        props.setProperty(TLS + "certPrivateKey", "file:" + key);
        return props;
    }

    static Instance instance(String ip, int port) {
        Instance i = new Instance();
        i.setIp(ip);
        i.setPort(port);
        i.setEphemeral(true);
        return i;
    }

    /** "ip:port" of each instance, sorted. */
    static List<String> endpoints(List<Instance> instances) {
        return instances.stream().map(i -> i.getIp() + ":" + i.getPort()).sorted().collect(Collectors.toList());
    }

    /** Every host list a listener was told of. */
    static final class Events implements EventListener {
        final List<List<String>> seen = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void onEvent(Event event) {
            if (event instanceof NamingEvent) {
                seen.add(endpoints(((NamingEvent) event).getInstances()));
            }
        }

        List<String> last() {
            synchronized (seen) {
                return seen.isEmpty() ? null : seen.get(seen.size() - 1);
            }
        }

        void awaitLast(List<String> want) throws InterruptedException {
            waitUntil("an event listing " + want + " (events: " + seen + ")", () -> want.equals(last()));
        }
    }

    /** Runs `call`, which must fail with a NacosException of code `code`; says what it reported. */
    static void expectRefused(String what, int code, Body call) {
        try {
            call.run();
        } catch (NacosException e) {
            System.out.println("#    " + what + " refused: errCode " + e.getErrCode() + ", " + e.getErrMsg());
            expect(e.getErrCode() == code, what + ": errCode " + e.getErrCode() + ", expected " + code + ": " + e);
            return;
        } catch (Exception e) {
            throw new AssertionError(what + ": expected a NacosException " + code + ", got " + e, e);
        }
        throw new AssertionError(what + " was not refused");
    }

    static void plain(String addr) throws Exception {
        plainChecks("java-plain", "", naming(addr, null, null), naming(addr, null, null));
    }

    /**
     * Two clients, `a` registering and `b` listening, in `service`, the only service there is;
     * each check's name starts with `prefix`. Shuts both down.
     */
    static void plainChecks(String service, String prefix, NamingService a, NamingService b) throws Exception {
        Events events = new Events();

        check(prefix + "register an ephemeral instance", () -> a.registerInstance(service, GROUP, instance("10.3.0.1", 8080)));
        check(prefix + "getAllInstances lists it", () -> {
            List<Instance> all = b.getAllInstances(service, GROUP, false);
            expect(endpoints(all).equals(List.of("10.3.0.1:8080")), "listed " + endpoints(all));
            expect(all.get(0).isHealthy() && all.get(0).isEnabled(), "healthy and enabled: " + all.get(0));
        });
        check(prefix + "subscribe, and be told of the instance there", () -> {
            b.subscribe(service, GROUP, events);
            events.awaitLast(List.of("10.3.0.1:8080"));
        });
        check(prefix + "a second instance is pushed to the subscriber", () -> {
            a.registerInstance(service, GROUP, instance("10.3.0.2", 8080));
            events.awaitLast(List.of("10.3.0.1:8080", "10.3.0.2:8080"));
        });
        check(prefix + "the service list names the service", () -> {
            ListView<String> page = b.getServicesOfServer(1, 10, GROUP);
            expect(page.getCount() == 1 && page.getData().equals(List.of(service)),
                "count " + page.getCount() + ", services " + page.getData());
        });
        check(prefix + "deregister one, and the subscriber is told", () -> {
            a.deregisterInstance(service, GROUP, instance("10.3.0.2", 8080));
            events.awaitLast(List.of("10.3.0.1:8080"));
            expect(endpoints(b.getAllInstances(service, GROUP, false)).equals(List.of("10.3.0.1:8080")),
                "getAllInstances after the deregistration");
        });
        check(prefix + "deregister the last one", () -> {
            a.deregisterInstance(service, GROUP, instance("10.3.0.1", 8080));
            waitUntil("an empty list", () -> {
                try {
                    return b.getAllInstances(service, GROUP, false).isEmpty();
                } catch (NacosException e) {
                    return false;
                }
            });
        });
        a.shutDown();
        b.shutDown();
    }

    static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalStateException(name + " is not set (tests/interop/lib.sh sets it)");
        }
        return v;
    }

    static void auth(String addr) throws Exception {
        String service = "java-auth";
        String writerName = env("NACRE_WRITER");
        String writerPassword = env("NACRE_WRITER_PASSWORD");
        NamingService writer = naming(addr, writerName, writerPassword);
        NamingService reader = naming(addr, env("NACRE_READER"), env("NACRE_READER_PASSWORD"));
        NamingService nobody = naming(addr, null, null);
        Events writerEvents = new Events();
        Events readerEvents = new Events();

        // The writer.
        check("writer: register", () -> writer.registerInstance(service, GROUP, instance("10.4.0.1", 8080)));
        check("writer: getAllInstances lists it", () -> {
            List<Instance> all = writer.getAllInstances(service, GROUP, false);
            expect(endpoints(all).equals(List.of("10.4.0.1:8080")), "listed " + endpoints(all));
        });
        check("writer: subscribe and be told of a second instance", () -> {
            writer.subscribe(service, GROUP, writerEvents);
            writerEvents.awaitLast(List.of("10.4.0.1:8080"));
            writer.registerInstance(service, GROUP, instance("10.4.0.2", 8080));
            writerEvents.awaitLast(List.of("10.4.0.1:8080", "10.4.0.2:8080"));
        });
        check("writer: the service list names the service", () -> {
            ListView<String> page = writer.getServicesOfServer(1, 10, GROUP);
            expect(page.getData().equals(List.of(service)), "services " + page.getData());
        });

        // The reader.
        check("reader: getAllInstances sees the writer's instances", () -> {
            List<Instance> all = reader.getAllInstances(service, GROUP, false);
            expect(endpoints(all).equals(List.of("10.4.0.1:8080", "10.4.0.2:8080")), "listed " + endpoints(all));
        });
        check("reader: subscribe, and be told of the writer's deregistration", () -> {
            reader.subscribe(service, GROUP, readerEvents);
            readerEvents.awaitLast(List.of("10.4.0.1:8080", "10.4.0.2:8080"));
            writer.deregisterInstance(service, GROUP, instance("10.4.0.2", 8080));
            readerEvents.awaitLast(List.of("10.4.0.1:8080"));
            writerEvents.awaitLast(List.of("10.4.0.1:8080"));
        });
        check("reader: a registration is refused with 403", () -> expectRefused("the reader's registerInstance",
            NacosException.NO_RIGHT, () -> reader.registerInstance(service, GROUP, instance("10.4.0.9", 8080))));

        // No credentials.
        check("no credentials: getAllInstances is refused with 403", () -> expectRefused(
            "getAllInstances without credentials", NacosException.NO_RIGHT,
            () -> nobody.getAllInstances(service, GROUP, false)));
        check("no credentials: a registration is refused with 403", () -> expectRefused(
            "registerInstance without credentials", NacosException.NO_RIGHT,
            () -> nobody.registerInstance(service, GROUP, instance("10.4.0.8", 8080))));
        check("no credentials: subscribe is refused with 403", () -> expectRefused(
            "subscribe without credentials", NacosException.NO_RIGHT,
            () -> nobody.subscribe(service, GROUP, new Events())));
        check("no credentials: the service list is refused with 403", () -> expectRefused(
            "getServicesOfServer without credentials", NacosException.NO_RIGHT,
            () -> nobody.getServicesOfServer(1, 10, GROUP)));

        // What the refused clients tried never landed: the client's redo task retries a failed
        // registration every 3 s, so wait past two rounds of it, polling the writer's view.
        // (A deregistration in the same service ends the redo of the client's registration
        // there, so the reader tries one only after this.)
        check("the refused registrations never appear, redo retries included", () -> {
            long until = System.currentTimeMillis() + 7_000;
            while (System.currentTimeMillis() < until) {
                List<String> seen = endpoints(writer.getAllInstances(service, GROUP, false));
                expect(seen.equals(List.of("10.4.0.1:8080")), "the writer lists " + seen);
                Thread.sleep(250);
            }
        });
        check("reader: a deregistration of the writer's instance is refused with 403", () -> expectRefused(
            "the reader's deregisterInstance", NacosException.NO_RIGHT,
            () -> reader.deregisterInstance(service, GROUP, instance("10.4.0.1", 8080))));

        // A wrong password, last: failed logins count against this address.
        check("wrong password: the client starts, and getAllInstances is refused with 403", () -> {
            NamingService wrong = naming(addr, writerName, writerPassword + "-wrong");
            try {
                expectRefused("getAllInstances with a wrong password", NacosException.NO_RIGHT,
                    () -> wrong.getAllInstances(service, GROUP, false));
                expectRefused("registerInstance with a wrong password", NacosException.NO_RIGHT,
                    () -> wrong.registerInstance(service, GROUP, instance("10.4.0.7", 8080)));
            } finally {
                wrong.shutDown();
            }
        });

        check("writer: deregister the last instance", () -> {
            writer.deregisterInstance(service, GROUP, instance("10.4.0.1", 8080));
            waitUntil("an empty list", () -> {
                try {
                    return writer.getAllInstances(service, GROUP, false).isEmpty();
                } catch (NacosException e) {
                    return false;
                }
            });
        });
        writer.shutDown();
        reader.shutDown();
        nobody.shutDown();
    }

    /**
     * A client made with `props` that cannot connect: creating it succeeds (the 2.2.3 client
     * keeps reconnecting in the background), and registerInstance, getAllInstances, subscribe
     * and the service list each fail with CLIENT_DISCONNECT (-401). Shuts it down.
     */
    static void cannotConnect(String who, String service, String ip, Properties props) {
        check(who + ": cannot connect; register, getAllInstances, subscribe and the service list fail with -401", () -> {
            NamingService c = NacosFactory.createNamingService(props);
            try {
                expectRefused(who + ": registerInstance", NacosException.CLIENT_DISCONNECT,
                    () -> c.registerInstance(service, GROUP, instance(ip, 8080)));
                expectRefused(who + ": getAllInstances", NacosException.CLIENT_DISCONNECT,
                    () -> c.getAllInstances(service, GROUP, false));
                expectRefused(who + ": subscribe", NacosException.CLIENT_DISCONNECT,
                    () -> c.subscribe(service, GROUP, new Events()));
                expectRefused(who + ": getServicesOfServer", NacosException.CLIENT_DISCONNECT,
                    () -> c.getServicesOfServer(1, 10, GROUP));
            } finally {
                c.shutDown();
            }
        });
    }

    /** Seen by `witness`, a connected client: `service` has no instance and is not listed. */
    static void nothingLanded(String service, NamingService witness) {
        check("what the clients that could not connect tried never landed", () -> {
            List<String> seen = endpoints(witness.getAllInstances(service, GROUP, false));
            expect(seen.isEmpty(), service + " lists " + seen);
            List<String> services = witness.getServicesOfServer(1, 100, GROUP).getData();
            expect(!services.contains(service), "the service list names " + service + ": " + services);
        });
    }

    static void tls(String addr, String certs, String otherCerts) throws Exception {
        String ca = certs + "/ca.pem";
        plainChecks("java-tls", "tls: ", NacosFactory.createNamingService(tls(addr, ca)),
            NacosFactory.createNamingService(tls(addr, ca)));

        // A persistent instance goes over v1 HTTP: https here (-Dtls.enable=true and the CA in
        // -Dtls.client.trustCertPath, set by java_run.sh); the gRPC client lists it.
        NamingService c = NacosFactory.createNamingService(tls(addr, ca));
        String persistent = "java-tls-persistent";
        Instance p = instance("10.5.0.9", 8080);
        p.setEphemeral(false);
        check("tls: a persistent instance is registered over https, and listed over gRPC", () -> {
            c.registerInstance(persistent, GROUP, p);
            waitUntil("the persistent instance listed", () -> {
                try {
                    return endpoints(c.getAllInstances(persistent, GROUP, false)).equals(List.of("10.5.0.9:8080"));
                } catch (NacosException e) {
                    return false;
                }
            });
        });
        check("tls: the persistent instance is deregistered over https", () -> {
            c.deregisterInstance(persistent, GROUP, p);
            waitUntil("an empty list", () -> {
                try {
                    return c.getAllInstances(persistent, GROUP, false).isEmpty();
                } catch (NacosException e) {
                    return false;
                }
            });
        });

        String refused = "java-tls-refused";
        cannotConnect("a client trusting another CA", refused, "10.5.0.2", tls(addr, otherCerts + "/ca.pem"));
        cannotConnect("a client without TLS", refused, "10.5.0.3", properties(addr));
        nothingLanded(refused, c);
        c.shutDown();
    }

    static void mtls(String addr, String certs, String otherCerts) throws Exception {
        String ca = certs + "/ca.pem";
        String cert = certs + "/client.pem";
        String key = certs + "/client.key";
        plainChecks("java-mtls", "mtls: ", NacosFactory.createNamingService(tls(addr, ca, cert, key)),
            NacosFactory.createNamingService(tls(addr, ca, cert, key)));

        String refused = "java-mtls-refused";
        cannotConnect("a client without a certificate", refused, "10.6.0.2", tls(addr, ca));
        // OTHER_CERTS' client certificate: its CA has the same name as CERTS' (cert_gen names
        // every CA alike), so the client presents it where the server asks for that CA's.
        // (CERTS/stranger.pem, whose CA is named otherwise, is not even presented: the JDK key
        // manager that Netty's OpenSSL client consults picks only a certificate issued by a CA
        // the server names, so that client is the one without a certificate again.)
        cannotConnect("a client with a certificate of another CA", refused, "10.6.0.3",
            tls(addr, ca, otherCerts + "/client.pem", otherCerts + "/client.key"));
        cannotConnect("a client with the certificate, trusting another CA", refused, "10.6.0.4",
            tls(addr, otherCerts + "/ca.pem", cert, key));
        NamingService witness = NacosFactory.createNamingService(tls(addr, ca, cert, key));
        nothingLanded(refused, witness);
        witness.shutDown();
    }

    static void namespace(String addr, String namespace) throws Exception {
        Properties props = properties(addr);
        props.setProperty(PropertyKeyConst.NAMESPACE, namespace);
        NamingService a = NacosFactory.createNamingService(props);
        NamingService b = NacosFactory.createNamingService(props);
        NamingService pub = naming(addr, null, null);
        String service = "java-team";
        Events events = new Events();
        check("in " + namespace + ": register, list, subscribe and be told of a second instance", () -> {
            a.registerInstance(service, GROUP, instance("10.4.0.1", 8080));
            List<Instance> all = b.getAllInstances(service, GROUP, false);
            expect(endpoints(all).equals(List.of("10.4.0.1:8080")), "listed " + endpoints(all));
            b.subscribe(service, GROUP, events);
            events.awaitLast(List.of("10.4.0.1:8080"));
            a.registerInstance(service, GROUP, instance("10.4.0.2", 8080));
            events.awaitLast(List.of("10.4.0.1:8080", "10.4.0.2:8080"));
            ListView<String> page = b.getServicesOfServer(1, 10, GROUP);
            expect(page.getData().equals(List.of(service)), "services " + page.getData());
        });
        check("a client of public sees nothing of " + namespace, () -> {
            expect(pub.getAllInstances(service, GROUP, false).isEmpty(), "public lists instances of " + service);
            ListView<String> page = pub.getServicesOfServer(1, 10, GROUP);
            expect(!page.getData().contains(service), "public's services " + page.getData());
        });
        // A persistent instance: a write through the control plane's log on this server.
        String persistent = "java-team-db";
        Instance p = instance("10.4.0.9", 5432);
        p.setEphemeral(false);
        check("in " + namespace + ": a persistent instance is registered, listed, and deregistered", () -> {
            a.registerInstance(persistent, GROUP, p);
            waitUntil("the persistent instance listed", () -> {
                try {
                    return endpoints(b.getAllInstances(persistent, GROUP, false)).equals(List.of("10.4.0.9:5432"));
                } catch (NacosException e) {
                    return false;
                }
            });
            a.deregisterInstance(persistent, GROUP, p);
            waitUntil("an empty list", () -> {
                try {
                    return b.getAllInstances(persistent, GROUP, false).isEmpty();
                } catch (NacosException e) {
                    return false;
                }
            });
        });
        a.shutDown();
        b.shutDown();
        pub.shutDown();
    }

    static void provider(String addr, String service, String ip) throws Exception {
        NamingService naming = naming(addr, null, null);
        Instance i = instance(ip, 8080);
        i.setMetadata(Collections.singletonMap("who", "java-provider"));
        naming.registerInstance(service, GROUP, i);
        System.out.println("REGISTERED");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }

    public static void main(String[] args) {
        String mode = args.length > 0 ? args[0] : "";
        if (mode.equals("provider") && args.length == 4) {
            try {
                provider(args[1], args[2], args[3]);
            } catch (Throwable e) {
                e.printStackTrace(System.out);
            }
            Runtime.getRuntime().halt(1);
        }
        boolean tlsMode = mode.equals("tls") || mode.equals("mtls");
        boolean namespaceMode = mode.equals("namespace") && args.length == 3;
        if (!(args.length == 2 && (mode.equals("plain") || mode.equals("auth"))) && !(args.length == 4 && tlsMode)
                && !namespaceMode) {
            System.err.println("usage: java NacreInterop plain|auth HOST:PORT");
            System.err.println("       java NacreInterop tls|mtls HOST:PORT CERTS OTHER_CERTS");
            System.err.println("       java NacreInterop namespace HOST:PORT NAMESPACE");
            System.exit(2);
        }
        try {
            switch (mode) {
                case "plain":
                    plain(args[1]);
                    break;
                case "auth":
                    auth(args[1]);
                    break;
                case "tls":
                    tls(args[1], args[2], args[3]);
                    break;
                case "namespace":
                    namespace(args[1], args[2]);
                    break;
                default:
                    mtls(args[1], args[2], args[3]);
                    break;
            }
        } catch (Throwable e) {
            failed++;
            System.out.println("FAIL the run itself: " + e);
            e.printStackTrace(System.out);
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        // The client's executors are not all daemon threads: leave without waiting for them.
        Runtime.getRuntime().halt(failed == 0 ? 0 : 1);
    }
}
