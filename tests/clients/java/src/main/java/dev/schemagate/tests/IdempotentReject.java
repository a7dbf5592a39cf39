package dev.schemagate.tests;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * `idempotent-reject`: a producer with the default (idempotent) config sends the given values
 * and reports each send's outcome, so a test against an enforcing proxy can see whether
 * batches after a refused one still succeed. Values come one per line from `--values-file`
 * (`-` for stdin), hex by default or base64 with `--encoding base64`; `--flush-after` is
 * `all` (every record its own batch), `none`, or a comma list of indexes to flush after.
 */
final class IdempotentReject {
    private IdempotentReject() {}

    static Map<String, Object> run(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        String file = args.required("values-file");
        String encoding = args.get("encoding", "hex");
        String flushAfter = args.get("flush-after", "all");
        int partition = args.getInt("partition", 0);
        int create = args.getInt("create-partitions", 0);
        long waitMs = Long.parseLong(args.get("wait-ms", "60000"));
        args.checkAllUsed();

        List<byte[]> values = readValues(file, encoding);
        Set<Integer> flushAt = new HashSet<>();
        boolean flushAll = flushAfter.equals("all");
        if (!flushAll && !flushAfter.equals("none")) {
            for (String i : flushAfter.split(",")) flushAt.add(Integer.parseInt(i.trim()));
        }

        Set<String> brokers = new TreeSet<>();
        if (create > 0) {
            try (Admin admin = Common.admin(bootstrap, topic + "-admin")) {
                Common.addAddresses(brokers, Common.createTopic(admin, topic, create, (short) 3));
            }
        }

        Properties p = Common.props(bootstrap, topic + "-idempotent");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        List<Object> results = new ArrayList<>();
        int ok = 0;
        int failed = 0;
        int okAfterFirstFailure = 0;
        String firstError = null;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < values.size(); i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, partition, null, values.get(i))));
                if (flushAll || flushAt.contains(i)) producer.flush();
            }
            producer.flush();
            for (int i = 0; i < futures.size(); i++) {
                Map<String, Object> row = Json.object();
                row.put("index", i);
                try {
                    RecordMetadata md = futures.get(i).get(waitMs, TimeUnit.MILLISECONDS);
                    row.put("ok", true);
                    row.put("partition", md.partition());
                    row.put("offset", md.offset());
                    ok++;
                    if (failed > 0) okAfterFirstFailure++;
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause() == null ? e : e.getCause();
                    String error = cause.getClass().getName() + ": " + cause.getMessage();
                    row.put("ok", false);
                    row.put("error", error);
                    failed++;
                    if (firstError == null) firstError = error;
                } catch (TimeoutException e) {
                    row.put("ok", false);
                    row.put("error", "timeout after " + waitMs + " ms");
                    failed++;
                    if (firstError == null) firstError = "timeout";
                }
                Common.log("record " + i + ": " + row);
                results.add(row);
            }
            Common.addAddresses(brokers, producer.partitionsFor(topic));
        }
        Map<String, Object> s = Json.object();
        s.put("sent", values.size());
        s.put("ok", ok);
        s.put("failed", failed);
        s.put("ok_after_first_failure", okAfterFirstFailure);
        s.put("first_error", firstError);
        s.put("results", results);
        s.put("brokers", Common.list(brokers));
        return s;
    }

    private static List<byte[]> readValues(String file, String encoding) throws Exception {
        List<String> lines;
        if (file.equals("-")) {
            BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            lines = r.lines().toList();
        } else {
            lines = Files.readAllLines(Path.of(file), StandardCharsets.UTF_8);
        }
        List<byte[]> out = new ArrayList<>();
        for (String line : lines) {
            String l = line.trim();
            out.add(switch (encoding) {
                case "hex" -> HexFormat.of().parseHex(l);
                case "base64" -> Base64.getDecoder().decode(l);
                default -> throw new IllegalArgumentException("--encoding is hex or base64");
            });
        }
        return out;
    }
}
