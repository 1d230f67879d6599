package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/livekit"

	"telemetry-coordinator/clients/go/telemetryclient"
)

// bench makes n calls as fast as one goroutine can on a fresh client and waits until the
// fleet answered them all: the events/s one Go client sustains against the URLs.
func (b *bridge) bench(n int, mix string) (map[string]any, error) {
	o := b.options(fmt.Sprintf("sfu-bench-go-%d", time.Now().UnixNano()))
	o.MaxBuffered = n + 1 // nothing dropped: the figure is what the fleet applied
	var requests int
	o.OnRequest = func(r telemetryclient.RequestReport) {
		if r.Events > 0 {
			requests++
		}
	}
	c, err := telemetryclient.New(o)
	if err != nil {
		return nil, err
	}
	defer c.Destroy()
	room := &livekit.Room{Sid: "RM_bench_go_" + mix, Name: "bench-go-" + mix}
	tracks := make([]*livekit.TrackInfo, 16)
	for i := range tracks {
		tracks[i] = &livekit.TrackInfo{Sid: fmt.Sprintf("TR_bench_%d", i), Type: livekit.TrackType_VIDEO}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	ctx := context.Background()
	started := time.Now()
	for i := range n {
		t := tracks[i%len(tracks)]
		switch mix {
		case "trackStats":
			key := telemetry.StatsKeyForTrack("", livekit.StreamType_UPSTREAM, "PA_bench", livekit.TrackID(t.Sid), livekit.TrackSource_CAMERA, livekit.TrackType_VIDEO)
			c.TrackStats(livekit.RoomID(room.Sid), livekit.RoomName(room.Name), key, &livekit.AnalyticsStat{
				RoomId: room.Sid, ParticipantId: "PA_bench", TrackId: t.Sid, Score: 4.5,
				Streams: []*livekit.AnalyticsStream{{Ssrc: 1234, PrimaryBytes: 112_500, PrimaryPackets: 103}},
			})
		default: // lifecycle: track mute / unmute
			if i%2 == 0 {
				c.TrackMuted(ctx, room, "PA_bench", t)
			} else {
				c.TrackUnmuted(ctx, room, "PA_bench", t)
			}
		}
	}
	enqueued := time.Since(started)
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	took := time.Since(started)
	runtime.ReadMemStats(&ms)
	counts := c.Counters()
	if counts.Applied != uint64(n) {
		return nil, fmt.Errorf("%d of %d applied: %+v", counts.Applied, n, counts)
	}
	return map[string]any{
		"events": n, "seconds": took.Seconds(), "eventsPerSecond": float64(n) / took.Seconds(),
		"enqueueMicrosPerCall": float64(enqueued.Microseconds()) / float64(n), "requests": requests,
		"mallocsPerEvent": float64(ms.Mallocs-mallocs) / float64(n),
	}, nil
}
