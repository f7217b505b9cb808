package weir

import "fmt"

// Level is the severity of a log line (SPEC §6).
type Level int32

// Log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// String returns "debug", "info", "warn" or "error".
func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return fmt.Sprintf("Level(%d)", int32(l))
}

// Log writes msg to the host's structured log at the given level (the
// weir.log import). Log lines count against the call's output budget. Outside
// wasm it writes to standard error.
func Log(level Level, msg string) { hostLog(level, msg) }

// Logf formats its arguments like fmt.Sprintf and logs the result.
func Logf(level Level, format string, args ...any) {
	hostLog(level, fmt.Sprintf(format, args...))
}

// Debugf logs at debug level, formatting like fmt.Sprintf.
func Debugf(format string, args ...any) { Logf(LevelDebug, format, args...) }

// Infof logs at info level, formatting like fmt.Sprintf.
func Infof(format string, args ...any) { Logf(LevelInfo, format, args...) }

// Warnf logs at warn level, formatting like fmt.Sprintf.
func Warnf(format string, args ...any) { Logf(LevelWarn, format, args...) }
