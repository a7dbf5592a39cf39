package dev.schemagate.tests;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartitionInfo;

/** What every scenario shares: logging, client configs, topics, and the addresses seen. */
final class Common {
    private Common() {}

    /** How long any one wait on the cluster may take before the scenario fails. */
    static final long TIMEOUT_MS = 60_000;

    /** Human progress goes to stderr; stdout carries only the summary line. */
    static void log(String message) {
        System.err.println("[java-client] " + message);
    }

    /** The bootstrap address, plus a client id naming the scenario in broker and proxy logs. */
    static Properties props(String bootstrap, String clientId) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, clientId);
        return p;
    }

    static Admin admin(String bootstrap, String clientId) {
        return Admin.create(props(bootstrap, clientId));
    }

    /**
     * Creates the topic and waits until every partition has a leader with a full ISR, so the
     * first produce does not race the controller (min.insync.replicas=2 on the test cluster).
     */
    static TopicDescription createTopic(Admin admin, String topic, int partitions, short rf)
            throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, rf)))
                .all()
                .get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        while (true) {
            try {
                TopicDescription d = describe(admin, topic);
                boolean ready = d.partitions().size() == partitions
                        && d.partitions().stream().allMatch(p -> p.leader() != null
                                && !p.leader().isEmpty()
                                && p.isr().size() == p.replicas().size());
                if (ready) {
                    log("created " + topic + ": " + partitions + " partitions, RF " + rf);
                    return d;
                }
            } catch (Exception e) {
                // UnknownTopicOrPartition until the metadata reaches the broker asked.
                if (System.currentTimeMillis() > deadline) throw e;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException(topic + " has no leader on every partition");
            }
            Thread.sleep(200);
        }
    }

    static TopicDescription describe(Admin admin, String topic) throws Exception {
        return admin.describeTopics(List.of(topic))
                .allTopicNames()
                .get(TIMEOUT_MS, TimeUnit.MILLISECONDS)
                .get(topic);
    }

    /** Partition number to leader node id, as a sorted map (the summary's `leaders`). */
    static Map<Integer, Integer> leaders(TopicDescription d) {
        Map<Integer, Integer> out = new TreeMap<>();
        for (TopicPartitionInfo p : d.partitions()) {
            out.put(p.partition(), p.leader() == null ? -1 : p.leader().id());
        }
        return out;
    }

    /** "host:port" of a node; a client connecting anywhere else would bypass the proxy. */
    static String address(Node n) {
        return n.host() + ":" + n.port();
    }

    /** Adds every node a topic description names: leaders, replicas and ISR. */
    static void addAddresses(Set<String> into, TopicDescription d) {
        for (TopicPartitionInfo p : d.partitions()) {
            if (p.leader() != null && !p.leader().isEmpty()) into.add(address(p.leader()));
            addNodes(into, p.replicas());
            addNodes(into, p.isr());
        }
    }

    /** Adds every node a producer's or consumer's own metadata names for a topic. */
    static void addAddresses(Set<String> into, Collection<PartitionInfo> partitions) {
        for (PartitionInfo p : partitions) {
            if (p.leader() != null && !p.leader().isEmpty()) into.add(address(p.leader()));
            addNodes(into, List.of(p.replicas()));
            addNodes(into, List.of(p.inSyncReplicas()));
        }
    }

    static void addNodes(Set<String> into, Collection<Node> nodes) {
        for (Node n : nodes) {
            if (n != null && !n.isEmpty()) into.add(address(n));
        }
    }

    /** Every node in describeCluster, so `brokers` is never just what one client happened to use. */
    static Set<String> clusterAddresses(Admin admin) throws Exception {
        Set<String> out = new TreeSet<>();
        addNodes(out, admin.describeCluster().nodes().get(TIMEOUT_MS, TimeUnit.MILLISECONDS));
        return out;
    }

    static Duration pollTimeout() {
        return Duration.ofMillis(500);
    }

    static List<Object> list(Collection<?> items) {
        return new ArrayList<>(items);
    }
}
