// The machine's JetStream publish ceiling: the records the relay publishes (same subjects, same
// headers, same payload shape), published asynchronously by the Go client as fast as the server
// acknowledges them, from memory, no database. The bench compares every relay figure with it.
//
// Built by bench/src/go-ceiling.ts against Debian's golang-github-nats-io-go-nats-dev in GOPATH
// mode (no module download). Prints one JSON line: {"published":N,"seconds":S,"rate":R,"cpuSeconds":C}
// (C: the process's user + system CPU while publishing; building the messages is not counted).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "NATS server URL")
	prefix := flag.String("prefix", "", "subject prefix: the stream's name (subjects <prefix>.<type>)")
	count := flag.Int("count", 200000, "records to publish")
	subjects := flag.Int("subjects", 1000, "aggregate subjects the records are spread over")
	pending := flag.Int("max-pending", 4000, "publishes awaiting their PubAck at most (the client's default)")
	flag.Parse()
	if *prefix == "" {
		fail(fmt.Errorf("-prefix is required"))
	}

	nc, err := nats.Connect(*url)
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(*pending))
	if err != nil {
		fail(err)
	}

	// Built before the clock starts: the relay's records also exist before it publishes them.
	const eventType = "catalog.product.price-changed"
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	subject := *prefix + "." + eventType
	msgs := make([]*nats.Msg, *count)
	for i := range msgs {
		id := uuidV7(i)
		product := "product-" + strconv.Itoa(i%*subjects)
		m := nats.NewMsg(subject)
		m.Header["traceparent"] = []string{traceparent}
		m.Header["ce-specversion"] = []string{"1.0"}
		m.Header["ce-id"] = []string{id}
		m.Header["ce-type"] = []string{eventType}
		m.Header["ce-source"] = []string{"catalog"}
		m.Header["ce-subject"] = []string{product}
		m.Header["ce-time"] = []string{now}
		// The relay's records carry their per-subject sequence (the stores stamp it by default):
		// record i is the (i / subjects + 1)-th event of its product.
		nth := i / *subjects
		m.Header["ce-subjectseq"] = []string{strconv.Itoa(nth + 1)}
		m.Header["content-type"] = []string{"application/json"}
		m.Header["Nats-Msg-Id"] = []string{id}
		m.Data = []byte(fmt.Sprintf(`{"productId":%q,"newPrice":%v,"oldPrice":%v,"n":%d}`,
			product, float64(i)/100, float64(i)/100+1, i / *subjects))
		msgs[i] = m
	}

	futures := make([]nats.PubAckFuture, 0, *count)
	cpuAtStart := cpuSeconds()
	start := time.Now()
	for _, m := range msgs {
		// At max-pending the client waits for a PubAck slot; the default 200 ms is too short for an
		// R3 stream on a loaded machine, and a stall is not what this program measures.
		f, err := js.PublishMsgAsync(m, nats.StallWait(30*time.Second))
		if err != nil {
			fail(err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(120 * time.Second):
		fail(fmt.Errorf("PubAcks still pending after 120 s"))
	}
	seconds := time.Since(start).Seconds()
	cpuAtEnd := cpuSeconds()
	for _, f := range futures {
		select {
		case err := <-f.Err():
			fail(fmt.Errorf("publish refused: %w", err))
		case <-f.Ok():
		}
	}
	cpu := cpuAtEnd - cpuAtStart
	out, _ := json.Marshal(map[string]float64{
		"published":  float64(*count),
		"seconds":    seconds,
		"rate":       float64(*count) / seconds,
		"cpuSeconds": cpu,
	})
	fmt.Println(string(out))
}

// uuidV7 is an id of the relay's shape (36 characters), unique within the run.
func uuidV7(i int) string {
	ms := uint64(time.Now().UnixMilli())
	return fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", ms>>16, ms&0xffff, (i>>12)&0xfff, i&0xfff, uint64(i)<<8|uint64(os.Getpid()&0xff))
}

// cpuSeconds is this process's user + system CPU time so far.
func cpuSeconds() float64 {
	var usage syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ceiling:", err)
	os.Exit(1)
}
