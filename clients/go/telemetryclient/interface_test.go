package telemetryclient

import (
	"testing"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/livekit"
)

// Checked at compile time: Client is livekit-server's telemetry.TelemetryService at the
// version go.mod pins (github.com/livekit/livekit-server v1.13.11). A livekit-server
// release that changes the interface fails this build.
var _ telemetry.TelemetryService = (*Client)(nil)

// The StatsKey's unexported fields are read in place only while livekit-server's layout is
// the mirror's; at the pinned version it is, and both ways of reading agree.
func TestStatsKeyIsReadAsLiveKitBuiltIt(t *testing.T) {
	if !keyLayoutMatches {
		t.Fatal("livekit-server's StatsKey layout differs from statsKey: update statskey.go")
	}
	key := telemetry.StatsKeyForTrack("NL", livekit.StreamType_DOWNSTREAM, "PA_1", "TR_1", livekit.TrackSource_SCREEN_SHARE, livekit.TrackType_VIDEO)
	want := statsKey{country: "NL", streamType: livekit.StreamType_DOWNSTREAM, participantID: "PA_1", trackID: "TR_1", trackSource: livekit.TrackSource_SCREEN_SHARE, trackType: livekit.TrackType_VIDEO, track: true}
	if got := readStatsKey(&key); got != want {
		t.Fatalf("in place: %+v, want %+v", got, want)
	}
	keyLayoutMatches = false
	defer func() { keyLayoutMatches = true }()
	if got := readStatsKey(&key); got != want {
		t.Fatalf("by reflection: %+v, want %+v", got, want)
	}
	data := telemetry.StatsKeyForData("", livekit.StreamType_UPSTREAM, "PA_2", "TR_2")
	if got := readStatsKey(&data); got.track || got.participantID != "PA_2" || got.trackID != "TR_2" {
		t.Fatalf("a data key: %+v", got)
	}
}

// A guard is its pointer: the same guard always has the same id until its release, two
// guards never share one, and a released guard's id is forgotten.
func TestGuardIDsFollowThePointer(t *testing.T) {
	g := newGuardIDs("s")
	a, b := &telemetry.ReferenceGuard{}, &telemetry.ReferenceGuard{}
	idA := g.id(a)
	if g.id(a) != idA || g.id(b) == idA || g.id(nil) != "" || g.release(nil) != "" {
		t.Fatalf("ids: a %q, a %q, b %q", idA, g.id(a), g.id(b))
	}
	if g.release(a) != idA || g.len() != 1 {
		t.Fatalf("release of a: %d ids kept", g.len())
	}
	if g.release(b) == idA || g.len() != 0 {
		t.Fatalf("release of b: %d ids kept", g.len())
	}
}

// Past the limit a stat is dropped; a lifecycle event takes the place of the oldest
// waiting stat, and goes past the limit only when no stat is left.
func TestFullQueueDropsStatsFirst(t *testing.T) {
	q := newBatchQueue(3)
	lifecycle, stat := event{body: []byte("L")}, event{body: []byte("S"), stat: true}
	for _, e := range []event{stat, lifecycle, stat} {
		if r := q.add(e); r != added {
			t.Fatalf("under the limit: %v", r)
		}
	}
	if r := q.add(stat); r != droppedOne {
		t.Fatalf("a stat past the limit: %v", r)
	}
	steps := []addResult{droppedOne, droppedOne, addedOverLimit}
	for i, want := range steps {
		if r := q.add(lifecycle); r != want {
			t.Fatalf("lifecycle #%d past the limit: %v, want %v", i, r, want)
		}
	}
	bodies, through := q.take(10)
	var got string
	for _, b := range bodies {
		got += string(b)
	}
	if got != "LLLL" || through != 6 {
		t.Fatalf("took %q through %d, want LLLL through 6", got, through)
	}
	q.close()
	if r := q.add(lifecycle); r != refusedClosed {
		t.Fatalf("after close: %v", r)
	}
}

// A StatsKey the fleet would refuse is refused alone, before it is sent, naming the field.
func TestStatsKeyFieldsAreChecked(t *testing.T) {
	var got []error
	c, err := New(Options{URLs: []string{"http://127.0.0.1:1"}, NodeID: "sfu-key", APIKey: "k", APISecret: "s", HeartbeatInterval: -1,
		OnRefused: func(err error) { got = append(got, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	c.TrackStats("RM_1", "", telemetry.StatsKeyForData("", livekit.StreamType_UPSTREAM, "", "TR_1"), &livekit.AnalyticsStat{})
	c.TrackStats("RM_1", "", telemetry.StatsKeyForData("", livekit.StreamType_UPSTREAM, "PA_1", "TR\n1"), &livekit.AnalyticsStat{})
	c.TrackStats("RM|1", "", telemetry.StatsKeyForData("", livekit.StreamType_UPSTREAM, "PA_1", "TR_1"), &livekit.AnalyticsStat{})
	want := []string{"key.participantId: must be a non-empty string", "key.trackId: must be at most 256 bytes, without a newline", "roomId: must not contain '|'"}
	if len(got) != len(want) {
		t.Fatalf("refused %v, want %v", got, want)
	}
	for i, err := range got {
		if r := err.(*RefusedError); r.Message != want[i] || r.Method != "trackStats" {
			t.Fatalf("refusal %d: %+v, want %q", i, r, want[i])
		}
	}
	if n := c.Counters(); n.Refused != 3 || n.Buffered != 0 {
		t.Fatalf("counters %+v", n)
	}
}
