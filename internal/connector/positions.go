package connector

import (
	"encoding/json"
	"fmt"
)

// positionVersion is the version of every source position this package
// writes; RestorePositions refuses others.
const positionVersion = 1

// positionHeader starts every source position: which connector, which
// version of its layout, and which subtask of which parallelism wrote it.
type positionHeader struct {
	V           int    `json:"v"`
	Source      string `json:"source"`
	Parallelism int    `json:"parallelism"`
	Subtask     int    `json:"subtask"`
}

func newPositionHeader(source string, c Context) positionHeader {
	return positionHeader{V: positionVersion, Source: source, Parallelism: c.Parallelism, Subtask: c.Subtask}
}

// decodePositions decodes the positions of every subtask of an old run of
// source into T (a struct embedding positionHeader, reached through
// header), indexed by old subtask. It checks that all share one version
// and one parallelism P and that there is exactly one per subtask 0..P-1.
func decodePositions[T any](source string, all [][]byte, header func(*T) *positionHeader) ([]*T, error) {
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %s: no positions", ErrPosition, source)
	}
	out := make([]*T, len(all))
	var p int
	for i, b := range all {
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("%w: %s: position %d: %w", ErrPosition, source, i, err)
		}
		h := header(v)
		switch {
		case h.V != positionVersion:
			return nil, fmt.Errorf("%w: %s: position %d has version %d, want %d", ErrPosition, source, i, h.V, positionVersion)
		case h.Source != source:
			return nil, fmt.Errorf("%w: position %d is of source %q, not %q", ErrPosition, i, h.Source, source)
		case i == 0:
			p = h.Parallelism
			if p != len(all) {
				return nil, fmt.Errorf("%w: %s: %d positions of a run at parallelism %d (want one per subtask)", ErrPosition, source, len(all), p)
			}
		case h.Parallelism != p:
			return nil, fmt.Errorf("%w: %s: positions of runs at parallelism %d and %d", ErrPosition, source, p, h.Parallelism)
		}
		if h.Subtask < 0 || h.Subtask >= p {
			return nil, fmt.Errorf("%w: %s: position of subtask %d at parallelism %d", ErrPosition, source, h.Subtask, p)
		}
		if out[h.Subtask] != nil {
			return nil, fmt.Errorf("%w: %s: two positions of subtask %d", ErrPosition, source, h.Subtask)
		}
		out[h.Subtask] = v
	}
	return out, nil
}
