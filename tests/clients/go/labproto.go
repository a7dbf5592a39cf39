// The lab matrix's Go Protobuf reader: the reader's .proto text is compiled with
// bufbuild/protocompile, the frame's message-index list is skipped, and the body is decoded
// into a dynamicpb message of schemagate.loadgen.Order with google.golang.org/protobuf's
// proto.Unmarshal. Same protocol as lab-avro (see labavro.go); the writer schema is not
// needed, since Protobuf decodes with the reader's descriptor alone.
//
//	sgclients lab-proto --bootstrap B --topic T --registry URL --expect N --job ID=READER.proto ...
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

func runLabProtoMain(args []string) {
	fs := flag.NewFlagSet("lab-proto", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "", "HOST:PORT")
	topic := fs.String("topic", "", "topic")
	_ = fs.String("registry", "", "registry URL (unused: the reader's descriptor decodes)")
	expect := fs.Int("expect", 0, "records on the topic")
	var jobs jobList
	fs.Var(&jobs, "job", "WRITER_ID=READER_PROTO_FILE (repeatable)")
	if err := fs.Parse(args); err != nil || *bootstrap == "" || *topic == "" {
		fmt.Fprintln(os.Stderr, "lab-proto needs --bootstrap, --topic, --expect and --job")
		os.Exit(2)
	}
	values, err := labReadAll(*bootstrap, *topic, *expect)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := []labJob{}
	for _, j := range jobs {
		id, path := labParseJob(j)
		desc, derr := labOrderDescriptor(path)
		if derr != nil {
			fmt.Fprintf(os.Stderr, "reader schema %s: %v\n", path, derr)
			os.Exit(1)
		}
		out = append(out, labRunJob(id, path, values, func(body []byte) (bool, error) {
			body, err := labSkipIndexes(body)
			m := dynamicpb.NewMessage(desc)
			if err == nil {
				err = proto.Unmarshal(body, m)
			}
			return err == nil && len(m.GetUnknown()) > 0, err
		}))
	}
	b, _ := json.Marshal(map[string]any{"jobs": out})
	fmt.Println(string(b))
}

// labOrderDescriptor compiles one .proto file and returns its schemagate.loadgen.Order.
func labOrderDescriptor(path string) (protoreflect.MessageDescriptor, error) {
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{ImportPaths: []string{filepath.Dir(path)}}}
	files, err := c.Compile(context.Background(), filepath.Base(path))
	if err != nil {
		return nil, err
	}
	d := files[0].Messages().ByName("Order")
	if d == nil {
		return nil, errors.New("no message Order")
	}
	return d, nil
}

// labSkipIndexes skips Confluent's message-index list: a zigzag varint count, then the
// indexes (a single 0 byte stands for [0]).
func labSkipIndexes(b []byte) ([]byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 || n < 0 || n > 100 {
		return nil, errors.New("bad message-index count")
	}
	b = b[k:]
	for i := int64(0); i < n; i++ {
		_, k = binary.Varint(b)
		if k <= 0 {
			return nil, errors.New("bad message index")
		}
		b = b[k:]
	}
	return b, nil
}
