package main

// seqload: the franz-go producer of the idempotent-quarantine proof. kgo's default producer
// (idempotent, acks=all) sends --count records paced at --rate per second; the key of record
// i is its decimal index, the value a framed Avro string ("good-i") under --schema-id, except
// for the indexes in --bad-file, whose value is unframed ("bad-i"). kgo's log (info level) goes
// to stderr, where the test looks for OUT_OF_ORDER_SEQUENCE_NUMBER, fencing and fatal errors.
// The last stdout line is the JSON summary.
//
//	sgclients seqload --bootstrap HOST:PORT --topic T --bad-file F [--count N] [--rate R] [--schema-id ID]

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type seqSummary struct {
	Client        string         `json:"client"`
	Sent          int            `json:"sent"`
	Acked         int            `json:"acked"`
	Failed        int            `json:"failed"`
	FailedIndexes []int          `json:"failed_indexes"`
	Errors        map[string]int `json:"errors"`
}

func runSeqLoadMain(argv []string) {
	fs := flag.NewFlagSet("seqload", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "", "HOST:PORT[,HOST:PORT...] (required)")
	topic := fs.String("topic", "", "topic (required, already created)")
	badFile := fs.String("bad-file", "", "indexes of bad records, one per line (required)")
	count := fs.Int("count", 20000, "records to send")
	rate := fs.Int("rate", 2000, "records per second")
	schemaID := fs.Int("schema-id", 1, "schema id of the good records")
	if err := fs.Parse(argv); err != nil || *bootstrap == "" || *topic == "" || *badFile == "" || *rate < 1 {
		fmt.Fprintln(os.Stderr, "usage: sgclients seqload --bootstrap HOST:PORT --topic T --bad-file F [--count N] [--rate R] [--schema-id ID]")
		os.Exit(2)
	}
	bad, err := readBad(*badFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*bootstrap, ",")...),
		kgo.ClientID("sg-franz-seqload"),
		kgo.DefaultProduceTopic(*topic),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := seqSummary{Client: "franz-go", Sent: *count, Errors: map[string]int{}, FailedIndexes: []int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *count; i++ {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(*rate))
		if wait := time.Until(due); wait > time.Millisecond {
			time.Sleep(wait)
		}
		index := i
		wg.Add(1)
		rec := &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: seqValue(i, *schemaID, bad[i])}
		client.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				s.Acked++
				return
			}
			s.Failed++
			s.FailedIndexes = append(s.FailedIndexes, index)
			s.Errors[err.Error()]++
		})
	}
	wg.Wait()
	client.Close()
	sort.Ints(s.FailedIndexes)
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
}

// seqValue is record i's value: a Confluent-framed Avro string, or unframed bytes when bad.
func seqValue(i, schemaID int, bad bool) []byte {
	if bad {
		return []byte(fmt.Sprintf("bad-%d", i))
	}
	text := []byte(fmt.Sprintf("good-%d", i))
	out := []byte{0, byte(schemaID >> 24), byte(schemaID >> 16), byte(schemaID >> 8), byte(schemaID), byte(len(text) << 1)}
	return append(out, text...)
}

func readBad(path string) (map[int]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[int]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		n, err := strconv.Atoi(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[n] = true
	}
	return out, sc.Err()
}
