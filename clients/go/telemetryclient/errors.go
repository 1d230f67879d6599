package telemetryclient

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// RefusedError is an event that was not applied and will not be: the fleet refused it
// (a 4xx, or a 500), it failed the client's own checks before it was sent, or its batch
// was given up after MaxAttempts. LiveKit's interface returns nothing, so it reaches the
// operator as a log line, Options.OnRefused and Counters.Refused / GivenUp.
type RefusedError struct {
	Method  string
	EventID string
	// Status is the HTTP status: 400 for a call the client refused before sending it (as
	// TelemetryClient does), 0 for a batch given up after MaxAttempts.
	Status int
	// Code is the fleet's error code (invalid_field, missing_field, unauthorized, ...).
	Code string
	// Message names the field at fault, as the fleet does: "events[3].stat.score: must be
	// a finite number", or "track: required by trackMuted" for a call refused locally.
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("telemetryclient: %s (event %s) refused: %d %s: %s", e.Method, e.EventID, e.Status, e.Code, e.Message)
}

// fieldProblem is a call's field the fleet would refuse, found before sending: refusing
// it alone keeps it from taking its whole batch down with a 400.
type fieldProblem struct {
	code, field, what string
}

func (p *fieldProblem) Error() string { return p.field + ": " + p.what }

func fieldError(field, what string) error {
	return &fieldProblem{code: "invalid_field", field: field, what: what}
}

func missingField(field, method string) error {
	return &fieldProblem{code: "missing_field", field: field, what: "required by " + method}
}

// The fleet's limits (lib/telemetry/methods.ts, validate.ts).
const (
	nameBytes     = 256
	metadataBytes = 512 * 1024
	errorBytes    = 4096
)

func checkID(v string) string {
	switch {
	case v == "":
		return "must be a non-empty string"
	case len(v) > nameBytes:
		return fmt.Sprintf("must be at most %d bytes", nameBytes)
	case strings.Contains(v, "|"):
		return "must not contain '|'"
	case strings.Contains(v, "\n"):
		return "must not contain a newline"
	}
	return ""
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
