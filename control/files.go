package control

import (
	"fmt"

	"google.golang.org/grpc"

	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/rpcpb"
)

// setFileAccess checks the file connectors' allow-list and settles the
// policy (AllowDirs absolute and clean; on when RestrictFiles or AllowDirs
// says so) in the plan reader's limits, where fileAccess reads it. The
// TaskManagers get the same policy when they register.
func (m *JobManager) setFileAccess() error {
	files, err := connector.FileAccess{Restricted: m.cfg.RestrictFiles, AllowDirs: m.cfg.AllowDirs}.Normalize()
	if err != nil {
		return fmt.Errorf("control: --allow-dir: %w", err)
	}
	m.cfg.Plan.Files = files
	if files.On() {
		m.log.Info("file connectors restricted", "policy", files.String())
	}
	return nil
}

// fileAccess is the file connectors' policy (see setFileAccess).
func (m *JobManager) fileAccess() connector.FileAccess { return m.cfg.Plan.Files }

// savepointAccess is where savepoints may be written and read: anywhere
// while file access is unrestricted, else the storage directory and the
// allowed directories (a savepoint's target directory and a job's
// savepointPath come from requests, like file connectors' paths).
func (m *JobManager) savepointAccess() connector.FileAccess {
	files := m.fileAccess()
	if !files.On() {
		return files
	}
	return connector.FileAccess{Restricted: true, AllowDirs: append([]string{m.cfg.StorageDir}, files.AllowDirs...)}
}

// FetchArtifact streams a module to a TaskManager; a standby has none to
// give (the TaskManager registers with the leader again).
func (s rmSwitch) FetchArtifact(req *rpcpb.FetchArtifactRequest, stream grpc.ServerStreamingServer[rpcpb.ArtifactChunk]) error {
	rm, err := s.server()
	if err != nil {
		return err
	}
	return rm.FetchArtifact(req, stream)
}
