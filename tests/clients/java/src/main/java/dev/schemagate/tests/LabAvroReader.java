package dev.schemagate.tests;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The lab matrix's Java reader (protocol in loadgen/src/lab/readers.rs): kafka-clients reads
 * partition 0 from the start; each record's writer schema comes from the registry
 * (`/schemas/ids/{id}/schema`) and Avro 1.12's GenericDatumReader(writer, reader) decodes it.
 *
 * <pre>LabAvroReader --bootstrap B --topic T --registry URL --expect N --job ID=READER.avsc ...</pre>
 */
public final class LabAvroReader {
    private LabAvroReader() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> opts = new HashMap<>();
        List<String> jobs = new ArrayList<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            if (argv[i].equals("--job")) jobs.add(argv[i + 1]);
            else opts.put(argv[i].substring(2), argv[i + 1]);
        }
        String registry = opts.get("registry").replaceAll("/+$", "");
        List<byte[]> values = readAll(opts.get("bootstrap"), opts.get("topic"),
                Integer.parseInt(opts.get("expect")));
        HttpClient http = HttpClient.newHttpClient();
        Map<Integer, Schema> writers = new HashMap<>();
        List<Object> out = new ArrayList<>();
        for (String job : jobs) {
            int eq = job.indexOf('=');
            int id = Integer.parseInt(job.substring(0, eq));
            String path = job.substring(eq + 1);
            Schema reader = new Schema.Parser().parse(Files.readString(Path.of(path)));
            Map<String, Object> res = new TreeMap<>();
            Map<String, Object> errors = new TreeMap<>();
            long records = 0, decoded = 0;
            for (byte[] v : values) {
                if (v.length < 5 || ByteBuffer.wrap(v, 1, 4).getInt() != id) continue;
                records++;
                try {
                    Schema writer = writers.get(id);
                    if (writer == null) {
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                                URI.create(registry + "/schemas/ids/" + id + "/schema")).build(),
                                HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() != 200) throw new IllegalStateException("registry " + r.statusCode() + ": " + r.body());
                        writer = new Schema.Parser().parse(r.body());
                        writers.put(id, writer);
                    }
                    GenericDatumReader<GenericRecord> datum = new GenericDatumReader<>(writer, reader);
                    BinaryDecoder d = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, null);
                    datum.read(null, d);
                    if (!d.isEnd()) throw new IllegalStateException("trailing bytes after the datum");
                    decoded++;
                } catch (Exception e) {
                    String msg = e.getClass().getName() + ": " + e.getMessage();
                    errors.put(msg, ((Number) errors.getOrDefault(msg, 0L)).longValue() + 1);
                }
            }
            res.put("writer_id", id);
            res.put("reader_schema", path);
            res.put("records", records);
            res.put("decoded", decoded);
            res.put("errors", errors);
            out.add(res);
        }
        Map<String, Object> report = new TreeMap<>();
        report.put("jobs", out);
        System.out.println(Json.write(report));
        System.out.flush();
        System.exit(0);
    }

    private static List<byte[]> readAll(String bootstrap, String topic, int expect) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        List<byte[]> values = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 60_000;
            while (values.size() < expect && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) values.add(r.value());
            }
        }
        if (values.size() < expect) throw new IllegalStateException("read " + values.size() + " of " + expect + " from " + topic);
        return values;
    }
}
