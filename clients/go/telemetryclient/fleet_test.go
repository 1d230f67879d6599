package telemetryclient_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"telemetry-coordinator/clients/go/internal/fleet"
	"telemetry-coordinator/clients/go/telemetryclient"
)

// The tests run against real parts: a private redis-server, two coordinator node
// processes (npm start's entry point) and a webhook receiver verifying every delivery
// with livekit/protocol's webhook package. NODE_LEASE is short so a lapse is quick.
var coord *fleet.Fleet

func TestMain(m *testing.M) {
	var err error
	coord, err = fleet.Start(2, map[string]string{"FLUSH_INTERVAL": "1s", "NODE_LEASE": "2s"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the coordinator fleet:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		for i, n := range coord.Nodes {
			fmt.Fprintf(os.Stderr, "--- node %d output:\n%s\n", i, n.Output())
		}
	}
	coord.Stop()
	os.Exit(code)
}

// newClient is a client of the fleet for one SFU node, heartbeats off unless set;
// destroyed when the test or benchmark ends.
func newClient(t testing.TB, nodeID string, set func(*telemetryclient.Options)) *telemetryclient.Client {
	t.Helper()
	o := telemetryclient.Options{
		URLs: coord.URLs(), NodeID: nodeID, APIKey: fleet.APIKey, APISecret: fleet.APISecret,
		HeartbeatInterval: -1,
	}
	if set != nil {
		set(&o)
	}
	c, err := telemetryclient.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Destroy)
	return c
}

// serve runs h on a port of its own until the test ends and returns its URL: a proxy or
// stub the test puts in front of the fleet.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// flush waits until the fleet answered every call made so far.
func flush(t *testing.T, c *telemetryclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// waitForWebhook polls the receiver until the room has a webhook of that name.
func waitForWebhook(t *testing.T, room, event string, within time.Duration) {
	t.Helper()
	err := fleet.Until(within, event+" of "+room, func() bool {
		return slices.Contains(coord.Receiver.Names(room), event)
	})
	if err != nil {
		t.Fatalf("%v; the room's webhooks so far: %v", err, coord.Receiver.Names(room))
	}
}

func count(names []string, name string) int {
	n := 0
	for _, x := range names {
		if x == name {
			n++
		}
	}
	return n
}

func analyticsTypes(t *testing.T, roomSid string) []string {
	t.Helper()
	evs, err := coord.Analytics(roomSid)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type.String())
	}
	return out
}
