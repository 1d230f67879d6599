package telemetryclient

import (
	"reflect"
	"unsafe"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/livekit"
)

// statsKey is what the fleet takes for LiveKit's StatsKey (lib/telemetry/methods.ts).
type statsKey struct {
	country       string
	streamType    livekit.StreamType
	participantID livekit.ParticipantID
	trackID       livekit.TrackID
	trackSource   livekit.TrackSource
	trackType     livekit.TrackType
	track         bool
}

// livekit-server's StatsKey keeps its fields unexported (built by StatsKeyForTrack /
// StatsKeyForData, read only by its own telemetry service), yet the fleet needs them.
// statsKey mirrors its layout; keyLayoutMatches checks, once, that the pinned or any
// later livekit-server still has exactly that layout, so the key can be read in place
// without allocating (TrackStats is the hot path). If a release changes the layout,
// the fields are read one by one by reflection instead, by name.
var keyLayoutMatches = sameLayout(reflect.TypeFor[telemetry.StatsKey](), reflect.TypeFor[statsKey]())

func sameLayout(a, b reflect.Type) bool {
	if a.Size() != b.Size() || a.NumField() != b.NumField() {
		return false
	}
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Type != fb.Type || fa.Offset != fb.Offset {
			return false
		}
	}
	return true
}

func readStatsKey(k *telemetry.StatsKey) statsKey {
	if keyLayoutMatches {
		return *(*statsKey)(unsafe.Pointer(k))
	}
	v := reflect.ValueOf(k).Elem()
	str := func(name string) string {
		if f := v.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
			return f.String()
		}
		return ""
	}
	num := func(name string) int32 {
		if f := v.FieldByName(name); f.IsValid() && f.CanInt() {
			return int32(f.Int())
		}
		return 0
	}
	track := false
	if f := v.FieldByName("track"); f.IsValid() && f.Kind() == reflect.Bool {
		track = f.Bool()
	}
	return statsKey{
		country:       str("country"),
		streamType:    k.StreamType(),
		participantID: livekit.ParticipantID(str("participantID")),
		trackID:       livekit.TrackID(str("trackID")),
		trackSource:   livekit.TrackSource(num("trackSource")),
		trackType:     livekit.TrackType(num("trackType")),
		track:         track,
	}
}
