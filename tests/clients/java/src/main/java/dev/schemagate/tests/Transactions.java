package dev.schemagate.tests;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * `transactions`: a transactional producer commits the even-numbered transactions and aborts
 * the odd ones; a read_committed consumer must see exactly the committed records, a
 * read_uncommitted one sees both.
 */
final class Transactions {
    private Transactions() {}

    static Map<String, Object> run(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        int transactions = args.getInt("transactions", 10);
        int perTransaction = args.getInt("records-per-transaction", 50);
        args.checkAllUsed();

        Set<String> brokers = new TreeSet<>();
        try (Admin admin = Common.admin(bootstrap, topic + "-admin")) {
            TopicDescription d = Common.createTopic(admin, topic, 3, (short) 3);
            Common.addAddresses(brokers, d);
            brokers.addAll(Common.clusterAddresses(admin));
        }

        Properties p = Common.props(bootstrap, topic + "-txn-producer");
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic + "-txn");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        int committed = 0;
        int aborted = 0;
        int committedTxns = 0;
        int abortedTxns = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            for (int t = 0; t < transactions; t++) {
                boolean commit = t % 2 == 0;
                String kind = commit ? "c" : "a";
                producer.beginTransaction();
                for (int i = 0; i < perTransaction; i++) {
                    producer.send(new ProducerRecord<>(topic, "k-" + t + "-" + i,
                            kind + "-" + t + "-" + i));
                }
                // Flushing first makes the aborted records really reach the log before the
                // abort marker, so read_committed has something to filter out.
                producer.flush();
                if (commit) {
                    producer.commitTransaction();
                    committed += perTransaction;
                    committedTxns++;
                } else {
                    producer.abortTransaction();
                    aborted += perTransaction;
                    abortedTxns++;
                }
            }
            Common.addAddresses(brokers, producer.partitionsFor(topic));
        }
        Common.log("transactions: " + committedTxns + " committed (" + committed + " records), "
                + abortedTxns + " aborted (" + aborted + " records)");

        Map<String, Integer> rc = readAll(bootstrap, topic, "read_committed", brokers);
        Map<String, Integer> ru = readAll(bootstrap, topic, "read_uncommitted", brokers);

        Map<String, Object> s = Json.object();
        s.put("transactions_committed", committedTxns);
        s.put("transactions_aborted", abortedTxns);
        s.put("committed", committed);
        s.put("aborted", aborted);
        s.put("seen_committed", rc.get("c"));
        s.put("seen_aborted", rc.get("a"));
        s.put("duplicates", rc.get("dup"));
        s.put("uncommitted_seen_committed", ru.get("c"));
        s.put("uncommitted_seen_aborted", ru.get("a"));
        s.put("uncommitted_duplicates", ru.get("dup"));
        s.put("brokers", Common.list(brokers));
        return s;
    }

    /**
     * Reads every partition from the start to its end offset (the last stable offset under
     * read_committed) without a group; counts values starting "c-" and "a-", and duplicates.
     */
    static Map<String, Integer> readAll(String bootstrap, String topic, String isolation,
            Set<String> brokers) throws Exception {
        Properties p = Common.props(bootstrap, topic + "-" + isolation);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Map<String, Integer> seen = new HashMap<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic)) {
                tps.add(new TopicPartition(topic, info.partition()));
            }
            Common.addAddresses(brokers, consumer.partitionsFor(topic));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> end = consumer.endOffsets(tps);
            long deadline = System.currentTimeMillis() + Common.TIMEOUT_MS;
            while (!atEnd(consumer, end)) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException(isolation + " consumer did not reach " + end);
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Common.pollTimeout())) {
                    seen.merge(r.value(), 1, Integer::sum);
                }
            }
            Common.log(isolation + ": end offsets " + end + ", " + seen.size() + " distinct values");
        }
        Map<String, Integer> counts = new HashMap<>(Map.of("c", 0, "a", 0, "dup", 0));
        for (Map.Entry<String, Integer> e : seen.entrySet()) {
            counts.merge(e.getKey().substring(0, 1), e.getValue(), Integer::sum);
            counts.merge("dup", e.getValue() - 1, Integer::sum);
        }
        return counts;
    }

    private static boolean atEnd(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) return false;
        }
        return true;
    }
}
