package dev.schemagate.tests;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * `admin`: AdminClient calls whose answers carry broker addresses or must be routed to one
 * particular broker: createTopics, describeTopics, describeCluster, listOffsets and
 * describeConfigs (a broker's configs are asked of that broker itself).
 */
final class AdminScenario {
    private AdminScenario() {}

    static Map<String, Object> run(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String prefix = args.required("topic");
        int partitions = args.getInt("partitions", 6);
        int records = args.getInt("records", 5);
        args.checkAllUsed();
        long t = Common.TIMEOUT_MS;
        TimeUnit ms = TimeUnit.MILLISECONDS;

        Set<String> brokers = new TreeSet<>();
        Map<String, Object> s = Json.object();
        try (Admin admin = Common.admin(bootstrap, prefix + "-admin")) {
            List<String> topics = List.of(prefix + "-a", prefix + "-b");
            Set<Integer> rfs = new TreeSet<>();
            Set<Integer> leaderIds = new TreeSet<>();
            int partitionCount = 0;
            for (String topic : topics) {
                Common.createTopic(admin, topic, partitions, (short) 3);
                TopicDescription d = Common.describe(admin, topic);
                Common.addAddresses(brokers, d);
                for (TopicPartitionInfo p : d.partitions()) {
                    rfs.add(p.replicas().size());
                    leaderIds.add(p.leader().id());
                    partitionCount++;
                }
            }
            Set<String> listed = admin.listTopics().names().get(t, ms);

            DescribeClusterResult cluster = admin.describeCluster();
            List<Integer> nodeIds = new ArrayList<>();
            List<String> nodeAddresses = new ArrayList<>();
            for (Node n : cluster.nodes().get(t, ms)) {
                nodeIds.add(n.id());
                nodeAddresses.add(Common.address(n));
            }
            nodeIds.sort(null);
            brokers.addAll(nodeAddresses);
            Node controller = cluster.controller().get(t, ms);
            Common.addNodes(brokers, List.of(controller));
            String clusterId = cluster.clusterId().get(t, ms);
            Common.log("cluster " + clusterId + ": nodes " + nodeAddresses + ", controller "
                    + controller);

            // A few records on partition 0, so earliest and latest differ by exactly that many.
            String topic = topics.get(0);
            Properties p = Common.props(bootstrap, prefix + "-producer");
            p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                for (int i = 0; i < records; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i)).get(t, ms);
                }
            }
            TopicPartition tp0 = new TopicPartition(topic, 0);
            ListOffsetsResultInfo earliest = admin.listOffsets(Map.of(tp0, OffsetSpec.earliest()))
                    .partitionResult(tp0).get(t, ms);
            ListOffsetsResultInfo latest = admin.listOffsets(Map.of(tp0, OffsetSpec.latest()))
                    .partitionResult(tp0).get(t, ms);
            // Every partition's latest offset, so each leader answers a ListOffsets.
            Map<TopicPartition, OffsetSpec> all = new HashMap<>();
            for (int i = 0; i < partitions; i++) all.put(new TopicPartition(topic, i), OffsetSpec.latest());
            long latestSum = 0;
            for (ListOffsetsResultInfo info : admin.listOffsets(all).all().get(t, ms).values()) {
                latestSum += info.offset();
            }

            ConfigResource topicRes = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            ConfigResource brokerRes = new ConfigResource(ConfigResource.Type.BROKER,
                    Integer.toString(nodeIds.get(0)));
            Map<ConfigResource, Config> configs = admin
                    .describeConfigs(List.of(topicRes, brokerRes)).all().get(t, ms);
            Config topicConfig = configs.get(topicRes);
            Config brokerConfig = configs.get(brokerRes);

            s.put("topics_created", topics.size());
            s.put("topics_listed", (int) topics.stream().filter(listed::contains).count());
            s.put("partitions", partitionCount);
            s.put("replication_factors", Common.list(rfs));
            s.put("leader_ids", Common.list(leaderIds));
            s.put("node_ids", nodeIds);
            s.put("controller_id", controller.id());
            s.put("cluster_id", clusterId);
            s.put("records", records);
            s.put("earliest", earliest.offset());
            s.put("latest", latest.offset());
            s.put("latest_sum", latestSum);
            s.put("topic_config_entries", topicConfig.entries().size());
            s.put("topic_min_insync_replicas", value(topicConfig, "min.insync.replicas"));
            s.put("topic_cleanup_policy", value(topicConfig, "cleanup.policy"));
            s.put("broker_config_id", brokerRes.name());
            s.put("broker_config_entries", brokerConfig.entries().size());
            s.put("broker_default_replication_factor",
                    value(brokerConfig, "default.replication.factor"));
            s.put("broker_node_id", value(brokerConfig, "node.id"));
        }
        s.put("brokers", Common.list(brokers));
        return s;
    }

    private static String value(Config config, String name) {
        ConfigEntry e = config.get(name);
        return e == null ? null : e.value();
    }
}
