package dev.schemagate.tests;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * `seq-load`: the producer of the idempotent-quarantine proof. With the Java client's default
 * config (idempotent, acks=all), it sends `--count` records paced at `--rate` per second; the
 * key of record i is its decimal index, the value a framed Avro string ("good-i") under
 * `--schema-id`, except for the indexes listed in `--bad-file`, whose value is unframed
 * ("bad-i"). The summary reports acknowledged and failed records with the failed indexes and
 * errors by kind. The client's own log (slf4j-simple, on stderr) is where the test looks for
 * OUT_OF_ORDER_SEQUENCE_NUMBER, fencing and fatal errors.
 *
 * <p>With `--transactional N` the producer is transactional: records go in transactions of N,
 * each flushed before it ends (so its records reach the log), and every third transaction
 * (t % 3 == 2) is aborted, the others committed.
 */
final class SeqLoad {
    private SeqLoad() {}

    static Map<String, Object> run(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        int count = args.getInt("count", 20000);
        int schemaId = args.getInt("schema-id", 1);
        int rate = args.getInt("rate", 2000);
        Set<Integer> bad = readBad(args.required("bad-file"));
        int txnSize = args.getInt("transactional", 0);
        args.checkAllUsed();

        Properties p = Common.props(bootstrap, topic + "-seq-load");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (txnSize > 0) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic + "-txn");
        int committedTxns = 0;
        int abortedTxns = 0;
        AtomicInteger acked = new AtomicInteger();
        ConcurrentLinkedQueue<Integer> failed = new ConcurrentLinkedQueue<>();
        Map<String, Integer> errors = new TreeMap<>();
        long start = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            if (txnSize > 0) producer.initTransactions();
            for (int i = 0; i < count; i++) {
                if (txnSize > 0 && i % txnSize == 0) producer.beginTransaction();
                pace(start, i, rate);
                final int index = i;
                byte[] key = Integer.toString(i).getBytes(StandardCharsets.UTF_8);
                producer.send(new ProducerRecord<>(topic, key, value(i, schemaId, bad.contains(i))),
                        (meta, e) -> {
                            if (e == null) {
                                acked.incrementAndGet();
                            } else {
                                failed.add(index);
                                System.err.println("[seq-load] record " + index + " failed: " + e);
                                synchronized (errors) {
                                    errors.merge(e.getClass().getSimpleName(), 1, Integer::sum);
                                }
                            }
                        });
                if (txnSize > 0 && (i % txnSize == txnSize - 1 || i == count - 1)) {
                    producer.flush();
                    if ((i / txnSize) % 3 == 2) {
                        producer.abortTransaction();
                        abortedTxns++;
                    } else {
                        producer.commitTransaction();
                        committedTxns++;
                    }
                }
            }
            producer.flush();
        }
        List<Integer> failedList = new ArrayList<>(failed);
        failedList.sort(null);
        Map<String, Object> s = Json.object();
        s.put("client", "java");
        s.put("sent", count);
        s.put("acked", acked.get());
        s.put("failed", failedList.size());
        s.put("failed_indexes", failedList);
        s.put("errors", errors);
        if (txnSize > 0) {
            s.put("transaction_size", txnSize);
            s.put("transactions_committed", committedTxns);
            s.put("transactions_aborted", abortedTxns);
        }
        return s;
    }

    /** Sleeps until record i is due at `rate` records per second. */
    static void pace(long start, int i, int rate) throws InterruptedException {
        long due = start + (long) i * 1_000_000_000L / rate;
        long wait = due - System.nanoTime();
        if (wait > 1_000_000) Thread.sleep(wait / 1_000_000);
    }

    static byte[] value(int i, int schemaId, boolean bad) {
        if (bad) return ("bad-" + i).getBytes(StandardCharsets.UTF_8);
        byte[] text = ("good-" + i).getBytes(StandardCharsets.UTF_8);
        // Avro string: zig-zag varint length (always < 64 here, so one byte), then the bytes.
        byte[] out = new byte[5 + 1 + text.length];
        out[0] = 0;
        out[1] = (byte) (schemaId >>> 24);
        out[2] = (byte) (schemaId >>> 16);
        out[3] = (byte) (schemaId >>> 8);
        out[4] = (byte) schemaId;
        out[5] = (byte) (text.length << 1);
        System.arraycopy(text, 0, out, 6, text.length);
        return out;
    }

    static Set<Integer> readBad(String file) throws Exception {
        Set<Integer> out = new HashSet<>();
        for (String line : Files.readAllLines(Path.of(file))) {
            if (!line.isBlank()) out.add(Integer.parseInt(line.trim()));
        }
        return out;
    }
}
