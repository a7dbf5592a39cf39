package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// connSeen records every broker address a kgo client connected to: the address metadata
// gave it (what the proxy rewrote) and the socket's remote address.
type connSeen struct {
	mu sync.Mutex
	s  *summary
}

func (c *connSeen) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, conn net.Conn, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.sawBroker(meta.Host, meta.Port)
	if err == nil && conn != nil {
		c.s.sawBrokerAddr(conn.RemoteAddr().String())
	}
}

// baseOpts: the options every kgo client here starts from: the seed brokers, the client id,
// and a logger on stderr at warn level, debug with --debug.
func baseOpts(bootstrap, clientID string, debug bool) []kgo.Opt {
	level := kgo.LogLevelWarn
	if debug {
		level = kgo.LogLevelDebug
	}
	return []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID(clientID),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, nil)),
	}
}

// runFranz: kadm creates the topic and reports brokers and leaders; kgo's default producer
// (idempotent, acks=all) produces; kgo group consumers consume, commit and resume.
func runFranz(o options, s *summary) error {
	ctx := context.Background()
	base := append(baseOpts(o.bootstrap, "sg-franz", o.debug), kgo.WithHooks(&connSeen{s: s}))
	// kadm answers Metadata from kgo's cache for MetadataMinAge (5 s by default), errors
	// included: a broker that has not yet applied the new topic (KRaft propagates it within
	// milliseconds) answers UNKNOWN_TOPIC_OR_PARTITION, and the wait for leaders below would
	// see that answer for 5 s. Seen here in about 1 run in 20.
	admClient, err := kgo.NewClient(append(base, kgo.MetadataMinAge(100*time.Millisecond))...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admClient)
	defer adm.Close()

	tctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if _, err := adm.CreateTopic(tctx, int32(o.partitions), int16(o.replication), nil, o.topic); err != nil {
		return fmt.Errorf("creating topic %s: %w", o.topic, err)
	}
	progress("created topic %s (%d partitions, replication factor %d)", o.topic, o.partitions, o.replication)
	if err := franzLeaders(tctx, adm, o, s); err != nil {
		return err
	}
	brokers, err := adm.ListBrokers(tctx)
	if err != nil {
		return fmt.Errorf("listing brokers: %w", err)
	}
	for _, b := range brokers {
		s.sawBroker(b.Host, b.Port)
	}
	progress("kadm lists %d brokers, leaders %v", len(brokers), s.Leaders)

	if err := franzProduce(ctx, base, o, s, 1, o.records); err != nil {
		return err
	}
	if err := franzConsume(ctx, base, o, s, 1); err != nil {
		return err
	}
	committed1, err := franzCheckCommitted(ctx, adm, o, s, "after the first session")
	if err != nil {
		return err
	}
	if err := franzProduce(ctx, base, o, s, 2, o.more); err != nil {
		return err
	}
	if err := franzConsume(ctx, base, o, s, 2); err != nil {
		return err
	}
	s.checkResume(committed1)
	if _, err := franzCheckCommitted(ctx, adm, o, s, "after the second session"); err != nil {
		return err
	}
	// FindCoordinator names the coordinator for either group protocol; the describe call
	// differs: classic DescribeGroups answers GROUP_ID_NOT_FOUND for a KIP-848 group (the
	// broker does so directly too), which ConsumerGroupDescribe describes.
	coordinator, ok := adm.FindGroupCoordinators(tctx, o.group)[o.group]
	if !ok || coordinator.Err != nil {
		return fmt.Errorf("finding the coordinator of %s: %v", o.group, coordinator.Err)
	}
	addr := fmt.Sprintf("%s:%d", coordinator.Host, coordinator.Port)
	s.Coordinators = append(s.Coordinators, addr)
	s.sawBrokerAddr(addr)
	var state string
	var describedBy string
	if o.groupProtocol == "consumer" {
		groups, err := adm.DescribeConsumerGroups(tctx, o.group)
		g, found := groups[o.group]
		if err != nil || !found || g.Err != nil {
			return fmt.Errorf("describing consumer group %s: %v %v", o.group, err, g.Err)
		}
		state, describedBy = g.State, fmt.Sprintf("%s:%d", g.Coordinator.Host, g.Coordinator.Port)
	} else {
		groups, err := adm.DescribeGroups(tctx, o.group)
		g, found := groups[o.group]
		if err != nil || !found || g.Err != nil {
			return fmt.Errorf("describing group %s: %v %v", o.group, err, g.Err)
		}
		state, describedBy = g.State, fmt.Sprintf("%s:%d", g.Coordinator.Host, g.Coordinator.Port)
	}
	s.sawBrokerAddr(describedBy)
	progress("group %s (%s protocol): state %s, coordinator %s (described by %s)", o.group, o.groupProtocol, state, addr, describedBy)
	return nil
}

// franzLeaders waits until every partition has a leader, then records them.
func franzLeaders(ctx context.Context, adm *kadm.Client, o options, s *summary) error {
	for attempt := 0; ; attempt++ {
		md, err := adm.Metadata(ctx, o.topic)
		if attempt%5 == 1 {
			// Once a second while waiting: what the metadata said, for a slow run's log.
			td := md.Topics[o.topic]
			progress("waiting for leaders of %s: error %v, topic error %v, %d partitions", o.topic, err, td.Err, len(td.Partitions))
		}
		if err == nil {
			td := md.Topics[o.topic]
			ready := td.Err == nil && len(td.Partitions) == o.partitions
			for _, p := range td.Partitions {
				ready = ready && p.Leader >= 0
			}
			if ready {
				addr := map[int32]string{}
				for _, b := range md.Brokers {
					addr[b.NodeID] = fmt.Sprintf("%s:%d", b.Host, b.Port)
					s.sawBroker(b.Host, b.Port)
				}
				for p := 0; p < o.partitions; p++ {
					leader := td.Partitions[int32(p)].Leader
					s.LeaderIDs = append(s.LeaderIDs, leader)
					s.Leaders = append(s.Leaders, addr[leader])
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions of %s have no leaders (last error: %v)", o.topic, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func franzProduce(ctx context.Context, base []kgo.Opt, o options, s *summary, phase, n int) error {
	// acks=all and idempotence are kgo's defaults; acks is spelled out because the test
	// depends on it.
	opts := append(base,
		kgo.DefaultProduceTopic(o.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	if codec, ok := codecs[o.compression]; ok {
		opts = append(opts, kgo.ProducerBatchCompression(codec))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	started := time.Now()
	for i := 0; i < n; i++ {
		key, value := record(phase, i)
		s.ledger.handedToProducer(1)
		cl.Produce(pctx, &kgo.Record{Key: key, Value: value}, func(r *kgo.Record, err error) {
			s.ledger.ack(string(r.Value), r.Partition, r.Offset, err)
		})
	}
	if err := cl.Flush(pctx); err != nil {
		return fmt.Errorf("flushing phase %d: %w", phase, err)
	}
	id, epoch, err := cl.ProducerID(pctx)
	if err != nil {
		return fmt.Errorf("producer id: %w", err)
	}
	// kgo only sends a producer id when it is idempotent; -1 would mean it fell back.
	s.Idempotent = id >= 0
	if o.compression == "" {
		s.Compression = "snappy (kgo default)"
	}
	progress("phase %d: %d records acknowledged of %d in %s (producer id %d epoch %d)",
		phase, s.ledger.ackedCount(phase), n, time.Since(started).Round(time.Millisecond), id, epoch)
	return nil
}

// franzConsume runs one group session until every acknowledged record of phase `session`
// has been delivered, commits what it polled, and leaves the group.
func franzConsume(ctx context.Context, base []kgo.Opt, o options, s *summary, session int) error {
	opts := append(base,
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(o.topic),
		// Commits are explicit so that "committed" means exactly what this session polled.
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if o.groupProtocol == "consumer" {
		// KIP-848 needs a balancer the broker implements (range or uniform/sticky).
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close() // leaves the group
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	started := time.Now()
	for !s.ledger.phaseDone(session) {
		fetches := cl.PollFetches(cctx)
		if cctx.Err() != nil {
			s.fail("session %d: timed out after %s with %s records delivered", session, o.timeout, s.ledger.progressOf(session))
			break
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.fail("session %d: fetch error on %s/%d: %v", session, t, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			s.ledger.deliver(session, string(r.Value), r.Partition, r.Offset)
		})
	}
	commitCtx, cancelCommit := context.WithTimeout(ctx, o.timeout)
	defer cancelCommit()
	if err := cl.CommitUncommittedOffsets(commitCtx); err != nil {
		return fmt.Errorf("session %d: committing: %w", session, err)
	}
	progress("session %d: %s records of phase %d delivered and committed in %s",
		session, s.ledger.progressOf(session), session, time.Since(started).Round(time.Millisecond))
	return nil
}

// franzCheckCommitted reads the group's committed offsets and the end offsets; once a
// session has committed everything it polled they must be equal. Sums go to the summary.
func franzCheckCommitted(ctx context.Context, adm *kadm.Client, o options, s *summary, when string) (map[int32]int64, error) {
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	committed, err := adm.FetchOffsets(cctx, o.group)
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets %s: %w", when, err)
	}
	ends, err := adm.ListEndOffsets(cctx, o.topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets %s: %w", when, err)
	}
	out := map[int32]int64{}
	s.Committed, s.EndOffsets = 0, 0
	for p := int32(0); p < int32(o.partitions); p++ {
		end, ok := ends.Lookup(o.topic, p)
		if !ok || end.Err != nil {
			return nil, fmt.Errorf("no end offset for partition %d %s: %v", p, when, end.Err)
		}
		c, ok := committed.Lookup(o.topic, p)
		at := int64(0)
		if ok && c.Err == nil {
			at = c.At
			out[p] = at
		}
		s.Committed += at
		s.EndOffsets += end.Offset
		if at != end.Offset {
			s.fail("partition %d %s: committed %d, end offset %d", p, when, at, end.Offset)
		}
	}
	progress("committed offsets %s: %v (sum %d, end offsets sum %d)", when, out, s.Committed, s.EndOffsets)
	return out, nil
}
