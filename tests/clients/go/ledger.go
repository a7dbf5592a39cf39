package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// where a record landed: its partition and offset.
type where struct {
	partition int32
	offset    int64
}

// ledger matches what the producer had acknowledged with what the consumers delivered. Every
// record's value is unique ("sg|PHASE|I|padding"), so a delivery identifies its record
// without trusting offsets, and the acknowledged offset can be checked against the delivered
// one. Producer callbacks and consumer goroutines call it concurrently.
type ledger struct {
	mu            sync.Mutex
	produced      int
	produceErrors int
	acked         map[string]where
	ackedInPhase  map[int]int
	seen          map[string]int
	seenInPhase   map[int]int // distinct acknowledged records delivered, per phase
	consumed      int
	duplicates    int
	unexpected    int
	misplaced     int
	sessionCount  map[int]int
	// the lowest offset each session delivered, per partition
	firstOffset map[int]map[int32]int64
}

func newLedger() *ledger {
	return &ledger{
		acked:        map[string]where{},
		ackedInPhase: map[int]int{},
		seen:         map[string]int{},
		seenInPhase:  map[int]int{},
		sessionCount: map[int]int{},
		firstOffset:  map[int]map[int32]int64{},
	}
}

// record returns the key and value of record i of a phase. Keys repeat (64 of them) so the
// key-hash partitioner spreads records over every partition; values are unique.
func record(phase, i int) (key, value []byte) {
	key = fmt.Appendf(nil, "key-%d", i%64)
	value = fmt.Appendf(nil, "sg|%d|%d|%s", phase, i, strings.Repeat("x", i%200))
	return key, value
}

func phaseOf(value string) int {
	parts := strings.SplitN(value, "|", 4)
	if len(parts) < 3 || parts[0] != "sg" {
		return -1
	}
	phase, err := strconv.Atoi(parts[1])
	if err != nil {
		return -1
	}
	return phase
}

func (l *ledger) handedToProducer(n int) {
	l.mu.Lock()
	l.produced += n
	l.mu.Unlock()
}

// ack records the producer's verdict on one record.
func (l *ledger) ack(value string, partition int32, offset int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.produceErrors++
		if l.produceErrors <= 5 {
			progress("produce error on %.20q: %v", value, err)
		}
		return
	}
	if _, dup := l.acked[value]; dup {
		progress("record %.20q acknowledged twice", value)
		return
	}
	l.acked[value] = where{partition, offset}
	l.ackedInPhase[phaseOf(value)]++
}

func (l *ledger) ackedCount(phase int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackedInPhase[phase]
}

// deliver records one record handed to the application by group session `session`.
func (l *ledger) deliver(session int, value string, partition int32, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.consumed++
	l.sessionCount[session]++
	first := l.firstOffset[session]
	if first == nil {
		first = map[int32]int64{}
		l.firstOffset[session] = first
	}
	if cur, ok := first[partition]; !ok || offset < cur {
		first[partition] = offset
	}
	at, acked := l.acked[value]
	switch {
	case !acked:
		l.unexpected++
	case at != (where{partition, offset}):
		l.misplaced++
		if l.misplaced <= 5 {
			progress("record %.20q acknowledged at %d/%d, delivered at %d/%d", value, at.partition, at.offset, partition, offset)
		}
	}
	l.seen[value]++
	if l.seen[value] > 1 {
		l.duplicates++
		if l.duplicates <= 5 {
			progress("session %d delivered %.20q again (partition %d offset %d)", session, value, partition, offset)
		}
	} else if acked {
		l.seenInPhase[phaseOf(value)]++
	}
}

// phaseDone is true once every acknowledged record of the phase has been delivered.
func (l *ledger) phaseDone(phase int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seenInPhase[phase] >= l.ackedInPhase[phase]
}

func (l *ledger) progressOf(phase int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d of %d", l.seenInPhase[phase], l.ackedInPhase[phase])
}

// firstOffsets returns a copy of the lowest offset session delivered per partition.
func (l *ledger) firstOffsets(session int) map[int32]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int64{}
	for p, o := range l.firstOffset[session] {
		out[p] = o
	}
	return out
}

// checkResume compares where the second session started with what the group had committed
// after the first. Only partitions that got records in phase 2 say anything: on the others
// the second session delivers nothing.
func (s *summary) checkResume(committedAfterFirst map[int32]int64) {
	first := s.ledger.firstOffsets(2)
	parts := make([]int32, 0, len(first))
	for p := range first {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		c, ok := committedAfterFirst[p]
		if !ok {
			// Nothing committed: the partition had no phase-1 records, so the second session
			// must start at the log start, offset 0.
			c = 0
		}
		s.Resumed = append(s.Resumed, resumed{Partition: p, Committed: c, First: first[p]})
		if first[p] != c {
			s.ResumeMismatches++
			s.fail("partition %d: committed %d after the first session, second session started at %d", p, c, first[p])
		}
	}
}
