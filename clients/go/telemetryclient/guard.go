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
// An id is forgotten when its guard is released (ParticipantLeft), as LiveKit's guard
// is done with then. The map holds guards weakly and a guard that is never released is
// forgotten when it is garbage collected; that may come late for a guard (2 bytes) that
// shares a tiny allocation block with live objects, hence the release. A new guard may
// get a freed guard's address, never its id (ids count up).
type guardIDs struct {
	mu     sync.Mutex
	ids    map[weak.Pointer[telemetry.ReferenceGuard]]guardID
	prefix string
	next   uint64
}

type guardID struct {
	id      string
	cleanup runtime.Cleanup
}

func newGuardIDs(session string) *guardIDs {
	return &guardIDs{ids: make(map[weak.Pointer[telemetry.ReferenceGuard]]guardID), prefix: "g" + session + "-"}
}

// id is "" for a nil guard: the call changes no reference (LiveKit's nil guard).
func (g *guardIDs) id(guard *telemetry.ReferenceGuard) string {
	if guard == nil {
		return ""
	}
	key := weak.Make(guard)
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.ids[key]; ok {
		return e.id
	}
	g.next++
	id := g.prefix + strconv.FormatUint(g.next, 36)
	g.ids[key] = guardID{id: id, cleanup: runtime.AddCleanup(guard, g.forget, key)}
	return id
}

// release is the guard's id for its ParticipantLeft, forgotten from then on.
func (g *guardIDs) release(guard *telemetry.ReferenceGuard) string {
	if guard == nil {
		return ""
	}
	key := weak.Make(guard)
	g.mu.Lock()
	e, ok := g.ids[key]
	delete(g.ids, key)
	if !ok {
		// released before it took a reference: LiveKit's Release does nothing then, and
		// an id nobody added releases nothing on the fleet
		g.next++
		e.id = g.prefix + strconv.FormatUint(g.next, 36)
	}
	g.mu.Unlock()
	if ok {
		e.cleanup.Stop()
	}
	return e.id
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
