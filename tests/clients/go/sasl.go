package main

// The sasl subcommand: franz-go authenticating with PLAIN, SCRAM-SHA-256/512 or OAUTHBEARER
// (Kafka's unsecured JWT) through the proxy, which forwards SASL to the broker unchanged.
//
//	sgclients sasl --bootstrap HOST:PORT --topic T --mechanism M --user U --password P
//	               [--security-protocol SASL_PLAINTEXT|SASL_SSL] [--ca-file PEM]
//	               [--records N] [--seconds S]
//
// It creates T, produces N records with acks=all, optionally keeps producing one record every
// ~0.5 s for S seconds on the same client (KIP-368 re-authentication), then reads T back from
// the start and checks that every acknowledged record came back. A denied client is an
// outcome, not a crash: the summary classifies it in error_kind and the exit status is 0.
// Exit 1 means a harness bug, 2 bad usage.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslWait bounds every wait, so a denied client does not hang.
const saslWait = 30 * time.Second

type saslOptions struct {
	bootstrap, topic, mechanism, user, password string
	securityProtocol, caFile                    string
	records                                     int
	seconds                                     float64
	debug                                       bool
}

// saslSummary is the JSON line printed last; the same fields as the other clients' sasl runs.
type saslSummary struct {
	Client    string `json:"client"`
	Mechanism string `json:"mechanism"`
	Topic     string `json:"topic"`
	Protocol  string `json:"security_protocol"`
	// Produced: records handed to the producer; Acked: acknowledged by the broker; Consumed:
	// acknowledged records read back (each counted once); TimedProduced/TimedAcked: of those,
	// the ones of the --seconds phase.
	Produced      int `json:"produced"`
	Acked         int `json:"acked"`
	Consumed      int `json:"consumed"`
	TimedProduced int `json:"timed_produced"`
	TimedAcked    int `json:"timed_acked"`
	// The producer client's connections and SASL handshakes, overall and during the --seconds
	// phase: a handshake on an already open connection is a KIP-368 re-authentication.
	ProducerConnects       int     `json:"producer_connects"`
	ProducerHandshakes     int     `json:"producer_handshakes"`
	TimedConnects          *int    `json:"timed_connects"`
	TimedHandshakes        *int    `json:"timed_handshakes"`
	Reauthentications      int     `json:"reauthentications"`
	ReauthenticationsKnown bool    `json:"reauthentications_known"`
	Ok                     bool    `json:"ok"`
	ErrorKind              *string `json:"error_kind"`
	Error                  *string `json:"error"`
	Seconds                float64 `json:"seconds"`
}

// saslCounter counts a client's connections and SASL handshakes (request key 17; every
// authentication, first or KIP-368 re-authentication, starts with one).
type saslCounter struct {
	mu         sync.Mutex
	connects   int
	handshakes int
}

func (c *saslCounter) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		c.mu.Lock()
		c.connects++
		c.mu.Unlock()
	}
}

func (c *saslCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 17 && err == nil {
		c.mu.Lock()
		c.handshakes++
		c.mu.Unlock()
	}
}

func (c *saslCounter) read() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connects, c.handshakes
}

func runSaslMain(argv []string) {
	fs := flag.NewFlagSet("sasl", flag.ExitOnError)
	var o saslOptions
	fs.StringVar(&o.bootstrap, "bootstrap", "", "HOST:PORT (required)")
	fs.StringVar(&o.topic, "topic", "", "topic (required)")
	fs.StringVar(&o.mechanism, "mechanism", "", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (required)")
	fs.StringVar(&o.user, "user", "", "user (the token's sub for OAUTHBEARER)")
	fs.StringVar(&o.password, "password", "", "password (unused for OAUTHBEARER)")
	fs.StringVar(&o.securityProtocol, "security-protocol", "SASL_PLAINTEXT", "SASL_PLAINTEXT or SASL_SSL")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM CA certificate(s) to trust for SASL_SSL (only these)")
	fs.IntVar(&o.records, "records", 100, "records in the first batch")
	fs.Float64Var(&o.seconds, "seconds", 0, "then one record every ~0.5 s for this long")
	fs.BoolVar(&o.debug, "debug", false, "client library logs on stderr")
	if err := fs.Parse(argv); err != nil || fs.NArg() != 0 {
		saslUsage()
	}
	switch {
	case o.bootstrap == "" || o.topic == "" || o.mechanism == "" || o.user == "":
		fmt.Fprintln(os.Stderr, "--bootstrap, --topic, --mechanism and --user are required")
		os.Exit(2)
	case o.records < 1 || o.seconds < 0:
		fmt.Fprintln(os.Stderr, "--records must be positive and --seconds not negative")
		os.Exit(2)
	case o.securityProtocol != "SASL_PLAINTEXT" && o.securityProtocol != "SASL_SSL":
		fmt.Fprintln(os.Stderr, "--security-protocol is SASL_PLAINTEXT or SASL_SSL")
		os.Exit(2)
	}
	mech, err := saslMechanism(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := &saslSummary{Client: "franz-go", Mechanism: o.mechanism, Topic: o.topic, Protocol: o.securityProtocol}
	started := time.Now()
	runErr := runSasl(o, mech, s)
	if runErr == nil {
		switch {
		case s.Acked != s.Produced:
			runErr = fmt.Errorf("acked %d of %d produced", s.Acked, s.Produced)
		case s.Consumed != s.Acked:
			runErr = fmt.Errorf("consumed %d of %d acked", s.Consumed, s.Acked)
		}
	}
	if runErr != nil {
		kind, msg := classifySasl(runErr), runErr.Error()
		s.ErrorKind, s.Error = &kind, &msg
		progress("FAIL (%s): %s", kind, msg)
	}
	s.Ok = runErr == nil
	s.Seconds = float64(time.Since(started).Milliseconds()) / 1000
	progress("sasl %s: ok %v, produced %d, acked %d, consumed %d, timed %d/%d, reauthentications %d, %.1fs",
		o.mechanism, s.Ok, s.Produced, s.Acked, s.Consumed, s.TimedAcked, s.TimedProduced, s.Reauthentications, s.Seconds)
	out, err := json.Marshal(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

func saslUsage() {
	fmt.Fprintln(os.Stderr, "usage: sgclients sasl --bootstrap HOST:PORT --topic T --mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512|OAUTHBEARER --user U --password P [--security-protocol SASL_PLAINTEXT|SASL_SSL] [--ca-file PEM] [--records N] [--seconds S]")
	os.Exit(2)
}

// classifySasl maps an error to the summary's error_kind.
func classifySasl(err error) string {
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return "authentication"
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		return "authorization"
	}
	return "other"
}

// unsecuredJWT is Kafka's unsecured OAUTHBEARER token: {"alg":"none"}, the claims, and an
// empty signature, each part base64url without padding.
func unsecuredJWT(sub string) string {
	enc := base64.RawURLEncoding
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"sub": sub, "iat": now, "exp": now + 3600, "scope": ""})
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(claims) + "."
}

func saslMechanism(o saslOptions) (sasl.Mechanism, error) {
	switch o.mechanism {
	case "PLAIN":
		return plain.Auth{User: o.user, Pass: o.password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: o.user, Pass: o.password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: o.user, Pass: o.password}.AsSha512Mechanism(), nil
	case "OAUTHBEARER":
		// A fresh token for every authentication, re-authentications included.
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			return oauth.Auth{Token: unsecuredJWT(o.user)}, nil
		}), nil
	}
	return nil, fmt.Errorf("--mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, not %q", o.mechanism)
}

func saslTLS(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func runSasl(o saslOptions, mech sasl.Mechanism, s *saslSummary) error {
	base := append(baseOpts(o.bootstrap, "sg-franz-sasl", o.debug),
		kgo.SASL(mech),
		kgo.RetryTimeout(saslWait),
		kgo.DialTimeout(10*time.Second),
	)
	if o.securityProtocol == "SASL_SSL" {
		cfg, err := saslTLS(o.caFile)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		base = append(base, kgo.DialTLSConfig(cfg))
	}
	ctx := context.Background()

	admClient, err := kgo.NewClient(base...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admClient)
	actx, cancel := context.WithTimeout(ctx, saslWait)
	_, err = adm.CreateTopic(actx, 1, -1, nil, o.topic)
	cancel()
	adm.Close()
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", o.topic, err)
	}
	progress("topic %s created (%s)", o.topic, o.mechanism)

	counter := &saslCounter{}
	producer, err := kgo.NewClient(append(base,
		kgo.WithHooks(counter),
		kgo.DefaultProduceTopic(o.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(saslWait),
	)...)
	if err != nil {
		return err
	}
	defer producer.Close()
	// Values carry a per-run tag, so records of an earlier run on the same topic do not count.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	acked := map[string]bool{}
	var mu sync.Mutex
	var firstErr error
	produce := func(pctx context.Context, value string, timed bool) {
		s.Produced++
		if timed {
			s.TimedProduced++
		}
		producer.Produce(pctx, &kgo.Record{Value: []byte(value)}, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			acked[string(r.Value)] = true
			s.Acked++
			if timed {
				s.TimedAcked++
			}
		})
	}
	pctx, cancel := context.WithTimeout(ctx, saslWait)
	for i := 0; i < o.records; i++ {
		produce(pctx, fmt.Sprintf("sasl|%s|batch|%d", run, i), false)
	}
	err = producer.Flush(pctx)
	cancel()
	mu.Lock()
	perr := firstErr
	mu.Unlock()
	if perr != nil {
		return fmt.Errorf("producing: %w", perr)
	}
	if err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	progress("batch: %d of %d records acknowledged", s.Acked, s.Produced)

	if o.seconds > 0 {
		c0, h0 := counter.read()
		end := time.Now().Add(time.Duration(o.seconds * float64(time.Second)))
		for i := 0; time.Now().Before(end); i++ {
			rctx, cancel := context.WithTimeout(ctx, saslWait)
			produce(rctx, fmt.Sprintf("sasl|%s|timed|%d", run, i), true)
			err := producer.Flush(rctx)
			cancel()
			mu.Lock()
			perr := firstErr
			mu.Unlock()
			if perr != nil {
				return fmt.Errorf("producing timed record %d: %w", i, perr)
			}
			if err != nil {
				return fmt.Errorf("flushing timed record %d: %w", i, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		c1, h1 := counter.read()
		connects, handshakes := c1-c0, h1-h0
		s.TimedConnects, s.TimedHandshakes = &connects, &handshakes
		progress("timed phase: %d of %d records acknowledged, %d new connections, %d SASL handshakes",
			s.TimedAcked, s.TimedProduced, connects, handshakes)
	}
	s.ProducerConnects, s.ProducerHandshakes = counter.read()
	s.Reauthentications = s.ProducerHandshakes - s.ProducerConnects
	s.ReauthenticationsKnown = true

	consumer, err := kgo.NewClient(append(base,
		kgo.ConsumeTopics(o.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return err
	}
	defer consumer.Close()
	cctx, cancel := context.WithTimeout(ctx, saslWait)
	defer cancel()
	seen := map[string]bool{}
	for s.Consumed < len(acked) {
		fetches := consumer.PollFetches(cctx)
		if cctx.Err() != nil {
			return fmt.Errorf("consuming: timed out with %d of %d records read back", s.Consumed, len(acked))
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("fetching %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if acked[v] && !seen[v] {
				seen[v] = true
				s.Consumed++
			}
		})
	}
	progress("read back %d records", s.Consumed)
	return nil
}
