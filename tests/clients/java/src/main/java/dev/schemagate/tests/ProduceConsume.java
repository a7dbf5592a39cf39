package dev.schemagate.tests;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * `produce-consume` and `consumer-protocol`: a default (idempotent, acks=all) producer, then a
 * consumer group that reads everything and commits, then more records and a second consumer
 * in the same group that must resume exactly at the committed offsets.
 */
final class ProduceConsume {
    private ProduceConsume() {}

    /** `groupProtocol` is "classic" or "consumer" (KIP-848). */
    static Map<String, Object> run(Args args, String groupProtocol) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        int records = args.getInt("records", 3000);
        int more = args.getInt("more-records", 1000);
        int partitions = args.getInt("partitions", 3);
        args.checkAllUsed();
        String group = topic + "-group";

        Set<String> brokers = new TreeSet<>();
        Map<Integer, Integer> leaders;
        try (Admin admin = Common.admin(bootstrap, topic + "-admin")) {
            TopicDescription d = Common.createTopic(admin, topic, partitions, (short) 3);
            leaders = Common.leaders(d);
            Common.addAddresses(brokers, d);
            brokers.addAll(Common.clusterAddresses(admin));
        }

        Set<String> acked = ConcurrentHashMap.newKeySet();
        List<String> sendErrors = new ArrayList<>();
        produce(bootstrap, topic, "a", records, acked, sendErrors, brokers);

        Map<String, Integer> deliveries = new HashMap<>();
        Map<TopicPartition, Long> firstSeen = new HashMap<>();
        Map<TopicPartition, Long> committed1 = new HashMap<>();
        int consumed1 = consume(bootstrap, topic, group, groupProtocol, acked, deliveries,
                firstSeen, committed1, brokers);
        Common.log("first consumer: " + consumed1 + " records, committed " + committed1);

        produce(bootstrap, topic, "b", more, acked, sendErrors, brokers);
        firstSeen.clear();
        Map<TopicPartition, Long> committed2 = new HashMap<>();
        int consumed2 = consume(bootstrap, topic, group, groupProtocol, acked, deliveries,
                firstSeen, committed2, brokers);
        Common.log("second consumer: " + consumed2 + " records, started at " + firstSeen);

        // The second consumer must start each partition exactly where the first committed.
        int resumeMismatches = 0;
        for (Map.Entry<TopicPartition, Long> e : firstSeen.entrySet()) {
            Long c = committed1.get(e.getKey());
            if (c == null || !c.equals(e.getValue())) {
                Common.log("resume mismatch on " + e.getKey() + ": first offset " + e.getValue()
                        + ", committed " + c);
                resumeMismatches++;
            }
        }

        long committedTotal = 0;
        String groupType;
        try (Admin admin = Common.admin(bootstrap, topic + "-admin2")) {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata()
                    .get(Common.TIMEOUT_MS, TimeUnit.MILLISECONDS);
            for (OffsetAndMetadata o : offsets.values()) committedTotal += o.offset();
            ConsumerGroupDescription g = admin.describeConsumerGroups(List.of(group))
                    .describedGroups()
                    .get(group)
                    .get(Common.TIMEOUT_MS, TimeUnit.MILLISECONDS);
            groupType = g.type().toString().toLowerCase();
            Common.addNodes(brokers, List.of(g.coordinator()));
        }

        int duplicates = 0;
        int unexpected = 0;
        int consumedTotal = 0;
        for (Map.Entry<String, Integer> e : deliveries.entrySet()) {
            consumedTotal += e.getValue();
            duplicates += e.getValue() - 1;
            if (!acked.contains(e.getKey())) unexpected += e.getValue();
        }
        int missing = 0;
        for (String v : acked) {
            if (!deliveries.containsKey(v)) missing++;
        }

        Map<String, Object> s = Json.object();
        s.put("group_protocol", groupProtocol);
        s.put("group_type", groupType);
        s.put("produced", records + more);
        s.put("acked", acked.size());
        s.put("send_errors", sendErrors.size());
        s.put("first_send_error", sendErrors.isEmpty() ? null : sendErrors.get(0));
        s.put("consumed", consumedTotal);
        s.put("consumed_first", consumed1);
        s.put("consumed_second", consumed2);
        s.put("duplicates", duplicates);
        s.put("missing", missing);
        s.put("unexpected", unexpected);
        s.put("resumed_partitions", firstSeen.size());
        s.put("resume_mismatches", resumeMismatches);
        s.put("committed_total", committedTotal);
        s.put("committed_after_first", byPartition(committed1));
        s.put("leaders", Common.list(leaders.values()));
        s.put("brokers", Common.list(brokers));
        return s;
    }

    /** Sends `count` records with the producer's defaults; `acked` gets every acknowledged value. */
    static void produce(String bootstrap, String topic, String phase, int count, Set<String> acked,
            List<String> errors, Set<String> brokers) throws Exception {
        Properties p = Common.props(bootstrap, topic + "-producer-" + phase);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        AtomicInteger ok = new AtomicInteger();
        long t0 = System.nanoTime();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < count; i++) {
                String value = topic + "-" + phase + "-" + i;
                producer.send(new ProducerRecord<>(topic, "k-" + phase + "-" + i, value), (md, e) -> {
                    if (e == null) {
                        acked.add(value);
                        ok.incrementAndGet();
                    } else {
                        synchronized (errors) {
                            errors.add(e.getClass().getName() + ": " + e.getMessage());
                        }
                    }
                });
            }
            producer.flush();
            Common.addAddresses(brokers, producer.partitionsFor(topic));
        }
        Common.log("produced " + count + " (" + ok.get() + " acknowledged) in "
                + (System.nanoTime() - t0) / 1_000_000 + " ms");
    }

    /**
     * One consumer in `group` reads until it has every acknowledged value it has not seen yet,
     * then a little longer (to catch re-deliveries), commits and leaves. Returns the records it
     * got; `firstSeen` gets the first offset per partition, `committed` what it committed.
     */
    static int consume(String bootstrap, String topic, String group, String protocol,
            Set<String> acked, Map<String, Integer> deliveries,
            Map<TopicPartition, Long> firstSeen, Map<TopicPartition, Long> committed,
            Set<String> brokers) throws Exception {
        Properties p = Common.props(bootstrap, group + "-consumer");
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        int got = 0;
        long t0 = System.nanoTime();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + Common.TIMEOUT_MS;
            long graceUntil = Long.MAX_VALUE;
            while (System.currentTimeMillis() < Math.min(deadline, graceUntil)) {
                for (ConsumerRecord<String, String> r : consumer.poll(Common.pollTimeout())) {
                    got++;
                    deliveries.merge(r.value(), 1, Integer::sum);
                    firstSeen.putIfAbsent(new TopicPartition(r.topic(), r.partition()), r.offset());
                }
                if (graceUntil == Long.MAX_VALUE && deliveries.keySet().containsAll(acked)) {
                    // Everything is here; a second more shows re-deliveries, if any.
                    graceUntil = System.currentTimeMillis() + 1000;
                }
            }
            if (graceUntil == Long.MAX_VALUE) {
                Common.log("timed out with " + got + " records this run");
            }
            consumer.commitSync();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e
                    : consumer.committed(consumer.assignment()).entrySet()) {
                if (e.getValue() != null) committed.put(e.getKey(), e.getValue().offset());
            }
            Common.addAddresses(brokers, consumer.partitionsFor(topic));
        }
        Common.log("consumed " + got + " in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        return got;
    }

    /** Offsets keyed "topic-partition", for the summary. */
    static Map<String, Long> byPartition(Map<TopicPartition, Long> m) {
        Map<String, Long> out = new TreeMap<>();
        m.forEach((tp, o) -> out.put(tp.toString(), o));
        return out;
    }
}
