// The lab matrix's Go Avro reader (loadgen/src/lab/readers.rs describes the protocol):
// franz-go reads partition 0 of the topic from its first offset, each record's writer schema
// is fetched from the registry by the frame's id, resolved into the given reader schema with
// hamba/avro/v2's SchemaCompatibility.Resolve, and decoded with avro.Unmarshal.
//
//	sgclients lab-avro --bootstrap B --topic T --registry URL --expect N --job ID=READER.avsc ...
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

type jobList []string

func (j *jobList) String() string     { return strings.Join(*j, ",") }
func (j *jobList) Set(v string) error { *j = append(*j, v); return nil }

type labJob struct {
	WriterID     uint32         `json:"writer_id"`
	ReaderSchema string         `json:"reader_schema"`
	Records      int            `json:"records"`
	Decoded      int            `json:"decoded"`
	Errors       map[string]int `json:"errors"`
	// lab-proto only: decoded records that kept bytes as unknown fields.
	UnknownFields int `json:"unknown_fields,omitempty"`
}

func runLabAvroMain(args []string) {
	fs := flag.NewFlagSet("lab-avro", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "", "HOST:PORT")
	topic := fs.String("topic", "", "topic")
	registry := fs.String("registry", "", "registry URL")
	expect := fs.Int("expect", 0, "records on the topic")
	var jobs jobList
	fs.Var(&jobs, "job", "WRITER_ID=READER_SCHEMA_FILE (repeatable)")
	if err := fs.Parse(args); err != nil || *bootstrap == "" || *topic == "" || *registry == "" {
		fmt.Fprintln(os.Stderr, "lab-avro needs --bootstrap, --topic, --registry, --expect and --job")
		os.Exit(2)
	}
	values, err := labReadAll(*bootstrap, *topic, *expect)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	writers := map[uint32]avro.Schema{}
	out := []labJob{}
	for _, j := range jobs {
		id, path := labParseJob(j)
		text, rerr := os.ReadFile(path)
		if rerr != nil {
			fmt.Fprintln(os.Stderr, rerr)
			os.Exit(1)
		}
		reader, serr := avro.Parse(string(text))
		if serr != nil {
			fmt.Fprintf(os.Stderr, "reader schema %s: %v\n", path, serr)
			os.Exit(1)
		}
		out = append(out, labRunJob(id, path, values, func(body []byte) (bool, error) {
			return false, labDecode(*registry, writers, id, reader, body)
		}))
	}
	b, _ := json.Marshal(map[string]any{"jobs": out})
	fmt.Println(string(b))
}

// labDecode resolves the writer schema (fetched once per id) into the reader and decodes.
func labDecode(registry string, writers map[uint32]avro.Schema, id uint32, reader avro.Schema, body []byte) error {
	writer, ok := writers[id]
	if !ok {
		resp, err := http.Get(fmt.Sprintf("%s/schemas/ids/%d", strings.TrimRight(registry, "/"), id))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		var got struct {
			Schema string `json:"schema"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			return fmt.Errorf("registry answered %s: %s", resp.Status, raw)
		}
		if writer, err = avro.Parse(got.Schema); err != nil {
			return err
		}
		writers[id] = writer
	}
	resolved, err := avro.NewSchemaCompatibility().Resolve(reader, writer)
	if err != nil {
		return err
	}
	var v any
	return avro.Unmarshal(resolved, body, &v)
}

// labParseJob reads one --job WRITER_ID=READER_SCHEMA_FILE, exiting 2 on a malformed one.
func labParseJob(j string) (uint32, string) {
	idText, path, ok := strings.Cut(j, "=")
	id, err := strconv.ParseUint(idText, 10, 32)
	if !ok || err != nil {
		fmt.Fprintf(os.Stderr, "bad --job %q\n", j)
		os.Exit(2)
	}
	return uint32(id), path
}

// labRunJob decodes the body (after magic byte and id) of every framed value written under
// writer id with decode, which reports whether bytes were kept as unknown fields and the
// decode error, and counts the outcomes.
func labRunJob(id uint32, path string, values [][]byte, decode func([]byte) (bool, error)) labJob {
	res := labJob{WriterID: id, ReaderSchema: path, Errors: map[string]int{}}
	for _, v := range values {
		if len(v) < 5 || binary.BigEndian.Uint32(v[1:5]) != id {
			continue
		}
		res.Records++
		unknown, err := decode(v[5:])
		if unknown {
			res.UnknownFields++
		}
		if err != nil {
			res.Errors[err.Error()]++
		} else {
			res.Decoded++
		}
	}
	return res
}

// labReadAll reads partition 0 of topic from the start until expect records arrived.
func labReadAll(bootstrap, topic string, expect int) ([][]byte, error) {
	// bootstrap is a comma-separated list (the 3-node cluster): one seed each.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var values [][]byte
	for len(values) < expect {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read %d of %d records from %s", len(values), expect, topic)
		}
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, r.Value) })
	}
	return values, nil
}
