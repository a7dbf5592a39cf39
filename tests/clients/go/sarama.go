package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// saramaConfig: acks=all, idempotent (one request in flight, as sarama requires), explicit
// commits, and a protocol version Kafka 4 still serves (it removed Produce v0-2 and Fetch
// v0-3, which sarama's default V2_8_0_0 would not use either, but older settings would).
func saramaConfig(o options) (*sarama.Config, error) {
	version, err := sarama.ParseKafkaVersion(o.saramaVersion)
	if err != nil {
		return nil, err
	}
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "sg-sarama"
	cfg.Metadata.Retry.Max = 10
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Idempotent = o.idempotent
	if o.compression != "" {
		if err := cfg.Producer.Compression.UnmarshalText([]byte(o.compression)); err != nil {
			return nil, err
		}
	}
	if o.idempotent {
		cfg.Net.MaxOpenRequests = 1
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Commits are explicit so that "committed" means exactly what a session marked.
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	return cfg, cfg.Validate()
}

// runSarama: ClusterAdmin creates the topic and reports brokers and leaders; an AsyncProducer
// produces; a ConsumerGroup consumes, commits and resumes.
func runSarama(o options, s *summary) error {
	if o.debug {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	if o.groupProtocol != "classic" {
		return fmt.Errorf("sarama has no KIP-848 consumer groups (--group-protocol %s)", o.groupProtocol)
	}
	cfg, err := saramaConfig(o)
	if err != nil {
		return fmt.Errorf("sarama config: %w", err)
	}
	s.Idempotent = cfg.Producer.Idempotent
	s.Compression = cfg.Producer.Compression.String()
	progress("sarama version %s, idempotent %v", cfg.Version, cfg.Producer.Idempotent)
	addrs := []string{o.bootstrap}
	adminClient, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(adminClient)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close() }() // also closes adminClient

	err = admin.CreateTopic(o.topic, &sarama.TopicDetail{
		NumPartitions:     int32(o.partitions),
		ReplicationFactor: int16(o.replication),
	}, false)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", o.topic, err)
	}
	progress("created topic %s (%d partitions, replication factor %d)", o.topic, o.partitions, o.replication)
	if err := saramaLeaders(admin, adminClient, o, s); err != nil {
		return err
	}

	if err := saramaProduce(addrs, cfg, o, s, 1, o.records); err != nil {
		return err
	}
	if err := saramaConsume(addrs, cfg, o, s, 1); err != nil {
		return err
	}
	committed1, err := saramaCheckCommitted(admin, adminClient, o, s, "after the first session")
	if err != nil {
		return err
	}
	if err := saramaProduce(addrs, cfg, o, s, 2, o.more); err != nil {
		return err
	}
	if err := saramaConsume(addrs, cfg, o, s, 2); err != nil {
		return err
	}
	s.checkResume(committed1)
	if _, err := saramaCheckCommitted(admin, adminClient, o, s, "after the second session"); err != nil {
		return err
	}
	coordinator, err := adminClient.Coordinator(o.group)
	if err != nil {
		return fmt.Errorf("coordinator of %s: %w", o.group, err)
	}
	s.Coordinators = append(s.Coordinators, coordinator.Addr())
	s.sawBrokerAddr(coordinator.Addr())
	for _, b := range adminClient.Brokers() {
		s.sawBrokerAddr(b.Addr())
	}
	progress("group %s: coordinator %s", o.group, coordinator.Addr())
	return nil
}

// saramaLeaders waits until every partition has a leader, then records the brokers
// DescribeCluster names and each partition's leader.
func saramaLeaders(admin sarama.ClusterAdmin, client sarama.Client, o options, s *summary) error {
	deadline := time.Now().Add(o.timeout)
	for {
		brokers, _, err := admin.DescribeCluster()
		if err != nil {
			return fmt.Errorf("describing the cluster: %w", err)
		}
		addr := map[int32]string{}
		for _, b := range brokers {
			addr[b.ID()] = b.Addr()
			s.sawBrokerAddr(b.Addr())
		}
		topics, err := admin.DescribeTopics([]string{o.topic})
		ready := err == nil && len(topics) == 1 && errors.Is(topics[0].Err, sarama.ErrNoError) &&
			len(topics[0].Partitions) == o.partitions
		if ready {
			leaders := make([]int32, o.partitions)
			for _, p := range topics[0].Partitions {
				leaders[p.ID] = p.Leader
				ready = ready && p.Leader >= 0
			}
			if ready {
				for _, l := range leaders {
					s.LeaderIDs = append(s.LeaderIDs, l)
					s.Leaders = append(s.Leaders, addr[l])
				}
				// The producer and consumers have their own clients; this one's metadata
				// must know the topic too for the offset lookups later.
				if err := client.RefreshMetadata(o.topic); err != nil {
					return fmt.Errorf("refreshing metadata: %w", err)
				}
				progress("DescribeCluster lists %d brokers, leaders %v", len(brokers), s.Leaders)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partitions of %s have no leaders (last error: %v)", o.topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func saramaProduce(addrs []string, cfg *sarama.Config, o options, s *summary, phase, n int) error {
	client, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return err
	}
	started := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range producer.Successes() {
			value, _ := m.Value.Encode()
			s.ledger.ack(string(value), m.Partition, m.Offset, nil)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range producer.Errors() {
			value, _ := e.Msg.Value.Encode()
			s.ledger.ack(string(value), e.Msg.Partition, -1, e.Err)
		}
	}()
	timeout := time.After(o.timeout)
	for i := 0; i < n; i++ {
		key, value := record(phase, i)
		s.ledger.handedToProducer(1)
		select {
		case producer.Input() <- &sarama.ProducerMessage{
			Topic: o.topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(value),
		}:
		case <-timeout:
			producer.AsyncClose()
			wg.Wait()
			return fmt.Errorf("phase %d: producer input blocked for %s", phase, o.timeout)
		}
	}
	// AsyncClose flushes what is buffered, then closes Successes and Errors.
	producer.AsyncClose()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.timeout):
		return fmt.Errorf("phase %d: acknowledgements still missing after %s", phase, o.timeout)
	}
	for _, b := range client.Brokers() {
		s.sawBrokerAddr(b.Addr())
	}
	progress("phase %d: %d records acknowledged of %d in %s",
		phase, s.ledger.ackedCount(phase), n, time.Since(started).Round(time.Millisecond))
	return nil
}

// groupHandler delivers to the ledger and marks every message; the claim that completes the
// phase commits and ends the session.
type groupHandler struct {
	s       *summary
	session int
	stop    context.CancelFunc
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	progress("session %d: member %s generation %d claims %v", h.session, sess.MemberID(), sess.GenerationID(), sess.Claims())
	return nil
}

// Cleanup commits what was marked: with auto-commit off nothing else would.
func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	progress("session %d: partition %d starts at offset %d", h.session, claim.Partition(), claim.InitialOffset())
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.s.ledger.deliver(h.session, string(m.Value), m.Partition, m.Offset)
			sess.MarkMessage(m, "")
			if h.s.ledger.phaseDone(h.session) {
				sess.Commit()
				h.stop()
				return nil
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

func saramaConsume(addrs []string, cfg *sarama.Config, o options, s *summary, session int) error {
	group, err := sarama.NewConsumerGroup(addrs, o.group, cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	errs := make(chan struct{})
	go func() {
		defer close(errs)
		for err := range group.Errors() {
			s.fail("session %d: consumer group error: %v", session, err)
		}
	}()
	started := time.Now()
	handler := &groupHandler{s: s, session: session, stop: cancel}
	// Consume returns at every rebalance; the loop rejoins until the phase is complete.
	for ctx.Err() == nil && !s.ledger.phaseDone(session) {
		if err := group.Consume(ctx, []string{o.topic}, handler); err != nil && ctx.Err() == nil {
			s.fail("session %d: consume: %v", session, err)
			break
		}
	}
	if !s.ledger.phaseDone(session) {
		s.fail("session %d: stopped with %s records delivered", session, s.ledger.progressOf(session))
	}
	if err := group.Close(); err != nil { // leaves the group
		s.fail("session %d: closing the consumer group: %v", session, err)
	}
	<-errs
	progress("session %d: %s records of phase %d delivered and committed in %s",
		session, s.ledger.progressOf(session), session, time.Since(started).Round(time.Millisecond))
	return nil
}

// saramaCheckCommitted reads the group's committed offsets (OffsetFetch via ClusterAdmin) and
// the end offsets (ListOffsets); once a session has committed everything they are equal.
func saramaCheckCommitted(admin sarama.ClusterAdmin, client sarama.Client, o options, s *summary, when string) (map[int32]int64, error) {
	parts := make([]int32, o.partitions)
	for p := range parts {
		parts[p] = int32(p)
	}
	resp, err := admin.ListConsumerGroupOffsets(o.group, map[string][]int32{o.topic: parts})
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets %s: %w", when, err)
	}
	out := map[int32]int64{}
	s.Committed, s.EndOffsets = 0, 0
	for _, p := range parts {
		end, err := client.GetOffset(o.topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of partition %d %s: %w", p, when, err)
		}
		at := int64(0)
		if b := resp.GetBlock(o.topic, p); b != nil && errors.Is(b.Err, sarama.ErrNoError) && b.Offset >= 0 {
			at = b.Offset
			out[p] = at
		}
		s.Committed += at
		s.EndOffsets += end
		if at != end {
			s.fail("partition %d %s: committed %d, end offset %d", p, when, at, end)
		}
	}
	progress("committed offsets %s: %v (sum %d, end offsets sum %d)", when, out, s.Committed, s.EndOffsets)
	return out, nil
}
