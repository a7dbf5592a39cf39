// sgclients drives Go Kafka clients (franz-go and sarama) through schemagate's proxy for the
// integration tests in tests/tests/suite/go_clients.rs.
//
// Each subcommand creates its own topic, produces with acks=all, consumes in a consumer group,
// commits, produces more and checks that a second group session resumes at the committed
// offsets. Progress goes to stderr; the last stdout line is one JSON summary. It exits 1 when
// the summary shows a failure (and still prints the summary), 2 on bad usage.
//
//	sgclients franz  --bootstrap HOST:PORT --topic T [--group G] [--records N] [--more M]
//	                 [--group-protocol classic|consumer]
//	sgclients sarama --bootstrap HOST:PORT --topic T [--group G] [--records N] [--more M]
//	sgclients sasl   --bootstrap HOST:PORT --topic T --mechanism M --user U --password P ...
//	                 (franz-go with SASL; see sasl.go)
//	sgclients lab-avro --bootstrap HOST:PORT --topic T --registry URL --expect N --job ID=F ...
//	                 (the lab matrix's hamba/avro reader; see labavro.go)
//	sgclients lab-proto ... (the same for Protobuf: protocompile + dynamicpb; see labproto.go)
//	sgclients seqload --bootstrap HOST:PORT --topic T --bad-file F ...
//	                 (franz-go's default idempotent producer; see seqload.go)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// options are the flags every subcommand takes.
type options struct {
	bootstrap   string
	topic       string
	group       string
	records     int
	more        int
	partitions  int
	replication int
	timeout     time.Duration
	debug       bool
	// the producer's batch compression: "" keeps the library's default (kgo: snappy,
	// sarama: none); none, gzip, snappy, lz4 or zstd set it.
	compression string
	// franz only: "classic" (JoinGroup/SyncGroup, the client assigns) or "consumer" (KIP-848:
	// ConsumerGroupHeartbeat, the broker assigns).
	groupProtocol string
	// sarama only: the protocol version sarama assumes the brokers speak.
	saramaVersion string
	// sarama only: the idempotent producer (Producer.Idempotent, one request in flight).
	idempotent bool
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	sub := os.Args[1]
	if sub == "sasl" {
		runSaslMain(os.Args[2:])
		return
	}
	if sub == "lab-proto" {
		runLabProtoMain(os.Args[2:])
		return
	}
	if sub == "lab-avro" {
		runLabAvroMain(os.Args[2:])
		return
	}
	if sub == "seqload" {
		runSeqLoadMain(os.Args[2:])
		return
	}
	if sub != "franz" && sub != "sarama" {
		usage()
	}
	fs := flag.NewFlagSet(sub, flag.ExitOnError)
	var o options
	fs.StringVar(&o.bootstrap, "bootstrap", "", "HOST:PORT to bootstrap from (required)")
	fs.StringVar(&o.topic, "topic", "", "topic to create and use (required; unique per test)")
	fs.StringVar(&o.group, "group", "", "consumer group id (default: TOPIC-group)")
	fs.IntVar(&o.records, "records", 3000, "records produced before the first group session")
	fs.IntVar(&o.more, "more", 1000, "records produced before the second group session")
	fs.IntVar(&o.partitions, "partitions", 3, "partitions of the topic")
	fs.IntVar(&o.replication, "replication-factor", 3, "replication factor of the topic")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "limit for each produce or consume phase")
	fs.BoolVar(&o.debug, "debug", false, "client library logs on stderr")
	fs.StringVar(&o.compression, "compression", "", "none, gzip, snappy, lz4 or zstd (default: the library's)")
	fs.StringVar(&o.groupProtocol, "group-protocol", "classic", "franz: classic or consumer (KIP-848)")
	fs.StringVar(&o.saramaVersion, "sarama-version", "4.0.0", "sarama: Config.Version")
	fs.BoolVar(&o.idempotent, "idempotent", true, "sarama: idempotent producer")
	if err := fs.Parse(os.Args[2:]); err != nil {
		usage()
	}
	if o.bootstrap == "" || o.topic == "" || o.records < 1 || o.more < 1 {
		fmt.Fprintln(os.Stderr, "--bootstrap and --topic are required; --records and --more must be positive")
		os.Exit(2)
	}
	if o.groupProtocol != "classic" && o.groupProtocol != "consumer" {
		fmt.Fprintln(os.Stderr, "--group-protocol is classic or consumer")
		os.Exit(2)
	}
	switch o.compression {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		fmt.Fprintln(os.Stderr, "--compression is none, gzip, snappy, lz4 or zstd")
		os.Exit(2)
	}
	if o.group == "" {
		o.group = o.topic + "-group"
	}

	s := newSummary(sub, o)
	started := time.Now()
	var err error
	switch sub {
	case "franz":
		err = runFranz(o, s)
	case "sarama":
		err = runSarama(o, s)
	default:
		usage()
	}
	if err != nil {
		s.fail("%s: %v", sub, err)
	}
	s.finish(time.Since(started))
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
	if !s.Ok {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sgclients franz|sarama|sasl --bootstrap HOST:PORT --topic T [--group G] [--records N] [--more M]")
	os.Exit(2)
}

// begun is when the process started: progress lines carry the time since, so that a slow step
// shows in the log of a failed test.
var begun = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[sgclients %6.3fs] "+format+"\n", append([]any{time.Since(begun).Seconds()}, args...)...)
}

// summary is the JSON object printed last. Counts are over both phases.
type summary struct {
	Client        string `json:"client"`
	GroupProtocol string `json:"group_protocol"`
	Compression   string `json:"compression"`
	Topic         string `json:"topic"`
	Group         string `json:"group"`
	Idempotent    bool   `json:"idempotent"`
	// Produced: records handed to the producer; Acked: those the broker acknowledged.
	Produced      int `json:"produced"`
	Acked         int `json:"acked"`
	ProduceErrors int `json:"produce_errors"`
	// Consumed: deliveries to the application, duplicates included. Duplicates: deliveries of
	// a record already delivered (in either session). Missing: acknowledged records never
	// delivered. Unexpected: delivered records that were never acknowledged. Misplaced:
	// delivered at another partition/offset than the producer's acknowledgement said.
	Consumed   int `json:"consumed"`
	Duplicates int `json:"duplicates"`
	Missing    int `json:"missing"`
	Unexpected int `json:"unexpected"`
	Misplaced  int `json:"misplaced"`
	// Per group session: deliveries in the first and in the second (resumed) session.
	FirstSession  int `json:"first_session"`
	SecondSession int `json:"second_session"`
	// Resumed: per partition with records after the first session, the committed offset
	// after it and the first offset the second session delivered. ResumeMismatches counts
	// partitions where they differ.
	Resumed          []resumed `json:"resumed"`
	ResumeMismatches int       `json:"resume_mismatches"`
	// Committed and end offsets summed over the partitions once both sessions are done.
	Committed  int64 `json:"committed"`
	EndOffsets int64 `json:"end_offsets"`
	// Every broker address any of the client's metadata named ("host:port", sorted, unique),
	// each partition's leader (index = partition) and the group coordinator.
	Brokers      []string `json:"brokers"`
	Leaders      []string `json:"leaders"`
	LeaderIDs    []int32  `json:"leader_ids"`
	Coordinators []string `json:"coordinators"`
	// Delivery: "exactly once" for an idempotent producer; otherwise "at least once", because
	// a retried produce may write a record twice (a duplicate at an offset other than the
	// acknowledged one), so duplicates and misplaced copies are reported, not failures.
	Delivery string   `json:"delivery"`
	Seconds  float64  `json:"seconds"`
	Ok       bool     `json:"ok"`
	Failures []string `json:"failures"`

	brokerSet map[string]bool
	ledger    *ledger
}

type resumed struct {
	Partition int32 `json:"partition"`
	Committed int64 `json:"committed"`
	First     int64 `json:"first"`
}

func newSummary(client string, o options) *summary {
	return &summary{
		Client:        client,
		GroupProtocol: o.groupProtocol,
		Compression:   o.compression,
		Topic:         o.topic,
		Group:         o.group,
		Brokers:       []string{},
		Leaders:       []string{},
		LeaderIDs:     []int32{},
		Coordinators:  []string{},
		Resumed:       []resumed{},
		Failures:      []string{},
		brokerSet:     map[string]bool{},
		ledger:        newLedger(),
	}
}

func (s *summary) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	progress("FAIL: %s", msg)
	s.Failures = append(s.Failures, msg)
}

func (s *summary) sawBroker(host string, port int32) {
	s.brokerSet[fmt.Sprintf("%s:%d", host, port)] = true
}

func (s *summary) sawBrokerAddr(addr string) { s.brokerSet[addr] = true }

// finish fills the counts from the ledger and decides Ok.
func (s *summary) finish(took time.Duration) {
	l := s.ledger
	s.Produced, s.Acked, s.ProduceErrors = l.produced, len(l.acked), l.produceErrors
	s.Consumed, s.Duplicates, s.Unexpected, s.Misplaced = l.consumed, l.duplicates, l.unexpected, l.misplaced
	s.Missing = 0
	for v := range l.acked {
		if l.seen[v] == 0 {
			s.Missing++
		}
	}
	s.FirstSession, s.SecondSession = l.sessionCount[1], l.sessionCount[2]
	for b := range s.brokerSet {
		s.Brokers = append(s.Brokers, b)
	}
	sort.Strings(s.Brokers)
	s.Seconds = float64(took.Milliseconds()) / 1000
	s.Delivery = "exactly once"
	if !s.Idempotent {
		s.Delivery = "at least once"
	}
	checks := []struct {
		bad  bool
		what string
	}{
		{s.Acked != s.Produced, fmt.Sprintf("acked %d of %d produced", s.Acked, s.Produced)},
		{s.Missing != 0, fmt.Sprintf("%d acknowledged records never consumed", s.Missing)},
		{s.Idempotent && s.Duplicates != 0, fmt.Sprintf("%d duplicate deliveries", s.Duplicates)},
		{s.Unexpected != 0, fmt.Sprintf("%d unacknowledged records consumed", s.Unexpected)},
		{s.Idempotent && s.Misplaced != 0, fmt.Sprintf("%d records at another partition/offset than acknowledged", s.Misplaced)},
		{s.ResumeMismatches != 0, fmt.Sprintf("%d partitions did not resume at the committed offset", s.ResumeMismatches)},
		{len(s.Resumed) == 0, "no partition shows where the second session resumed"},
		{s.Committed != s.EndOffsets, fmt.Sprintf("committed %d != end offsets %d", s.Committed, s.EndOffsets)},
		{len(s.Brokers) == 0, "no broker addresses seen"},
	}
	for _, c := range checks {
		if c.bad {
			s.fail("%s", c.what)
		}
	}
	s.Ok = len(s.Failures) == 0
	progress("%s: produced %d, acked %d, consumed %d (sessions %d + %d), duplicates %d, missing %d, brokers %s, %.1fs",
		s.Client, s.Produced, s.Acked, s.Consumed, s.FirstSession, s.SecondSession, s.Duplicates, s.Missing,
		strings.Join(s.Brokers, ","), s.Seconds)
}
