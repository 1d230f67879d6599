// Command sfu-bridge drives simulated SFU nodes through the Go client, for
// `npm run simulate -- --sfu go` and `npm run bench:go-client`: it reads one JSON request a
// line on stdin and answers one JSON line on stdout per request.
//
//	{"id":1,"op":"call","sfu":"sfu-0","method":"participantJoined","args":{...}}
//	{"id":2,"op":"flush","sfu":"sfu-0"}      {"id":3,"op":"close","sfu":"sfu-0"}
//	{"op":"destroy","sfu":"sfu-0"}           {"id":4,"op":"bench","events":40000,"mix":"trackStats"}
//
// A call is answered once the fleet answered it (the client settled it), so the simulator
// can order calls across SFU nodes as a real SFU's signalling would. Arguments are the
// TypeScript client's (protobuf JSON messages, guards as strings). The client's request
// reports and refusals go out as {"request":...} and {"refused":...} lines.
//
// The API key and secret come from API_KEY / API_SECRET (never the command line, which
// other users of the machine can read); the coordinator URLs from -urls.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/livekit/livekit-server/pkg/telemetry"

	"telemetry-coordinator/clients/go/telemetryclient"
)

type request struct {
	ID     int64                      `json:"id"`
	Op     string                     `json:"op"`
	SFU    string                     `json:"sfu"`
	Method string                     `json:"method"`
	Args   map[string]json.RawMessage `json:"args"`
	Events int                        `json:"events"`
	Mix    string                     `json:"mix"`
}

type bridge struct {
	urls        []string
	key, secret string
	heartbeat   time.Duration
	linger      time.Duration
	maxAttempts int
	maxBackoff  time.Duration

	outMu sync.Mutex
	out   *bufio.Writer

	mu   sync.Mutex
	sfus map[string]*sfu
}

// sfu is one simulated SFU node: its client and the guards its connections hold.
type sfu struct {
	client *telemetryclient.Client
	mu     sync.Mutex
	guards map[string]*telemetry.ReferenceGuard
}

func main() {
	b := &bridge{out: bufio.NewWriter(os.Stdout), sfus: map[string]*sfu{}, key: os.Getenv("API_KEY"), secret: os.Getenv("API_SECRET")}
	urls := flag.String("urls", "", "coordinator base URLs, comma separated")
	flag.DurationVar(&b.heartbeat, "heartbeat", telemetryclient.Defaults.HeartbeatInterval, "lease heartbeat interval")
	flag.DurationVar(&b.linger, "linger", 0, "wait this long for more calls before sending a batch")
	flag.IntVar(&b.maxAttempts, "max-attempts", 0, "attempts per batch (0: until closed)")
	flag.DurationVar(&b.maxBackoff, "max-backoff", telemetryclient.Defaults.MaxBackoff, "longest backoff between attempts")
	flag.Parse()
	b.urls = strings.Split(*urls, ",")
	if *urls == "" || b.key == "" || b.secret == "" {
		fmt.Fprintln(os.Stderr, "sfu-bridge: give -urls, and API_KEY / API_SECRET in the environment")
		os.Exit(2)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	var wg sync.WaitGroup
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			b.send(map[string]any{"error": "bad request line: " + err.Error()})
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); b.handle(r) }()
	}
	wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.sfus {
		s.client.Destroy()
	}
}

func (b *bridge) send(v any) {
	line, _ := json.Marshal(v)
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.out.Write(line)
	b.out.WriteByte('\n')
	b.out.Flush()
}

func (b *bridge) reply(r request, err error) {
	if r.ID == 0 {
		return
	}
	if err != nil {
		b.send(map[string]any{"id": r.ID, "error": err.Error()})
	} else {
		b.send(map[string]any{"id": r.ID, "ok": true})
	}
}

func (b *bridge) options(nodeID string) telemetryclient.Options {
	return telemetryclient.Options{
		URLs: b.urls, NodeID: nodeID, APIKey: b.key, APISecret: b.secret,
		HeartbeatInterval: b.heartbeat, Linger: b.linger, MaxAttempts: b.maxAttempts, MaxBackoff: b.maxBackoff,
	}
}

// sfuOf is the SFU node's client, made on its first request.
func (b *bridge) sfuOf(id string) (*sfu, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.sfus[id]; ok {
		return s, nil
	}
	o := b.options(id)
	o.OnRequest = func(r telemetryclient.RequestReport) {
		b.send(map[string]any{"request": map[string]any{"sfu": id, "events": r.Events, "status": r.Status, "ms": float64(r.Took.Microseconds()) / 1000}})
	}
	o.OnRefused = func(err error) { b.send(map[string]any{"refused": err.Error(), "sfu": id}) }
	c, err := telemetryclient.New(o)
	if err != nil {
		return nil, err
	}
	s := &sfu{client: c, guards: map[string]*telemetry.ReferenceGuard{}}
	b.sfus[id] = s
	return s, nil
}

func (b *bridge) handle(r request) {
	if r.Op == "bench" {
		res, err := b.bench(r.Events, r.Mix)
		if err != nil {
			b.reply(r, err)
			return
		}
		b.send(map[string]any{"id": r.ID, "ok": true, "bench": res})
		return
	}
	s, err := b.sfuOf(r.SFU)
	if err != nil {
		b.reply(r, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	switch r.Op {
	case "call":
		err = s.call(r.Method, r.Args)
		if err == nil {
			// answered once the fleet answered it: Flush waits for every call made so far
			err = s.client.Flush(ctx)
		}
	case "flush":
		err = s.client.Flush(ctx)
	case "close":
		err = s.client.Close(ctx)
	case "depart":
		err = s.client.Depart(ctx)
	case "destroy":
		s.client.Destroy()
	default:
		err = fmt.Errorf("unknown op %q", r.Op)
	}
	b.reply(r, err)
}
