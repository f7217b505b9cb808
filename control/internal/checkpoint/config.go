// Package checkpoint is the JobMaster's CheckpointCoordinator (design.md
// §6): it triggers checkpoints at the sources, collects the tasks'
// acknowledgements, completes a checkpoint by writing its _metadata last and
// committing a pointer to it, keeps the last few, and counts failures
// against the tolerable limit. It also reads checkpoints and savepoints back
// for a restore.
package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrConfig is wrapped by errors about checkpoint configuration keys.
var ErrConfig = errors.New("checkpoint: bad configuration")

// Configuration keys, as in a plan's config, a run request's config map or
// `weir run -D`. Flink's execution.checkpointing.* names are accepted too.
const (
	KeyInterval  = "checkpoint.interval"
	KeyTimeout   = "checkpoint.timeout"
	KeyMinPause  = "checkpoint.min-pause"
	KeyTolerable = "checkpoint.tolerable-failures"
	KeyRetained  = "checkpoint.retained"
)

var flinkAliases = map[string]string{
	"execution.checkpointing.interval":                     KeyInterval,
	"execution.checkpointing.timeout":                      KeyTimeout,
	"execution.checkpointing.min-pause":                    KeyMinPause,
	"execution.checkpointing.tolerable-failed-checkpoints": KeyTolerable,
	"state.checkpoints.num-retained":                       KeyRetained,
}

// Config is when and how to checkpoint.
type Config struct {
	// Interval between checkpoint triggers; 0 turns checkpoints off.
	Interval time.Duration
	// Timeout aborts a checkpoint that is not complete by then (default 10 min).
	Timeout time.Duration
	// MinPause is the least time between the end of one checkpoint and the
	// trigger of the next.
	MinPause time.Duration
	// Tolerable is how many checkpoints in a row may fail before the job
	// fails (default 0).
	Tolerable int
	// Retained is how many completed checkpoints are kept (default 3).
	Retained int
}

// Enabled reports whether checkpoints are taken.
func (c Config) Enabled() bool { return c.Interval > 0 }

// ParseConfig reads the checkpoint keys of conf over base (the cluster's
// defaults).
func ParseConfig(conf map[string]string, base Config) (Config, error) {
	c := base
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Retained <= 0 {
		c.Retained = 3
	}
	get := func(key string) (string, bool) {
		if v, ok := conf[key]; ok {
			return v, true
		}
		for alias, k := range flinkAliases {
			if k == key {
				if v, ok := conf[alias]; ok {
					return v, true
				}
			}
		}
		return "", false
	}
	dur := func(key string, dst *time.Duration, min time.Duration) error {
		v, ok := get(key)
		if !ok {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min {
			return fmt.Errorf("%w: %s=%q: want a duration of at least %s like 500ms or 10s", ErrConfig, key, v, min)
		}
		*dst = d
		return nil
	}
	count := func(key string, dst *int, min int) error {
		v, ok := get(key)
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return fmt.Errorf("%w: %s=%q: want an integer of at least %d", ErrConfig, key, v, min)
		}
		*dst = n
		return nil
	}
	if err := errors.Join(
		dur(KeyInterval, &c.Interval, 0),
		dur(KeyTimeout, &c.Timeout, time.Millisecond),
		dur(KeyMinPause, &c.MinPause, 0),
		count(KeyTolerable, &c.Tolerable, 0),
		count(KeyRetained, &c.Retained, 1),
	); err != nil {
		return Config{}, err
	}
	if c.Interval > 0 && c.Interval < 10*time.Millisecond {
		return Config{}, fmt.Errorf("%w: %s=%s is below 10ms", ErrConfig, KeyInterval, c.Interval)
	}
	return c, nil
}
