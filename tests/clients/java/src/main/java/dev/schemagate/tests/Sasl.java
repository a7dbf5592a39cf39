package dev.schemagate.tests;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * `sasl`: kafka-clients authenticating with PLAIN, SCRAM-SHA-256/512 or OAUTHBEARER (the
 * unsecured JWT of OAuthBearerLoginModule's default login handler) through the proxy, which
 * forwards SASL to the broker unchanged.
 *
 * <p>Options: --bootstrap --topic --mechanism --user --password [--security-protocol
 * SASL_PLAINTEXT|SASL_SSL] [--ca-file PEM] [--records N] [--seconds S]. Creates the topic,
 * produces N records with acks=all, optionally keeps producing one record every ~0.5 s for S
 * seconds on the same producer (KIP-368 re-authentication, counted by the producer's
 * successful-reauthentication-total metric), then reads the topic back and checks every
 * acknowledged record came back. A denied client is an outcome: the summary's error_kind says
 * "authentication", "authorization" or "other", and the run still exits 0.
 */
final class Sasl {
    private Sasl() {}

    /** Every wait is bounded by this, so a denied client does not hang. */
    static final long WAIT_MS = 30_000;

    static final List<String> MECHANISMS =
            List.of("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER");

    /** A run stopped on a classified error. */
    static final class Denied extends Exception {
        final String kind;

        Denied(String kind, String message, Throwable cause) {
            super(message, cause);
            this.kind = kind;
        }
    }

    static Map<String, Object> run(Args args) throws Exception {
        long t0 = System.nanoTime();
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        String mechanism = args.required("mechanism");
        String user = args.required("user");
        String password = args.get("password", "");
        String protocol = args.get("security-protocol", "SASL_PLAINTEXT");
        String caFile = args.get("ca-file", null);
        int records = args.getInt("records", 100);
        double seconds = Double.parseDouble(args.get("seconds", "0"));
        args.checkAllUsed();
        if (!MECHANISMS.contains(mechanism)) {
            throw new IllegalArgumentException("--mechanism is one of " + MECHANISMS);
        }
        if (!protocol.equals("SASL_PLAINTEXT") && !protocol.equals("SASL_SSL")) {
            throw new IllegalArgumentException("--security-protocol is SASL_PLAINTEXT or SASL_SSL");
        }
        if (protocol.equals("SASL_SSL") && caFile == null) {
            throw new IllegalArgumentException("SASL_SSL needs --ca-file");
        }
        Properties base = Common.props(bootstrap, "sg-java-sasl");
        base.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol);
        base.put(SaslConfigs.SASL_MECHANISM, mechanism);
        base.put(SaslConfigs.SASL_JAAS_CONFIG, jaas(mechanism, user, password));
        if (protocol.equals("SASL_SSL")) {
            // Trust only the given CA; hostname verification stays on (127.0.0.1 is an IP SAN).
            base.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
            base.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, caFile);
            base.put(SslConfigs.SSL_ENDPOINT_IDENTIFICATION_ALGORITHM_CONFIG, "https");
        }

        Map<String, Object> out = Json.object();
        out.put("client", "kafka-clients");
        out.put("mechanism", mechanism);
        out.put("topic", topic);
        out.put("security_protocol", protocol);
        out.put("produced", 0);
        out.put("acked", 0);
        out.put("consumed", 0);
        out.put("timed_produced", 0);
        out.put("timed_acked", 0);
        out.put("producer_connects", null);
        out.put("timed_connects", null);
        out.put("reauthentications", null);
        out.put("reauthentications_known", false);
        out.put("ok", false);
        out.put("error_kind", null);
        out.put("error", null);
        try {
            flow(base, topic, records, seconds, out);
            out.put("ok", true);
        } catch (Denied e) {
            out.put("error_kind", e.kind);
            out.put("error", e.getMessage());
            Common.log("FAIL (" + e.kind + "): " + e.getMessage());
            if (e.kind.equals("other") && e.getCause() != null) e.getCause().printStackTrace();
        }
        out.put("seconds", Math.round((System.nanoTime() - t0) / 1e8) / 10.0);
        Common.log(mechanism + ": ok " + out.get("ok") + ", produced " + out.get("produced")
                + ", acked " + out.get("acked") + ", consumed " + out.get("consumed")
                + ", reauthentications " + out.get("reauthentications"));
        return out;
    }

    /** The JAAS line for a mechanism; OAUTHBEARER uses the default (unsecured) login handler. */
    static String jaas(String mechanism, String user, String password) {
        return switch (mechanism) {
            case "PLAIN" -> "org.apache.kafka.common.security.plain.PlainLoginModule required username="
                    + quote(user) + " password=" + quote(password) + ";";
            case "OAUTHBEARER" -> "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
                    + " required unsecuredLoginStringClaim_sub=" + quote(user) + ";";
            default -> "org.apache.kafka.common.security.scram.ScramLoginModule required username="
                    + quote(user) + " password=" + quote(password) + ";";
        };
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** The error_kind of a failure: the first authentication or authorization error in its causes. */
    static String kindOf(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            // A failed TLS handshake is an AuthenticationException too, but no SASL verdict.
            if (t instanceof SslAuthenticationException) return "other";
            if (t instanceof AuthenticationException) return "authentication";
            if (t instanceof AuthorizationException) return "authorization";
        }
        return "other";
    }

    private static Denied denied(String what, Throwable e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        return new Denied(kindOf(cause), what + ": " + chain(cause), cause);
    }

    /** An exception and its causes, "a; caused by b; ...", so the summary names the root. */
    static String chain(Throwable e) {
        StringBuilder s = new StringBuilder(String.valueOf(e));
        for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
            s.append("; caused by ").append(t);
        }
        return s.toString();
    }

    private static void flow(Properties base, String topic, int records, double seconds,
            Map<String, Object> out) throws Denied {
        Properties ap = new Properties();
        ap.putAll(base);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) WAIT_MS);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(1), Optional.empty())))
                    .all()
                    .get(WAIT_MS, TimeUnit.MILLISECONDS);
            Common.log("created " + topic);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw denied("creating " + topic, e);
        } catch (Exception e) {
            throw denied("creating " + topic, e);
        }

        String tag = UUID.randomUUID().toString().substring(0, 8);
        Set<String> acked = new HashSet<>();
        Properties pp = new Properties();
        pp.putAll(base);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) WAIT_MS);
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) WAIT_MS);
        pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            List<java.util.concurrent.Future<?>> pending = new ArrayList<>();
            List<String> values = new ArrayList<>();
            try {
                for (int i = 0; i < records; i++) {
                    String v = "b|" + tag + "|" + i;
                    pending.add(producer.send(new ProducerRecord<>(topic, v)));
                    values.add(v);
                    out.put("produced", (int) out.get("produced") + 1);
                }
                producer.flush();
                for (int i = 0; i < pending.size(); i++) {
                    pending.get(i).get(WAIT_MS, TimeUnit.MILLISECONDS);
                    acked.add(values.get(i));
                    out.put("acked", (int) out.get("acked") + 1);
                }
            } catch (Exception e) {
                throw denied("producing", e);
            }
            Common.log("batch: " + out.get("acked") + " of " + out.get("produced") + " acknowledged");
            double connects0 = metric(producer.metrics(), "connection-creation-total");
            if (seconds > 0) {
                long end = System.nanoTime() + (long) (seconds * 1e9);
                for (int i = 0; System.nanoTime() < end; i++) {
                    String v = "t|" + tag + "|" + i;
                    out.put("produced", (int) out.get("produced") + 1);
                    out.put("timed_produced", (int) out.get("timed_produced") + 1);
                    try {
                        producer.send(new ProducerRecord<>(topic, v)).get(WAIT_MS, TimeUnit.MILLISECONDS);
                    } catch (Exception e) {
                        throw denied("producing timed record " + i, e);
                    }
                    acked.add(v);
                    out.put("acked", (int) out.get("acked") + 1);
                    out.put("timed_acked", (int) out.get("timed_acked") + 1);
                    sleep(500);
                }
                out.put("timed_connects",
                        (long) (metric(producer.metrics(), "connection-creation-total") - connects0));
            }
            out.put("producer_connects", (long) metric(producer.metrics(), "connection-creation-total"));
            out.put("reauthentications",
                    (long) metric(producer.metrics(), "successful-reauthentication-total"));
            out.put("reauthentications_known", true);
            if (seconds > 0) {
                Common.log("timed phase: " + out.get("timed_acked") + " of " + out.get("timed_produced")
                        + " acknowledged, " + out.get("timed_connects") + " new connections, "
                        + out.get("reauthentications") + " re-authentications");
            }
        }

        Properties cp = new Properties();
        cp.putAll(base);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) WAIT_MS);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(topic)) {
                tps.add(new TopicPartition(topic, p.partition()));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Set<String> seen = new HashSet<>();
            long deadline = System.currentTimeMillis() + WAIT_MS;
            while (seen.size() < acked.size()) {
                if (System.currentTimeMillis() > deadline) {
                    throw new Denied("other", "consuming: " + seen.size() + " of " + acked.size()
                            + " records read back in " + WAIT_MS + " ms", null);
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Common.pollTimeout())) {
                    if (acked.contains(r.value()) && seen.add(r.value())) {
                        out.put("consumed", (int) out.get("consumed") + 1);
                    }
                }
            }
            Common.log("read back " + seen.size() + " records");
        } catch (Denied e) {
            throw e;
        } catch (Exception e) {
            throw denied("consuming", e);
        }
        if (!out.get("acked").equals(out.get("produced"))) {
            throw new Denied("other", "acked " + out.get("acked") + " of " + out.get("produced"), null);
        }
    }

    /** A client-level metric (group producer-metrics) by name; 0 when absent. */
    private static double metric(Map<MetricName, ? extends Metric> metrics, String name) {
        for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
            if (e.getKey().name().equals(name) && e.getKey().group().equals("producer-metrics")) {
                Object v = e.getValue().metricValue();
                return v instanceof Number n ? n.doubleValue() : 0;
            }
        }
        return 0;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
