package dev.schemagate.tests;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.ElectionNotNeededException;

/**
 * `elect-leaders`: a preferred-leader election on every partition of a topic (created first
 * when `--create-partitions N` is given), with each partition's outcome and its leader before
 * and after.
 */
final class ElectLeaders {
    private ElectLeaders() {}

    static Map<String, Object> run(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        int create = args.getInt("create-partitions", 0);
        args.checkAllUsed();

        Set<String> brokers = new TreeSet<>();
        Map<String, Object> s = Json.object();
        try (Admin admin = Common.admin(bootstrap, topic + "-elect")) {
            TopicDescription before = create > 0
                    ? Common.createTopic(admin, topic, create, (short) 3)
                    : Common.describe(admin, topic);
            Common.addAddresses(brokers, before);
            Set<TopicPartition> tps = new HashSet<>();
            for (TopicPartitionInfo p : before.partitions()) {
                tps.add(new TopicPartition(topic, p.partition()));
            }
            Map<TopicPartition, Optional<Throwable>> result = admin
                    .electLeaders(ElectionType.PREFERRED, tps)
                    .partitions()
                    .get(Common.TIMEOUT_MS, TimeUnit.MILLISECONDS);
            TopicDescription after = Common.describe(admin, topic);
            Common.addAddresses(brokers, after);
            brokers.addAll(Common.clusterAddresses(admin));

            Map<Integer, TopicPartitionInfo> afterByPartition = new java.util.HashMap<>();
            for (TopicPartitionInfo a : after.partitions()) afterByPartition.put(a.partition(), a);
            int elected = 0;
            int notNeeded = 0;
            int failed = 0;
            List<Object> rows = new java.util.ArrayList<>();
            for (TopicPartitionInfo p : before.partitions()) {
                TopicPartition tp = new TopicPartition(topic, p.partition());
                Optional<Throwable> r = result.getOrDefault(tp,
                        Optional.of(new IllegalStateException("no result for " + tp)));
                String outcome;
                if (r.isEmpty()) {
                    outcome = "elected";
                    elected++;
                } else if (r.get() instanceof ElectionNotNeededException) {
                    outcome = "not-needed";
                    notNeeded++;
                } else {
                    outcome = r.get().getClass().getName() + ": " + r.get().getMessage();
                    failed++;
                }
                TopicPartitionInfo a = afterByPartition.get(p.partition());
                Map<String, Object> row = Json.object();
                row.put("partition", p.partition());
                row.put("preferred", p.replicas().get(0).id());
                row.put("leader_before", p.leader() == null ? -1 : p.leader().id());
                row.put("leader_after", a.leader() == null ? -1 : a.leader().id());
                row.put("result", outcome);
                rows.add(row);
                Common.log("partition " + p.partition() + ": " + outcome);
            }
            s.put("topic", topic);
            s.put("elected", elected);
            s.put("not_needed", notNeeded);
            s.put("failed", failed);
            s.put("partitions", rows);
        }
        s.put("brokers", Common.list(brokers));
        return s;
    }
}
