package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/weirflow/weir/internal/rpcpb"
)

// FormatVersion is the version of the checkpoint layout and _metadata.
const FormatVersion = 1

// MetadataFile is written last into a checkpoint's directory: a checkpoint
// without it is incomplete and never restored.
const MetadataFile = "_metadata"

// ErrNotFound means a path holds no complete checkpoint or savepoint.
var ErrNotFound = errors.New("checkpoint: no complete checkpoint or savepoint")

// State is one operator's part of a checkpoint, as kept in _metadata
// (the JSON form of rpcpb.OperatorState; files are relative to the
// checkpoint's directory).
type State struct {
	Node            string `json:"node"`
	Subtask         int    `json:"subtask"`
	Parallelism     int    `json:"parallelism"`
	KeyedState      string `json:"keyedState,omitempty"`
	SourcePosition  []byte `json:"sourcePosition,omitempty"`
	SinkTransaction []byte `json:"sinkTransaction,omitempty"`
	Size            int64  `json:"size"`
	// Watermark is the task's event-time watermark (ms), if it had one.
	Watermark *int64 `json:"watermark,omitempty"`
}

// Metadata describes a complete checkpoint or savepoint.
type Metadata struct {
	Version        int     `json:"version"`
	Job            string  `json:"job"`
	JobName        string  `json:"jobName"`
	Checkpoint     int64   `json:"checkpoint"`
	Timestamp      int64   `json:"timestamp"` // trigger time, ms since the epoch
	Savepoint      bool    `json:"savepoint"`
	MaxParallelism int     `json:"maxParallelism"`
	States         []State `json:"states"`
}

// Size is the total state size.
func (m *Metadata) Size() int64 {
	var n int64
	for _, s := range m.States {
		n += s.Size
	}
	return n
}

// FromProto converts a task's acknowledged states.
func FromProto(ss []*rpcpb.OperatorState) []State {
	out := make([]State, 0, len(ss))
	for _, s := range ss {
		out = append(out, State{
			Node: s.GetNodeId(), Subtask: int(s.GetSubtask()), Parallelism: int(s.GetParallelism()),
			KeyedState: s.GetKeyedState(), SourcePosition: s.GetSourcePosition(),
			SinkTransaction: s.GetSinkTransaction(), Size: s.GetSizeBytes(),
			Watermark: s.Watermark,
		})
	}
	return out
}

// ToProto converts states for a task's RestoreState.
func ToProto(ss []State) []*rpcpb.OperatorState {
	out := make([]*rpcpb.OperatorState, 0, len(ss))
	for _, s := range ss {
		out = append(out, &rpcpb.OperatorState{
			NodeId: s.Node, Subtask: int32(s.Subtask), Parallelism: int32(s.Parallelism),
			KeyedState: s.KeyedState, SourcePosition: s.SourcePosition,
			SinkTransaction: s.SinkTransaction, SizeBytes: s.Size,
			Watermark: s.Watermark,
		})
	}
	return out
}

// WriteMetadata writes dir/_metadata durably (a temporary file, fsync,
// rename, fsync of the directory): once it exists the checkpoint is complete.
func WriteMetadata(dir string, md *Metadata) error {
	md.Version = FormatVersion
	data, err := json.MarshalIndent(md, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := filepath.Join(dir, "."+MetadataFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, MetadataFile)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadMetadata reads a checkpoint or savepoint: path is its directory or its
// _metadata file. It returns the metadata and the directory.
func ReadMetadata(path string) (*Metadata, string, error) {
	dir := path
	if filepath.Base(path) == MetadataFile {
		dir = filepath.Dir(path)
	}
	data, err := os.ReadFile(filepath.Join(dir, MetadataFile))
	if err != nil {
		return nil, "", fmt.Errorf("%w at %s: %w", ErrNotFound, path, err)
	}
	var md Metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, "", fmt.Errorf("checkpoint: %s/%s: %w", dir, MetadataFile, err)
	}
	if md.Version != FormatVersion {
		return nil, "", fmt.Errorf("checkpoint: %s has format version %d; this Weir reads %d", dir, md.Version, FormatVersion)
	}
	for _, s := range md.States {
		if s.KeyedState != "" && (filepath.IsAbs(s.KeyedState) || strings.Contains(s.KeyedState, "..")) {
			return nil, "", fmt.Errorf("checkpoint: %s names a state file outside it: %q", dir, s.KeyedState)
		}
	}
	return &md, dir, nil
}

// CopyDir copies a completed checkpoint's files into a new directory (a
// savepoint), _metadata last.
func CopyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	copyFile := func(name string) error {
		in, err := os.Open(filepath.Join(src, name))
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, name))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == MetadataFile || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := copyFile(e.Name()); err != nil {
			return fmt.Errorf("checkpoint: copying %s: %w", e.Name(), err)
		}
	}
	if err := copyFile(MetadataFile); err != nil {
		return fmt.Errorf("checkpoint: copying %s: %w", MetadataFile, err)
	}
	return nil
}
