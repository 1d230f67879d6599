package telemetryclient_test

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/livekit"

	"telemetry-coordinator/clients/go/internal/fleet"
	"telemetry-coordinator/clients/go/telemetryclient"
)

var bg = context.Background()

// The seed's scenario (livekit#2982): a participant active on SFU A resumes through SFU B,
// and A's old connections close before or after B's signal connection joined. Two SFU
// clients, one session: exactly one participant_joined and one participant_left.
func TestResumeAcrossTwoSFUClients(t *testing.T) {
	for _, order := range []string{"after", "before"} {
		t.Run("A's old connections leave "+order+" B joined", func(t *testing.T) {
			a := newClient(t, "sfu-resume-a-"+order, nil)
			b := newClient(t, "sfu-resume-b-"+order, nil)
			room := &livekit.Room{Sid: "RM_resume_" + order, Name: "room-resume-" + order}
			alice := &livekit.ParticipantInfo{Sid: "PA_resume_" + order, Identity: "alice-" + order}
			sigA, mediaA, sigB := &telemetry.ReferenceGuard{}, &telemetry.ReferenceGuard{}, &telemetry.ReferenceGuard{}

			a.RoomStarted(bg, room)
			a.ParticipantJoined(bg, room, alice, nil, nil, true, sigA)
			a.ParticipantActive(bg, room, alice, nil, false, false, mediaA)
			flush(t, a)
			oldLeaves := func() {
				// the old signal and media connections close: not the participant's leave
				a.ParticipantLeft(bg, room, alice, false, sigA)
				a.ParticipantLeft(bg, room, alice, false, mediaA)
				flush(t, a)
			}
			resumeOnB := func() {
				b.ParticipantJoined(bg, room, alice, nil, nil, false, sigB)
				b.ParticipantResumed(bg, room, alice, livekit.NodeID(b.NodeID()), livekit.ReconnectReason_RR_SIGNAL_DISCONNECTED)
				flush(t, b)
			}
			if order == "after" {
				resumeOnB()
				oldLeaves()
			} else {
				oldLeaves()
				resumeOnB()
			}
			b.ParticipantLeft(bg, room, alice, true, sigB)
			// a second leave report of the same session raises nothing more
			b.ParticipantLeft(bg, room, alice, true, nil)
			b.RoomEnded(bg, room, livekit.RoomEndReason_ROOM_END_UNKNOWN)
			flush(t, b)

			// a room's webhooks arrive in order: once room_finished is in, nothing of it is missing
			waitForWebhook(t, room.Name, "room_finished", 30*time.Second)
			names := coord.Receiver.Names(room.Name)
			if count(names, "participant_joined") != 1 || count(names, "participant_left") != 1 {
				t.Fatalf("want one participant_joined and one participant_left, got %v", names)
			}
			if want := []string{"room_started", "participant_joined", "participant_left", "room_finished"}; !slices.Equal(names, want) {
				t.Fatalf("webhooks %v, want %v", names, want)
			}
		})
	}
}

// An SFU client closed without Depart stops its heartbeats; the fleet releases its
// connections when the lease lapses: one participant_left.
func TestClosedWithoutDepartLeaseLapses(t *testing.T) {
	sfu := newClient(t, "sfu-lapse", func(o *telemetryclient.Options) { o.HeartbeatInterval = 300 * time.Millisecond })
	room := &livekit.Room{Sid: "RM_lapse", Name: "room-lapse"}
	bob := &livekit.ParticipantInfo{Sid: "PA_lapse", Identity: "bob"}
	sig, media := &telemetry.ReferenceGuard{}, &telemetry.ReferenceGuard{}
	sfu.RoomStarted(bg, room)
	sfu.ParticipantJoined(bg, room, bob, nil, nil, true, sig)
	sfu.ParticipantActive(bg, room, bob, nil, false, false, media)
	flush(t, sfu)
	waitForWebhook(t, room.Name, "participant_joined", 30*time.Second)
	// heartbeats hold the lease past twice NODE_LEASE (2 s): no leave yet
	seen := func() float64 {
		v, err := coord.Redis.Do("ZSCORE", "tc:{nodes}:seen", "sfu-lapse")
		if err != nil || v == nil {
			return 0
		}
		var f float64
		_, _ = fmtSscan(v.(string), &f)
		return f
	}
	first := seen()
	if err := untilTrue(20*time.Second, func() bool { return seen() > first+4000 }); err != nil {
		t.Fatalf("heartbeats renewing the lease past 2 x NODE_LEASE: %v", err)
	}
	if n := count(coord.Receiver.Names(room.Name), "participant_left"); n != 0 {
		t.Fatalf("participant_left while the lease was held by heartbeats")
	}
	if err := sfu.Close(bg); err != nil {
		t.Fatal(err)
	}
	waitForWebhook(t, room.Name, "participant_left", 30*time.Second)

	other := newClient(t, "sfu-lapse-other", nil)
	other.RoomEnded(bg, room, livekit.RoomEndReason_ROOM_END_UNKNOWN)
	flush(t, other)
	waitForWebhook(t, room.Name, "room_finished", 30*time.Second)
	if n := count(coord.Receiver.Names(room.Name), "participant_left"); n != 1 {
		t.Fatalf("%d participant_left, want 1: %v", n, coord.Receiver.Names(room.Name))
	}
}

// Depart releases the SFU node's connections at once, without waiting for the lease.
func TestDepartReleasesConnections(t *testing.T) {
	sfu := newClient(t, "sfu-depart", nil)
	room := &livekit.Room{Sid: "RM_depart", Name: "room-depart"}
	carol := &livekit.ParticipantInfo{Sid: "PA_depart", Identity: "carol"}
	sfu.RoomStarted(bg, room)
	sfu.ParticipantActive(bg, room, carol, nil, false, false, &telemetry.ReferenceGuard{})
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := sfu.Depart(ctx); err != nil {
		t.Fatal(err)
	}
	waitForWebhook(t, room.Name, "participant_left", 30*time.Second)
	if got := sfu.Counters(); got.Applied != 2 || got.Calls != 2 {
		t.Fatalf("counters %+v, want 2 calls applied", got)
	}
}

// Calls made together go in batches, one in flight at a time, and are applied in the
// order made: tracks in the analytics stream, egress webhooks of a room.
func TestTrackAndEgressOrder(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	sfu := newClient(t, "sfu-order", func(o *telemetryclient.Options) {
		o.MaxBatch = 250
		o.OnRequest = func(r telemetryclient.RequestReport) {
			mu.Lock()
			defer mu.Unlock()
			if r.Status != 200 {
				t.Errorf("request answered %d", r.Status)
			}
			batches = append(batches, r.Events)
		}
	})
	room := &livekit.Room{Sid: "RM_order", Name: "room-order"}
	const pid = livekit.ParticipantID("PA_o")
	calls := []func(*livekit.TrackInfo){
		func(tr *livekit.TrackInfo) { sfu.TrackMuted(bg, room, pid, tr) },
		func(tr *livekit.TrackInfo) { sfu.TrackPublished(bg, room, pid, "o", tr, true) },
		func(tr *livekit.TrackInfo) { sfu.TrackUnmuted(bg, room, pid, tr) },
		func(tr *livekit.TrackInfo) { sfu.TrackSubscribed(bg, room, pid, tr, nil, true) },
		func(tr *livekit.TrackInfo) { sfu.TrackUnpublished(bg, room, pid, "o", tr, true, true) },
	}
	var want []string
	for i := range 1000 {
		sid := "TR_" + itoa(i)
		calls[(i*7+(i>>3))%len(calls)](&livekit.TrackInfo{Sid: sid})
		want = append(want, sid)
	}
	eg := &livekit.Room{Sid: "RM_egress", Name: "room-egress"}
	sfu.RoomStarted(bg, eg)
	for _, id := range []string{"EG_1", "EG_2"} {
		info := &livekit.EgressInfo{EgressId: id, RoomId: eg.Sid, RoomName: eg.Name, Status: livekit.EgressStatus_EGRESS_STARTING}
		sfu.EgressStarted(bg, info)
		info.Status = livekit.EgressStatus_EGRESS_ACTIVE
		sfu.EgressUpdated(bg, info)
		info.Status = livekit.EgressStatus_EGRESS_COMPLETE
		sfu.EgressEnded(bg, info)
	}
	sfu.RoomEnded(bg, eg, livekit.RoomEndReason_ROOM_END_UNKNOWN)
	flush(t, sfu)

	evs, err := coord.Analytics(room.Sid)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.TrackId)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tracks in the analytics stream out of call order (%d of %d)", len(got), len(want))
	}
	mu.Lock()
	n := len(batches)
	mu.Unlock()
	// 1,014 events, at most 250 a batch: one request in flight, the next filled meanwhile
	// (the first batches may be small while the calls are still being made)
	if n < 5 || n > 50 {
		t.Fatalf("%d requests for 1,014 events in batches of up to 250", n)
	}
	wantTypes := []string{"ROOM_CREATED", "EGRESS_STARTED", "EGRESS_UPDATED", "EGRESS_ENDED", "EGRESS_STARTED", "EGRESS_UPDATED", "EGRESS_ENDED", "ROOM_ENDED"}
	if got := analyticsTypes(t, eg.Sid); !slices.Equal(got, wantTypes) {
		t.Fatalf("egress analytics %v, want %v", got, wantTypes)
	}
	// webhooks of one egress come in order (LiveKit's EventKey: egress:<id>); room_finished
	// comes after the room's own events
	err = fleet.Until(30*time.Second, "6 egress webhooks and room_finished", func() bool {
		return len(coord.Receiver.Room(eg.Name)) == 8
	})
	if err != nil {
		t.Fatalf("%v: %v", err, coord.Receiver.Names(eg.Name))
	}
	byEgress := map[string][]string{}
	var roomLane []string
	for _, ev := range coord.Receiver.Room(eg.Name) {
		if ev.EgressInfo != nil {
			byEgress[ev.EgressInfo.EgressId] = append(byEgress[ev.EgressInfo.EgressId], ev.Event)
		} else {
			roomLane = append(roomLane, ev.Event)
		}
	}
	for _, id := range []string{"EG_1", "EG_2"} {
		if want := []string{"egress_started", "egress_updated", "egress_ended"}; !slices.Equal(byEgress[id], want) {
			t.Fatalf("webhooks of %s: %v, want %v", id, byEgress[id], want)
		}
	}
	if want := []string{"room_started", "room_finished"}; !slices.Equal(roomLane, want) {
		t.Fatalf("room webhooks %v, want %v", roomLane, want)
	}
}

// A proxy in front of node 0 forwards the first batch, lets the node apply it, and cuts
// the connection before the answer: the client retries on node 1, and the event ids
// make the retry a no-op. Applied once: one analytics event, one webhook.
func TestCutAnswerRetriedOnOtherNodeAppliedOnce(t *testing.T) {
	target, _ := url.Parse(coord.Nodes[0].URL())
	var cut atomic.Int32
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ModifyResponse: func(res *http.Response) error {
			if cut.Add(1) == 1 {
				_, _ = ioReadAll(res.Body) // the node answered: the batch is applied
				return errCut
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			conn, _, herr := http.NewResponseController(w).Hijack()
			if herr == nil {
				_ = conn.Close()
			}
		},
	}
	front := serve(t, proxy)

	var mu sync.Mutex
	var statuses []int
	sfu := newClient(t, "sfu-cut", func(o *telemetryclient.Options) {
		o.URLs = []string{front, coord.Nodes[1].URL()}
		o.OnRequest = func(r telemetryclient.RequestReport) { mu.Lock(); statuses = append(statuses, r.Status); mu.Unlock() }
	})
	room := &livekit.Room{Sid: "RM_cut", Name: "room-cut"}
	sfu.RoomStarted(bg, room)
	flush(t, sfu)
	mu.Lock()
	got := slices.Clone(statuses)
	mu.Unlock()
	if !slices.Equal(got, []int{0, 200}) {
		t.Fatalf("requests answered %v, want a network error then 200", got)
	}
	if cut.Load() != 1 {
		t.Fatalf("the proxy cut %d answers", cut.Load())
	}
	if types := analyticsTypes(t, room.Sid); !slices.Equal(types, []string{"ROOM_CREATED"}) {
		t.Fatalf("analytics %v, want one ROOM_CREATED", types)
	}
	sfu.RoomEnded(bg, room, livekit.RoomEndReason_ROOM_END_UNKNOWN)
	flush(t, sfu)
	waitForWebhook(t, room.Name, "room_finished", 30*time.Second)
	if names := coord.Receiver.Names(room.Name); !slices.Equal(names, []string{"room_started", "room_finished"}) {
		t.Fatalf("webhooks %v, want room_started once then room_finished", names)
	}
}

var errCut = errors.New("answer cut by the test's proxy")

// An event the fleet refuses (a stat whose score is not a number) is refused alone: the
// error names the method and the field, it is logged and counted, and the calls around
// it land. A call missing a required message is refused before it is sent.
func TestRefusedEventNamesTheField(t *testing.T) {
	var mu sync.Mutex
	var refused []*telemetryclient.RefusedError
	sfu := newClient(t, "sfu-refused", func(o *telemetryclient.Options) {
		o.OnRefused = func(err error) {
			var r *telemetryclient.RefusedError
			if !errors.As(err, &r) {
				t.Errorf("OnRefused got %T", err)
			}
			mu.Lock()
			refused = append(refused, r)
			mu.Unlock()
		}
	})
	room := &livekit.Room{Sid: "RM_refused", Name: "room-refused"}
	key := telemetry.StatsKeyForTrack("", livekit.StreamType_UPSTREAM, "PA_r", "TR_r", livekit.TrackSource_CAMERA, livekit.TrackType_VIDEO)
	sfu.RoomStarted(bg, room)
	sfu.TrackStats(livekit.RoomID(room.Sid), livekit.RoomName(room.Name), key, &livekit.AnalyticsStat{RoomId: room.Sid, ParticipantId: "PA_r", TrackId: "TR_r", Score: float32(math.NaN())})
	sfu.TrackMuted(bg, room, "PA_r", nil)
	sfu.RoomEnded(bg, room, livekit.RoomEndReason_ROOM_END_UNKNOWN)
	flush(t, sfu)

	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 2 {
		t.Fatalf("%d events refused, want 2: %v", len(refused), refused)
	}
	// refused before sending: the first to be reported
	local, fleetSide := refused[0], refused[1]
	if local.Method != "trackMuted" || local.Status != 400 || local.Code != "missing_field" || local.Message != "track: required by trackMuted" {
		t.Fatalf("the call refused locally: %+v", local)
	}
	if fleetSide.Method != "trackStats" || fleetSide.Status != 400 || fleetSide.Code != "invalid_field" || !regexp.MustCompile(`^events\[\d+\]\.stat: .*score`).MatchString(fleetSide.Message) {
		t.Fatalf("the event the fleet refused: %+v", fleetSide)
	}
	if !strings.Contains(fleetSide.Error(), "trackStats") || !strings.Contains(fleetSide.Error(), "score") {
		t.Fatalf("the error does not name the method and field: %v", fleetSide)
	}
	if types := analyticsTypes(t, room.Sid); !slices.Equal(types, []string{"ROOM_CREATED", "ROOM_ENDED"}) {
		t.Fatalf("analytics %v, want the calls around the refused ones applied", types)
	}
	if c := sfu.Counters(); c.Refused != 2 || c.Applied != 2 || c.Calls != 4 {
		t.Fatalf("counters %+v", c)
	}
}

// With the fleet unreachable, calls wait in the buffer; past MaxBuffered stats are
// dropped and counted, never a lifecycle event: once a coordinator answers, every
// lifecycle call lands, and every call is either applied or counted as dropped.
func TestFullBufferDropsStatsNeverLifecycle(t *testing.T) {
	var open atomic.Bool
	var refusals atomic.Int32
	target, _ := url.Parse(coord.Nodes[0].URL())
	fwd := httputil.NewSingleHostReverseProxy(target)
	gate := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			refusals.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fwd.ServeHTTP(w, r)
	}))

	sfu := newClient(t, "sfu-full", func(o *telemetryclient.Options) {
		o.URLs = []string{gate}
		o.MaxBuffered = 10
		o.MaxBackoff = 50 * time.Millisecond
	})
	room := &livekit.Room{Sid: "RM_full", Name: "room-full"}
	key := telemetry.StatsKeyForData("", livekit.StreamType_UPSTREAM, "PA_f", "TR_f")
	stat := func() {
		sfu.TrackStats(livekit.RoomID(room.Sid), livekit.RoomName(room.Name), key, &livekit.AnalyticsStat{RoomId: room.Sid, ParticipantId: "PA_f", TrackId: "TR_f", Score: 4})
	}
	sfu.RoomStarted(bg, room)
	// that batch is in flight, answered 503 over and over: what follows waits in the buffer
	if err := untilTrue(30*time.Second, func() bool { return refusals.Load() > 0 }); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		stat() // 10 wait, 40 dropped
	}
	for i := range 30 {
		// 10 take the place of the 10 waiting stats, 20 go past the limit
		sfu.TrackPublished(bg, room, "PA_f", "f", &livekit.TrackInfo{Sid: "TR_full_" + itoa(i)}, true)
	}
	for range 50 {
		stat() // all dropped: only lifecycle calls wait
	}
	if c := sfu.Counters(); c.Dropped != 100 || c.OverLimit != 20 || c.Buffered != 30 {
		t.Fatalf("with the fleet down: %+v; want 100 stats dropped and the 30 lifecycle calls held", c)
	}
	open.Store(true)
	flush(t, sfu)
	c := sfu.Counters()
	if c.Applied+c.Dropped != c.Calls || c.Refused+c.GivenUp+c.Abandoned != 0 {
		t.Fatalf("counters %+v: every call applied or dropped", c)
	}
	published := 0
	for _, typ := range analyticsTypes(t, room.Sid) {
		if typ == "TRACK_PUBLISHED" {
			published++
		}
	}
	if published != 30 {
		t.Fatalf("%d of 30 track_published applied", published)
	}
}

// A batch refused as a whole (a wrong API secret: 401) is counted and reported per event,
// not retried; a batch no coordinator answers is given up after MaxAttempts, if set.
func TestBatchRefusedOrGivenUp(t *testing.T) {
	var mu sync.Mutex
	var got []*telemetryclient.RefusedError
	collect := func(o *telemetryclient.Options) {
		o.OnRefused = func(err error) { mu.Lock(); got = append(got, err.(*telemetryclient.RefusedError)); mu.Unlock() }
	}
	wrong := newClient(t, "sfu-wrong-secret", func(o *telemetryclient.Options) { collect(o); o.APISecret = "not-the-secret-at-all-not-at-all" })
	wrong.RoomStarted(bg, &livekit.Room{Sid: "RM_401", Name: "room-401"})
	wrong.RoomEnded(bg, &livekit.Room{Sid: "RM_401", Name: "room-401"}, livekit.RoomEndReason_ROOM_END_UNKNOWN)
	flush(t, wrong)
	if c := wrong.Counters(); c.Refused != 2 || c.Applied != 0 || c.Retries != 0 {
		t.Fatalf("counters with a wrong secret: %+v", c)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	gone := newClient(t, "sfu-no-fleet", func(o *telemetryclient.Options) {
		collect(o)
		o.URLs, o.MaxAttempts, o.BaseBackoff, o.MaxBackoff = []string{dead}, 3, time.Millisecond, 5*time.Millisecond
	})
	gone.RoomStarted(bg, &livekit.Room{Sid: "RM_gone", Name: "room-gone"})
	flush(t, gone)
	if c := gone.Counters(); c.GivenUp != 1 || c.Requests != 3 || c.Retries != 3 {
		t.Fatalf("counters with no coordinator: %+v", c)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0].Status != 401 || got[0].Code != "unauthorized" || got[2].Code != "gave_up" || got[2].Method != "roomStarted" {
		for _, e := range got {
			t.Log(e)
		}
		t.Fatalf("%d refusals", len(got))
	}
}
