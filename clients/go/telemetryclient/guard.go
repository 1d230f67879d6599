package telemetryclient

import (
	"runtime"
	"strconv"
	"sync"
	"weak"

	"github.com/livekit/livekit-server/pkg/telemetry"
)

// guardIDs gives each LiveKit ReferenceGuard an id on the wire. In livekit-server a guard
// is a pointer shared by the ParticipantJoined / ParticipantActive call that takes a
// reference and the ParticipantLeft that releases it, so its identity is the pointer.
// The fleet keys a worker's references by id, so the same pointer must always map to the
// same id, and two live guards never to one id.
//
// The map holds guards weakly: an id is forgotten when its guard is garbage collected,
// so a guard whose ParticipantLeft never comes does not pin memory. A new guard may later
// get the same address, never the same id (ids count up).
type guardIDs struct {
	mu     sync.Mutex
	ids    map[weak.Pointer[telemetry.ReferenceGuard]]string
	prefix string
	next   uint64
}

func newGuardIDs(session string) *guardIDs {
	return &guardIDs{ids: make(map[weak.Pointer[telemetry.ReferenceGuard]]string), prefix: "g" + session + "-"}
}

// id is "" for a nil guard: the call changes no reference (LiveKit's nil guard).
func (g *guardIDs) id(guard *telemetry.ReferenceGuard) string {
	if guard == nil {
		return ""
	}
	key := weak.Make(guard)
	g.mu.Lock()
	defer g.mu.Unlock()
	if id, ok := g.ids[key]; ok {
		return id
	}
	g.next++
	id := g.prefix + strconv.FormatUint(g.next, 36)
	g.ids[key] = id
	runtime.AddCleanup(guard, g.forget, key)
	return id
}

func (g *guardIDs) forget(key weak.Pointer[telemetry.ReferenceGuard]) {
	g.mu.Lock()
	delete(g.ids, key)
	g.mu.Unlock()
}

func (g *guardIDs) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ids)
}
