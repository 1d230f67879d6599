package telemetryclient_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/livekit"

	"telemetry-coordinator/clients/go/telemetryclient"
)

// The cost of a call to the SFU, all in: encoding, queueing, and its share of the batch
// and the HTTP request, against a stub that answers 200 at once (the fleet's own cost is
// left out). allocs/op and B/op are per call.
func benchmarkCalls(b *testing.B, call func(c *telemetryclient.Client, i int)) {
	stub := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
	}))
	c := newClient(b, "sfu-bench", func(o *telemetryclient.Options) {
		o.URLs, o.MaxBuffered = []string{stub}, 1<<30
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		call(c, i)
	}
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := c.Counters().Applied; n != uint64(b.N) {
		b.Fatalf("%d of %d applied", n, b.N)
	}
}

var (
	benchRoom  = &livekit.Room{Sid: "RM_bench", Name: "bench-room"}
	benchTrack = &livekit.TrackInfo{Sid: "TR_bench", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA}
	benchKey   = telemetry.StatsKeyForTrack("", livekit.StreamType_UPSTREAM, "PA_bench", "TR_bench", livekit.TrackSource_CAMERA, livekit.TrackType_VIDEO)
)

func benchStat() *livekit.AnalyticsStat {
	return &livekit.AnalyticsStat{
		RoomId: "RM_bench", ParticipantId: "PA_bench", TrackId: "TR_bench", Score: 4.5,
		Streams: []*livekit.AnalyticsStream{{Ssrc: 1234, PrimaryBytes: 112_500, PrimaryPackets: 103}},
	}
}

func BenchmarkTrackStats(b *testing.B) {
	stat := benchStat()
	benchmarkCalls(b, func(c *telemetryclient.Client, _ int) {
		c.TrackStats("RM_bench", "bench-room", benchKey, stat)
	})
}

func BenchmarkTrackMuted(b *testing.B) {
	benchmarkCalls(b, func(c *telemetryclient.Client, _ int) {
		c.TrackMuted(context.Background(), benchRoom, "PA_bench", benchTrack)
	})
}

func BenchmarkParticipantActive(b *testing.B) {
	p := &livekit.ParticipantInfo{Sid: "PA_bench", Identity: "bench", State: livekit.ParticipantInfo_ACTIVE}
	guard := &telemetry.ReferenceGuard{}
	benchmarkCalls(b, func(c *telemetryclient.Client, _ int) {
		c.ParticipantActive(context.Background(), benchRoom, p, nil, false, false, guard)
	})
}

// Events/s one Go client sustains against one real coordinator node (the suite's node 0,
// on its redis-server): b.N TrackStats calls made as fast as one goroutine can, timed
// until the node answered them all. scripts/bench-go-client.ts runs the same beside
// TelemetryClient.
func BenchmarkTrackStatsOneNode(b *testing.B) {
	c := newClient(b, "sfu-bench-node", func(o *telemetryclient.Options) {
		o.URLs, o.MaxBuffered = []string{coord.Nodes[0].URL()}, 1<<30
	})
	stat := benchStat()
	b.ReportAllocs()
	b.ResetTimer()
	started := time.Now()
	for range b.N {
		c.TrackStats("RM_bench", "bench-room", benchKey, stat)
	}
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(started).Seconds(), "events/s")
	b.StopTimer()
	if n := c.Counters().Applied; n != uint64(b.N) {
		b.Fatalf("%d of %d applied", n, b.N)
	}
}
