package telemetryclient_test

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"telemetry-coordinator/clients/go/internal/fleet"
)

func itoa(i int) string                              { return strconv.Itoa(i) }
func ioReadAll(r io.Reader) ([]byte, error)          { return io.ReadAll(r) }
func fmtSscan(s string, v any) (int, error)          { return fmt.Sscan(s, v) }
func untilTrue(d time.Duration, f func() bool) error { return fleet.Until(d, "condition", f) }
