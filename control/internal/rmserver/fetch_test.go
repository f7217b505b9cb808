package rmserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/rpcpb"
)

// failingStore fails every read, as a broken disk would.
type failingStore struct{}

func (failingStore) Bytes(string) ([]byte, error) { return nil, errors.New("disk on fire") }

// mapStore holds modules by id, with the errors of artifact.Store.
type mapStore map[string][]byte

func (m mapStore) Bytes(id string) ([]byte, error) {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%w: %q (want 64 lower-case hex digits)", artifact.ErrBadID, id)
	}
	b, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", artifact.ErrNotFound, id)
	}
	return b, nil
}

func idOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestFetchArtifact streams modules to a registered TaskManager over gRPC
// and refuses what it must, with the status codes TaskManagers tell apart.
func TestFetchArtifact(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*ChunkSize+ChunkSize/2)/16) // 2.5 chunks
	bigID, smallID, emptyID := idOf(big), idOf([]byte("tiny")), idOf(nil)
	store := mapStore{bigID: big, smallID: []byte("tiny"), emptyID: {}}
	rm := New(Config{Artifacts: store})
	_, addr := serve(t, "127.0.0.1:0", rm)
	if _, err := rm.RegisterTaskManager(context.Background(), &rpcpb.RegisterTaskManagerRequest{TaskManagerId: "tm-1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := rpcpb.NewResourceManagerClient(conn)

	// fetch returns the chunks' data, the size of the first and the number
	// of chunks.
	fetch := func(c rpcpb.ResourceManagerClient, tm, id string) ([]byte, int64, int, error) {
		stream, err := c.FetchArtifact(context.Background(), &rpcpb.FetchArtifactRequest{Sha256: id, TaskManagerId: tm})
		if err != nil {
			return nil, 0, 0, err
		}
		var data []byte
		var size int64
		n := 0
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return data, size, n, nil
			}
			if err != nil {
				return nil, 0, 0, err
			}
			if len(chunk.GetData()) > ChunkSize {
				t.Errorf("chunk of %d bytes", len(chunk.GetData()))
			}
			if n == 0 {
				size = chunk.GetSize()
			}
			n++
			data = append(data, chunk.GetData()...)
		}
	}
	for _, tc := range []struct {
		name   string
		id     string
		want   []byte
		chunks int
	}{
		{"several chunks", bigID, big, 3},
		{"one chunk", smallID, []byte("tiny"), 1},
		{"empty", emptyID, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, size, n, err := fetch(client, "tm-1", tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, tc.want) || size != int64(len(tc.want)) || n != tc.chunks {
				t.Fatalf("got %d bytes (size %d) in %d chunks, want %d in %d", len(data), size, n, len(tc.want), tc.chunks)
			}
		})
	}

	broken := New(Config{Artifacts: failingStore{}})
	_, brokenAddr := serve(t, "127.0.0.1:0", broken)
	if _, err := broken.RegisterTaskManager(context.Background(), &rpcpb.RegisterTaskManagerRequest{TaskManagerId: "tm-1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	brokenConn, err := grpc.NewClient(brokenAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer brokenConn.Close()

	for _, tc := range []struct {
		name   string
		client rpcpb.ResourceManagerClient
		tm, id string
		code   codes.Code
		msg    string
	}{
		{"unknown id", client, "tm-1", strings.Repeat("0", 64), codes.NotFound, "no artifact"},
		{"malformed id", client, "tm-1", "../../etc/passwd", codes.InvalidArgument, "malformed artifact id"},
		{"upper-case id", client, "tm-1", strings.ToUpper(bigID), codes.InvalidArgument, "64 lower-case hex digits"},
		{"empty id", client, "tm-1", "", codes.InvalidArgument, "malformed artifact id"},
		{"unregistered TaskManager", client, "tm-2", bigID, codes.FailedPrecondition, `TaskManager "tm-2" is not registered`},
		{"no TaskManager id", client, "", bigID, codes.FailedPrecondition, "not registered"},
		{"store fails", rpcpb.NewResourceManagerClient(brokenConn), "tm-1", bigID, codes.Internal, "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := fetch(tc.client, tc.tm, tc.id)
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %s with %q", err, tc.code, tc.msg)
			}
		})
	}
}

// A registering TaskManager learns the file connectors' policy.
func TestRegisterSendsFileAccess(t *testing.T) {
	for _, tc := range []struct {
		files connector.FileAccess
		want  *rpcpb.FileAccess
	}{
		{connector.FileAccess{}, &rpcpb.FileAccess{}},
		{connector.FileAccess{Restricted: true}, &rpcpb.FileAccess{Restricted: true}},
		{connector.FileAccess{AllowDirs: []string{"/data/in", "/data/out"}}, &rpcpb.FileAccess{Restricted: true, AllowDirs: []string{"/data/in", "/data/out"}}},
	} {
		rm := New(Config{FileAccess: tc.files})
		resp, err := rm.RegisterTaskManager(context.Background(), &rpcpb.RegisterTaskManagerRequest{TaskManagerId: "tm-1", Slots: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetFileAccess()
		if got.GetRestricted() != tc.want.GetRestricted() || strings.Join(got.GetAllowDirs(), "|") != strings.Join(tc.want.GetAllowDirs(), "|") {
			t.Errorf("%+v: sent %v, want %v", tc.files, got, tc.want)
		}
	}
}
