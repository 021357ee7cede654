// Drives a running nacre-server with the official Nacos Java client 2.2.3 (nacos-client, the
// client Spring Cloud Alibaba and Dubbo use), over gRPC (HTTP port + 1000).
//
// Usage: java NacreInterop plain HOST:PORT
//        java NacreInterop auth HOST:PORT    (a server with --users-file; the users and their
//                                             passwords come from the environment, see below)
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

    static NamingService naming(String addr, String username, String password) throws NacosException {
        Properties props = new Properties();
        props.setProperty(PropertyKeyConst.SERVER_ADDR, addr);
        props.setProperty(PropertyKeyConst.NAMING_LOAD_CACHE_AT_START, "false");
        if (username != null) {
            props.setProperty(PropertyKeyConst.USERNAME, username);
            props.setProperty(PropertyKeyConst.PASSWORD, password);
        }
        return NacosFactory.createNamingService(props);
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
        String service = "java-plain";
        NamingService a = naming(addr, null, null);
        NamingService b = naming(addr, null, null);
        Events events = new Events();

        check("register an ephemeral instance", () -> a.registerInstance(service, GROUP, instance("10.3.0.1", 8080)));
        check("getAllInstances lists it", () -> {
            List<Instance> all = b.getAllInstances(service, GROUP, false);
            expect(endpoints(all).equals(List.of("10.3.0.1:8080")), "listed " + endpoints(all));
            expect(all.get(0).isHealthy() && all.get(0).isEnabled(), "healthy and enabled: " + all.get(0));
        });
        check("subscribe, and be told of the instance there", () -> {
            b.subscribe(service, GROUP, events);
            events.awaitLast(List.of("10.3.0.1:8080"));
        });
        check("a second instance is pushed to the subscriber", () -> {
            a.registerInstance(service, GROUP, instance("10.3.0.2", 8080));
            events.awaitLast(List.of("10.3.0.1:8080", "10.3.0.2:8080"));
        });
        check("the service list names the service", () -> {
            ListView<String> page = b.getServicesOfServer(1, 10, GROUP);
            expect(page.getCount() == 1 && page.getData().equals(List.of(service)),
                "count " + page.getCount() + ", services " + page.getData());
        });
        check("deregister one, and the subscriber is told", () -> {
            a.deregisterInstance(service, GROUP, instance("10.3.0.2", 8080));
            events.awaitLast(List.of("10.3.0.1:8080"));
            expect(endpoints(b.getAllInstances(service, GROUP, false)).equals(List.of("10.3.0.1:8080")),
                "getAllInstances after the deregistration");
        });
        check("deregister the last one", () -> {
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

    public static void main(String[] args) {
        if (args.length != 2 || !(args[0].equals("plain") || args[0].equals("auth"))) {
            System.err.println("usage: java NacreInterop plain|auth HOST:PORT");
            System.exit(2);
        }
        try {
            if (args[0].equals("plain")) {
                plain(args[1]);
            } else {
                auth(args[1]);
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
